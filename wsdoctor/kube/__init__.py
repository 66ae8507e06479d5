"""Cluster access and cluster rules: kubeconfig loading, the read-only client, manifest
loading, the :class:`~wsdoctor.kube.snapshot.ClusterSnapshot` the rules read, and the
rules themselves (one module per controller). Nothing here imports ``kubernetes`` at
module level."""

# The rules declare their codes with wsdoctor.checks.base, whose package registers the
# cluster check, which imports these rules: load the registry first so either entry works.
import wsdoctor.checks  # noqa: F401
