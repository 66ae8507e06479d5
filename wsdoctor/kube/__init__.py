"""Cluster access and cluster rules: kubeconfig loading, the read-only client, manifest
loading, the :class:`~wsdoctor.kube.snapshot.ClusterSnapshot` the rules read, and the
rules themselves (one module per controller). Nothing here imports ``kubernetes`` at
module level, nor the check registry (``wsdoctor.checks``)."""
