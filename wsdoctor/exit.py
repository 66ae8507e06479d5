"""Exit statuses: the one place that defines them (documented in --help and docs/usage.md)."""

import enum


class ExitStatus(enum.IntEnum):
    """How a wsdoctor run ended."""

    OK = 0
    """No finding at or above --fail-on."""
    FINDINGS = 1
    """At least one finding at or above --fail-on."""
    USAGE = 2
    """The command line or a configuration file was wrong."""
    CANNOT_RUN = 3
    """wsdoctor could not run at all (e.g. the report could not be written)."""
    INCOMPLETE = 4
    """No finding at or above --fail-on, but a check crashed or overran its time limit
    (status ``error``): the diagnosis is incomplete, so it is never reported as a pass."""
