"""The checks, one module per topic (its probe and its rules side by side). The explicit
registry is :mod:`wsdoctor.checks.registry`; importing this package loads nothing else, so that
``wsdoctor.checks.base`` (and the cluster rules built on it) stay cheap to import."""
