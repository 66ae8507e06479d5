"""The explicit registry of checks, in path order. Ids are part of the report contract.

Order matters: reports list checks in this order, and findings of equal severity at the same
hop are ordered by it (the upgrade's verdict before the plain HTTP request's)."""

from __future__ import annotations

from wsdoctor.checks import (
    affinity,
    capture,
    cluster,
    dns,
    handshake,
    hops,
    http,
    http2,
    idle,
    keepalive,
    load,
    messages,
    tcp,
    tls,
)
from wsdoctor.checks.base import Check, Code

CHECKS: tuple[Check, ...] = (
    dns.CHECK,
    tcp.CHECK,
    tls.CHECK,
    handshake.CHECK,
    http.CHECK,
    http2.CHECK,
    messages.CHECK,
    idle.CHECK,
    keepalive.CHECK,
    capture.CHECK,
    affinity.CHECK,
    cluster.CHECK,
    hops.CHECK,
    load.CHECK,
)


def check_by_id(check_id: str) -> Check:
    """The registered check with this id; KeyError names the valid ones."""
    for check in CHECKS:
        if check.id == check_id:
            return check
    raise KeyError(f"unknown check {check_id!r} (known: {', '.join(c.id for c in CHECKS)})")


def all_codes() -> tuple[Code, ...]:
    """Every finding code the checks can emit, including the watch's, the runner's own and
    those of ``wsdoctor lint`` about its input files."""
    from wsdoctor.kube.manifests import INPUT_CODES
    from wsdoctor.runner import RUNNER_CODES
    from wsdoctor.watch.rules import CODES as WATCH_CODES

    return (tuple(code for check in CHECKS for code in check.codes) + WATCH_CODES + RUNNER_CODES
            + INPUT_CODES)
