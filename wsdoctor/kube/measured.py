"""What the cross-checks read from the network checks' observations, in one place.

The network checks publish their own observation types: ``tls`` and ``http`` are read through
their types; ``handshake`` (``status_code``), ``idle`` (``idle_timeout_s``) and ``affinity``
(``cookie_names``) through those field names until their types are registered. A renamed
field breaks here (and in tests/unit/test_kube_crosscheck.py), nowhere else.
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
    """HTTP status the upgrade request got (``handshake`` observation ``status_code``), else a
    gateway error (502/503/504) the plain GET of the URL got (``http`` observation)."""
    from wsdoctor.checks.http import HttpObservation

    status = _attr(_observation(facts, "handshake"), "status_code")
    if isinstance(status, int):
        return status
    http = facts.get(HttpObservation)
    if http is not None:
        for exchange in http.target_exchanges:
            if exchange.status in (502, 503, 504):
                return exchange.status
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
    sha256: str


def served_certificate(facts: Facts) -> ServedCertificate | None:
    """The leaf of the first completed handshake of the ``tls`` observation."""
    from wsdoctor.checks.tls import TlsObservation

    tls = facts.get(TlsObservation)
    if tls is None:
        return None
    for attempt in tls.attempts:
        leaf = attempt.leaf
        if attempt.outcome == "completed" and leaf is not None:
            return ServedCertificate(
                subject=leaf.subject, issuer=leaf.issuer, sans=tuple(leaf.sans), sha256=leaf.sha256
            )
    return None


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
