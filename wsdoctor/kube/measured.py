"""What the cross-checks read from the network checks' observations, in one place: the
upgrade's status (``handshake``, else ``http``), the served leaf certificate (``tls``), the
measured idle timeout (``idle``) and the cookies set (``affinity``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsdoctor.codes import Code
from wsdoctor.records import dataclass

if TYPE_CHECKING:
    from wsdoctor.checks.base import Facts


def upgrade_status(facts: Facts) -> int | None:
    """The gateway error (502/503/504) the upgrade got from any address (``handshake``), else
    the one the plain GET of the URL got (``http``); None when neither saw one."""
    from wsdoctor.checks.handshake import HandshakeObservation
    from wsdoctor.checks.http import HttpObservation

    handshake = facts.get(HandshakeObservation)
    if handshake is not None:
        for attempt in handshake.attempts:
            if attempt.status_code in (502, 503, 504):
                return attempt.status_code
    http = facts.get(HttpObservation)
    if http is not None:
        for exchange in http.target_exchanges:
            if exchange.status in (502, 503, 504):
                return exchange.status
    return None


def symptom_codes() -> tuple[Code, ...]:
    """The handshake's gateway-error codes: what a backend without ready endpoints explains."""
    from wsdoctor.checks.handshake_advice import BAD_GATEWAY, GATEWAY_TIMEOUT, UNAVAILABLE

    return (BAD_GATEWAY, UNAVAILABLE, GATEWAY_TIMEOUT)


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
    """Seconds of silence after which the connection was closed (None: it stayed open, or
    the idle check did not run)."""
    from wsdoctor.checks.idle import IdleObservation

    idle = facts.get(IdleObservation)
    return idle.timeout_s if idle is not None else None


def idle_closed_by(facts: Facts) -> str | None:
    """Who ended the silent connection: ``application`` (a close frame), ``proxy``, None."""
    from wsdoctor.checks.idle import IdleObservation

    idle = facts.get(IdleObservation)
    return idle.closed_by if idle is not None else None


def cut_inside_the_cluster(facts: Facts, seconds: float, tolerance: float) -> bool:
    """A bisected run measured the pod or the ingress controller pod cutting a silent
    connection as soon as the public address did (``wsdoctor bisect``)."""
    from wsdoctor.checks.hops_model import HopsObservation

    hops = facts.get(HopsObservation)
    return hops is not None and any(
        hop.status == "tested" and hop.idle is not None and hop.idle.timeout_s is not None
        and hop.idle.timeout_s <= seconds + tolerance for hop in hops.hops)


def cookies_seen(facts: Facts) -> list[str] | None:
    """Names of the cookies the upgrade and the plain GET set; None when the affinity check
    did not run."""
    from wsdoctor.checks.affinity import AffinityObservation

    obs = facts.get(AffinityObservation)
    if obs is None:
        return None
    names: list[str] = []
    for cookie in [*obs.cookies_upgrade, *obs.cookies_http]:
        if cookie.name not in names:
            names.append(cookie.name)
    return names
