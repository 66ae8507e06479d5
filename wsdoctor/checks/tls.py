"""tls: the handshake on every address TCP reached — version, cipher, ALPN, the chain as
presented, the verification verdict — judged for expiry, names, trust and the default
certificates ingress controllers serve when no TLS secret matches the host."""

from __future__ import annotations

import wsdoctor.checks.tls_rules as tls_rules
from wsdoctor.checks.base import Check, Hop, Observation, rule
from wsdoctor.checks.tls_client_rules import CODES as CLIENT_CODES
from wsdoctor.checks.tls_client_rules import judge_client_certificates
from wsdoctor.checks.tls_probe import CertificateInfo, TlsAttempt, TlsObservation, probe_tls

__all__ = ["CHECK", "CertificateInfo", "TlsAttempt", "TlsObservation"]


def summarize_tls(obs: Observation) -> str:
    """``TLSv1.3, CN=ws.example.com (Let's Encrypt R11), expires 2026-03-01, verified``."""
    assert isinstance(obs, TlsObservation)
    done = [a for a in obs.attempts if a.outcome == "completed"]
    if not done:
        first = obs.attempts[0] if obs.attempts else None
        return f"no handshake: {first.error}" if first else "no handshake"
    attempt = done[0]
    parts = [attempt.version or "TLS"]
    leaf = attempt.leaf
    if leaf is not None:
        issuer = "self-signed" if leaf.self_signed else (
            f"issuer {leaf.issuer_common_name or leaf.issuer}"
        )
        parts.append(f"{leaf.common_name or leaf.subject} ({issuer})")
        parts.append(f"expires {leaf.not_after:%Y-%m-%d}")
    parts.append("verified" if attempt.verified else f"not verified: {attempt.verify_message}")
    if attempt.client_cert_requested:
        parts.append("client certificate " + ("sent" if attempt.client_cert_sent else "asked"))
    if obs.via_proxy:
        parts.append(f"via {obs.via_proxy}")
    if len(obs.attempts) > 1:
        parts.append(f"{len(done)}/{len(obs.attempts)} addresses")
    return ", ".join(parts)


CHECK = Check(
    id="tls",
    title="TLS handshake and certificate",
    hop=Hop.TLS,
    probe=probe_tls,
    needs=("tcp",),
    rules=(rule(tls_rules.judge_handshakes), rule(tls_rules.judge_certificates, "cluster"),
           rule(judge_client_certificates)),
    codes=tls_rules.CODES + CLIENT_CODES,
    time_limit=lambda s: s.timeout * 4 + 1.0,
    summarize=summarize_tls,
)
