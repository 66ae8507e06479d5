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
    http,
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
    messages.CHECK,
    idle.CHECK,
    keepalive.CHECK,
    capture.CHECK,
    affinity.CHECK,
    cluster.CHECK,
    load.CHECK,
)


def check_by_id(check_id: str) -> Check:
    """The registered check with this id; KeyError names the valid ones."""
    for check in CHECKS:
        if check.id == check_id:
            return check
    raise KeyError(f"unknown check {check_id!r} (known: {', '.join(c.id for c in CHECKS)})")


def all_codes() -> tuple[Code, ...]:
    """Every finding code the checks can emit, including the runner's own."""
    from wsdoctor.runner import RUNNER_CODES

    return tuple(code for check in CHECKS for code in check.codes) + RUNNER_CODES
