"""What the cross-checks read from the network checks' observations, in one place.

The network checks (``handshake``, ``http``, ``tls``, ``idle``, ``affinity``) publish their
own observation types; this module names the fields the cluster cross-checks rely on, so a
renamed field breaks here (and in tests/unit/test_kube_crosscheck.py), nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wsdoctor.checks.base import Code, Facts
from wsdoctor.models import CheckStatus, Status


def _observation(facts: Facts, check_id: str) -> Any:
    result = facts.results.get(check_id)
    if result is None or result.status in (CheckStatus.SKIPPED, CheckStatus.ERROR):
        return None
    return result.observation


def _attr(obj: Any, *path: str) -> Any:
    for name in path:
        if obj is None:
            return None
        obj = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
    return obj


def upgrade_status(facts: Facts) -> int | None:
    """HTTP status the upgrade request got (``handshake`` observation ``status_code``)."""
    for check_id in ("handshake", "http"):
        status = _attr(_observation(facts, check_id), "status_code")
        if isinstance(status, int):
            return status
    return None


def symptom_codes(facts: Facts) -> tuple[Code, ...]:
    """The failing codes of the handshake/http checks: what a missing backend explains."""
    from wsdoctor.checks import CHECKS

    return tuple(
        code
        for check in CHECKS
        if check.id in ("handshake", "http")
        for code in check.codes
        if code.status is Status.FAIL
    )


@dataclass(frozen=True)
class ServedCertificate:
    """The leaf certificate the TLS check saw."""

    subject: str
    issuer: str
    sans: tuple[str, ...]


def served_certificate(facts: Facts) -> ServedCertificate | None:
    """``tls`` observation ``leaf`` with ``subject``, ``issuer`` and ``sans``."""
    leaf = _attr(_observation(facts, "tls"), "leaf")
    if leaf is None:
        return None
    return ServedCertificate(
        subject=str(_attr(leaf, "subject") or ""),
        issuer=str(_attr(leaf, "issuer") or ""),
        sans=tuple(str(s) for s in _attr(leaf, "sans") or ()),
    )


def measured_idle(facts: Facts) -> float | None:
    """Seconds of silence after which the connection was closed (``idle`` observation
    ``idle_timeout_s``; None when it stayed open)."""
    value = _attr(_observation(facts, "idle"), "idle_timeout_s")
    return float(value) if isinstance(value, int | float) else None


def cookies_seen(facts: Facts) -> list[str] | None:
    """Names of the cookies set on the upgrade responses (``affinity`` observation
    ``cookie_names``); None when the affinity check did not run."""
    obs = _observation(facts, "affinity")
    if obs is None:
        return None
    names = _attr(obs, "cookie_names")
    return [str(n) for n in names or []]
