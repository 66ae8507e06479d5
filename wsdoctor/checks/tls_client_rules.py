"""Rules of the tls check about client certificates (mutual TLS): whether the server asks for
one, from which CAs, and a handshake it ended because the certificate was missing or refused.
"""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.checks.base import Code, Facts
from wsdoctor.checks.tls_probe import TlsAttempt, TlsObservation
from wsdoctor.models import EvidenceValue, Finding, Fix, Resource, Status

CLIENT_CERT_REQUESTED = Code("WSD-TLS-CLIENT-CERT-REQUESTED", Status.INFO,
                             "The server asks for a client certificate (mTLS)")
CLIENT_CERT_REFUSED = Code("WSD-TLS-CLIENT-CERT-REFUSED", Status.FAIL,
                           "The TLS handshake failed for want of an accepted client certificate")
CODES = (CLIENT_CERT_REQUESTED, CLIENT_CERT_REFUSED)


def refused_for_certificate(attempt: TlsAttempt) -> bool:
    """The handshake ended with an alert after the server asked for a client certificate."""
    return attempt.outcome == "alert" and attempt.client_cert_requested


def _cas(attempt: TlsAttempt) -> str:
    if not attempt.acceptable_cas:
        return "it names no CA (any certificate the server's own list trusts may do)"
    return "it accepts certificates issued by: " + "; ".join(attempt.acceptable_cas)


def judge_client_certificates(facts: Facts) -> Iterator[Finding]:
    """A refused handshake (fail), or the request itself (info, with the CA names)."""
    obs = facts.get(TlsObservation)
    if obs is None:
        return
    asked = [a for a in obs.attempts if a.client_cert_requested]
    if not asked:
        return
    first = asked[0]
    where = Resource(kind="Address", name=first.endpoint) if len(asked) == 1 else \
        Resource(kind="Host", name=f"{obs.host}:{first.port}")
    addresses = ", ".join(a.endpoint for a in asked)
    evidence: dict[str, EvidenceValue] = {
        "addresses": [a.endpoint for a in asked], "acceptable_cas": list(first.acceptable_cas),
        "client_cert": obs.client_cert, "alerts": list(first.alerts)}
    refused = [a for a in asked if refused_for_certificate(a)]
    if refused:
        sent = bool(refused[0].client_cert_sent)
        yield CLIENT_CERT_REFUSED.finding(
            "tls",
            f"{addresses}: the server asked for a client certificate ({_cas(first)}) and ended "
            f"the handshake with the alert '{', '.join(refused[0].alerts)}' "
            + (f"after wsdoctor sent {obs.client_cert}." if sent else
               "because none was sent."),
            title="The server refused the client certificate sent" if sent else
            "The server requires a client certificate and none was sent",
            evidence=evidence, resource=where,
            fix=Fix(summary="Give wsdoctor (and every client) a certificate issued by one of "
                    "those CAs: --cert client.pem --key client.key." if not sent else
                    "Use a certificate issued by one of those CAs, valid now, with the "
                    "clientAuth extended key usage."),
        )
        return
    yield CLIENT_CERT_REQUESTED.finding(
        "tls",
        f"{addresses}: the server asks for a client certificate; {_cas(first)}. "
        + (f"wsdoctor sent {obs.client_cert}." if first.client_cert_sent else
           "None was sent (no --cert); whether the server insists shows in the upgrade."),
        evidence=evidence, resource=where,
    )
