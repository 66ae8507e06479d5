"""tls rules on plain data: dates, names, trust, default certificates and failed handshakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from wsdoctor.checks.base import Facts
from wsdoctor.checks.tls import CertificateInfo, TlsAttempt, TlsObservation
from wsdoctor.checks.tls_probe import parse_certificate
from wsdoctor.checks.tls_rules import host_matches, judge_certificates, judge_handshakes
from wsdoctor.lab import certs
from wsdoctor.models import CheckResult, CheckStatus, Finding
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOST = "ws.example.com"


def cert(**fields: object) -> CertificateInfo:
    """A leaf for HOST issued by a public-looking CA, valid for 60 more days, overridable."""
    base: dict[str, object] = dict(
        subject=f"CN={HOST}", common_name=HOST, sans=[HOST], issuer="CN=R11,O=Let's Encrypt",
        issuer_common_name="R11", serial="1", not_before=NOW - timedelta(days=30),
        not_after=NOW + timedelta(days=60), sha256="aa" * 32, key_type="EC", key_size=256,
    )
    base.update(fields)
    return CertificateInfo.model_validate(base)


def attempt(leaf: CertificateInfo | None = None, *, address: str = "10.0.0.1",
            verify_code: int | None = None, verify_message: str | None = None,
            chain_length: int = 2, **fields: object) -> TlsAttempt:
    """A completed handshake presenting ``leaf`` (verified unless a verify code is given)."""
    chain = [leaf or cert()] + [cert(subject="CN=R11", sha256="bb" * 32)] * (chain_length - 1)
    base: dict[str, object] = dict(
        address=address, port=443, outcome="completed", version="TLSv1.3", chain=chain,
        verified=verify_code is None, verify_code=verify_code, verify_message=verify_message,
    )
    base.update(fields)
    return TlsAttempt.model_validate(base)


def failed(outcome: str, error: str, address: str = "10.0.0.1") -> TlsAttempt:
    """A handshake that did not complete."""
    return TlsAttempt.model_validate(
        dict(address=address, port=443, outcome=outcome, error=error)
    )


def judge(*attempts: TlsAttempt, host: str = HOST) -> list[Finding]:
    """Given these attempts, when both tls rules run, then these findings."""
    obs = TlsObservation(host=host, server_name=host, trust="system",
                         alpn_offered=["h2", "http/1.1"], attempts=list(attempts))
    facts = Facts(
        target=parse_target(f"wss://{host}/ws"), settings=Settings(), now=NOW,
        results={"tls": CheckResult(id="tls", status=CheckStatus.OK, observation=obs)},
    )
    return [*judge_handshakes(facts), *judge_certificates(facts)]


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def test_a_valid_verified_certificate_has_no_finding() -> None:
    """A verified leaf valid for 60 days yields nothing."""
    assert judge(attempt()) == []


def test_expired_certificate_fails_and_names_the_date() -> None:
    """An expired leaf is a fail quoting its notAfter; trust is not reported on top."""
    leaf = cert(not_after=NOW - timedelta(days=3))
    findings = judge(attempt(leaf, verify_code=10, verify_message="certificate has expired"))
    assert codes(findings) == ["WSD-TLS-EXPIRED"]
    assert "expired on 2026-05-29" in findings[0].detail
    assert "3 days ago" in findings[0].detail


def test_certificate_expiring_within_14_days_warns() -> None:
    """A verified leaf with 5 days left is a warning."""
    findings = judge(attempt(cert(not_after=NOW + timedelta(days=5))))
    assert codes(findings) == ["WSD-TLS-EXPIRING"]
    assert findings[0].status == "warn"


def test_certificate_with_20_days_left_is_fine() -> None:
    """Outside the 14-day window nothing is said."""
    assert judge(attempt(cert(not_after=NOW + timedelta(days=20)))) == []


def test_not_yet_valid_certificate_fails() -> None:
    """A notBefore in the future is a fail that suspects the clocks."""
    findings = judge(attempt(cert(not_before=NOW + timedelta(days=1)), verify_code=9,
                             verify_message="certificate is not yet valid"))
    assert codes(findings) == ["WSD-TLS-NOT-YET-VALID"]


def test_wrong_san_fails_naming_sans_and_host() -> None:
    """A leaf for other names fails, listing its SANs against the host."""
    leaf = cert(sans=["other.example.com", "api.example.com"], common_name="other.example.com")
    findings = judge(attempt(leaf, verify_code=62, verify_message="Hostname mismatch"))
    assert codes(findings) == ["WSD-TLS-HOSTNAME-MISMATCH"]
    assert "other.example.com, api.example.com" in findings[0].detail
    assert HOST in findings[0].detail
    assert findings[0].fix is not None and HOST in (findings[0].fix.snippet or "")


@pytest.mark.parametrize(
    ("host", "sans", "expected"),
    [
        ("ws.example.com", ["*.example.com"], True),
        ("a.ws.example.com", ["*.example.com"], False),
        ("example.com", ["*.example.com"], False),
        ("WS.Example.com.", ["ws.example.com"], True),
        ("127.0.0.1", ["127.0.0.1"], True),
        ("127.0.0.1", ["localhost"], False),
        ("::1", ["0:0:0:0:0:0:0:1"], True),
    ],
)
def test_host_matching_follows_rfc_6125(host: str, sans: list[str], expected: bool) -> None:
    """A wildcard covers exactly one label; IP addresses match IP SANs only."""
    assert host_matches(host, sans) is expected


def test_self_signed_leaf_fails() -> None:
    """A self-signed leaf not in the trust store is reported as self-signed."""
    leaf = cert(issuer=f"CN={HOST}", issuer_common_name=HOST, self_signed=True)
    findings = judge(attempt(leaf, verify_code=18, verify_message="self-signed certificate",
                             chain_length=1))
    assert codes(findings) == ["WSD-TLS-SELF-SIGNED"]


def test_self_signed_leaf_trusted_with_cacert_is_fine() -> None:
    """A self-signed leaf that verified (trusted via --cacert) yields nothing."""
    leaf = cert(issuer=f"CN={HOST}", self_signed=True)
    assert judge(attempt(leaf, chain_length=1)) == []


def test_leaf_without_intermediates_is_an_incomplete_chain() -> None:
    """Only the leaf, from an issuer the store cannot find: the chain is incomplete."""
    findings = judge(attempt(cert(), verify_code=20, chain_length=1,
                             verify_message="unable to get local issuer certificate"))
    assert codes(findings) == ["WSD-TLS-CHAIN-INCOMPLETE"]
    assert "intermediate" in findings[0].fix.summary  # type: ignore[union-attr]


def test_private_root_in_chain_is_untrusted() -> None:
    """A chain ending at an unknown root is untrusted, quoting OpenSSL's reason."""
    findings = judge(attempt(cert(), verify_code=19,
                             verify_message="self-signed certificate in certificate chain"))
    assert codes(findings) == ["WSD-TLS-UNTRUSTED"]
    assert "self-signed certificate in certificate chain" in findings[0].detail
    assert "--cacert" in findings[0].fix.summary  # type: ignore[union-attr]


def _fake(**fields: object) -> CertificateInfo:
    base: dict[str, object] = dict(
        subject="CN=Kubernetes Ingress Controller Fake Certificate,O=Acme Co",
        common_name="Kubernetes Ingress Controller Fake Certificate", organization="Acme Co",
        sans=["ingress.local"],
        issuer="CN=Kubernetes Ingress Controller Fake Certificate,O=Acme Co",
        issuer_common_name="Kubernetes Ingress Controller Fake Certificate", key_type="RSA",
        key_size=2048, self_signed=True,
    )
    base.update(fields)
    return cert(**base)


def test_ingress_nginx_fake_certificate_is_named_outright() -> None:
    """The fake certificate is one fail naming ingress-nginx and the spec.tls fix, not three
    symptoms."""
    findings = judge(attempt(_fake(), verify_code=18, verify_message="self-signed certificate",
                             chain_length=1))
    assert codes(findings) == ["WSD-TLS-DEFAULT-CERT"]
    finding = findings[0]
    assert "this is ingress-nginx's fake certificate: no TLS secret serves this host" in (
        finding.detail
    )
    assert "ingress-nginx" in finding.title
    assert finding.fix is not None and finding.fix.snippet is not None
    assert "secretName" in finding.fix.snippet and f"- {HOST}" in finding.fix.snippet
    assert set(finding.explains) >= {"WSD-TLS-HOSTNAME-MISMATCH", "WSD-TLS-SELF-SIGNED"}


def test_haproxy_ingress_default_certificate_is_told_apart() -> None:
    """Same subject, ECDSA key and a localhost SAN: haproxy-ingress."""
    leaf = _fake(sans=["localhost", "ingress.local"], key_type="EC", key_size=256)
    (finding,) = judge(attempt(leaf, verify_code=18, chain_length=1))
    assert "haproxy-ingress" in finding.title


def test_traefik_default_certificate_is_named() -> None:
    """CN TRAEFIK DEFAULT CERT is Traefik's default, with an IngressRoute fix."""
    leaf = cert(subject="CN=TRAEFIK DEFAULT CERT", common_name="TRAEFIK DEFAULT CERT",
                sans=["a1b2.c3d4.traefik.default"], self_signed=True)
    (finding,) = judge(attempt(leaf, verify_code=18, chain_length=1))
    assert finding.code == "WSD-TLS-DEFAULT-CERT" and "Traefik" in finding.title
    assert "IngressRoute" in (finding.fix.snippet or "")  # type: ignore[union-attr]


def test_haproxytech_issuer_is_named() -> None:
    """A leaf issued by kubernetes-ingress-ca is the haproxytech chart's default."""
    leaf = cert(issuer="CN=kubernetes-ingress-ca", issuer_common_name="kubernetes-ingress-ca",
                sans=[HOST])
    (finding,) = judge(attempt(leaf, verify_code=20))
    assert "haproxytech" in finding.title


def test_reset_handshake_names_istio_credential() -> None:
    """A reset after ClientHello on two addresses is one fail naming both and Istio's cause."""
    error = "the server reset the connection (TCP RST) during the handshake"
    findings = judge(failed("reset", error), failed("reset", error, address="10.0.0.2"))
    assert codes(findings) == ["WSD-TLS-HANDSHAKE-RESET"]
    finding = findings[0]
    assert "10.0.0.1:443, 10.0.0.2:443" in finding.detail
    assert "credentialName" in finding.detail
    assert "credentialName" in (finding.fix.snippet or "")  # type: ignore[union-attr]


def test_handshake_timeout_and_plain_http_port_are_told_apart() -> None:
    """No answer and a plain-HTTP answer are different findings."""
    findings = judge(failed("timeout", "no TLS handshake within 5 s"),
                     failed("not_tls", "not TLS: 'HTTP/1.1 400 Bad Request'", "10.0.0.2"))
    assert codes(findings) == ["WSD-TLS-HANDSHAKE-TIMEOUT", "WSD-TLS-NOT-TLS"]
    assert "ws://ws.example.com:443" in findings[1].fix.summary  # type: ignore[union-attr]


def test_same_expired_certificate_on_three_addresses_is_one_finding() -> None:
    """Three addresses serving one expired leaf give one finding naming all three."""
    leaf = cert(not_after=NOW - timedelta(days=1))
    findings = judge(*(attempt(leaf, address=f"10.0.0.{i}", verify_code=10) for i in (1, 2, 3)))
    assert codes(findings) == ["WSD-TLS-EXPIRED"]
    assert findings[0].evidence["addresses"] == ["10.0.0.1:443", "10.0.0.2:443", "10.0.0.3:443"]
    assert findings[0].resource is not None and findings[0].resource.kind == "Host"


def test_different_certificates_on_addresses_warn_and_name_the_odd_one() -> None:
    """One address with an expired leaf among good ones: its expiry and an inconsistency."""
    old = cert(not_after=NOW - timedelta(days=1), sha256="cc" * 32)
    findings = judge(attempt(address="10.0.0.1"), attempt(old, address="10.0.0.2",
                                                          verify_code=10))
    assert codes(findings) == ["WSD-TLS-EXPIRED", "WSD-TLS-INCONSISTENT"]
    assert findings[0].resource is not None and findings[0].resource.name == "10.0.0.2:443"
    assert "10.0.0.2:443" in findings[1].detail and "2 different certificates" in (
        findings[1].detail
    )


def test_parse_certificate_describes_the_ingress_nginx_fake() -> None:
    """Parsing a real DER certificate yields subject, SANs, key and self-signedness."""
    pem = certs.ingress_nginx_fake_certificate().cert_pem
    der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    info = parse_certificate(der)
    assert info.common_name == "Kubernetes Ingress Controller Fake Certificate"
    assert info.organization == "Acme Co"
    assert info.sans == ["ingress.local"]
    assert (info.key_type, info.key_size, info.self_signed) == ("RSA", 2048, True)
    assert len(info.sha256) == 64


def test_parse_certificate_of_a_ca_issued_leaf_is_not_self_signed() -> None:
    """A leaf from the lab CA names its issuer and is not self-signed."""
    pem = certs.LabCA().issue([HOST, "127.0.0.1"]).cert_pem
    leaf = x509.load_pem_x509_certificates(pem)[0]
    info = parse_certificate(leaf.public_bytes(Encoding.DER))
    assert info.sans == [HOST, "127.0.0.1"]
    assert info.issuer_common_name == "wsdoctor lab CA"
    assert (info.key_type, info.curve, info.self_signed) == ("EC", "secp256r1", False)


def test_tls_alert_and_flapping_connect_are_handshake_failures() -> None:
    """An alert and a connect that fails during the TLS check are both reported, differently."""
    findings = judge(
        failed("alert", "the server sent a TLS alert: tlsv1 alert protocol version"),
        failed("connect_failed", "TCP connect failed: refused", address="10.0.0.2"),
    )
    assert codes(findings) == ["WSD-TLS-HANDSHAKE-FAILED", "WSD-TLS-HANDSHAKE-FAILED"]
    assert "protocol version" in findings[0].detail
    assert findings[1].title == "TCP connect failed during the TLS check"


def test_unverified_handshake_without_a_readable_chain_is_untrusted() -> None:
    """A rejected certificate that could not be parsed is still reported, quoting OpenSSL."""
    broken = attempt(verify_code=7, verify_message="certificate signature failure",
                     error="a certificate of the chain cannot be parsed: bad encoding")
    broken = broken.model_copy(update={"chain": []})
    (finding,) = judge(broken)
    assert finding.code == "WSD-TLS-UNTRUSTED"
    assert "certificate signature failure" in finding.detail and "bad encoding" in finding.detail


def _judge_served_by(kind: str, controller: str, leaf: CertificateInfo) -> list[Finding]:
    from wsdoctor.kube.observation import ClusterObservation, RouteSummary, TlsConfig
    from wsdoctor.kube.snapshot import ClusterSnapshot

    obs = TlsObservation(host=HOST, server_name=HOST, trust="system",
                         alpn_offered=["h2", "http/1.1"], attempts=[attempt(leaf)])
    cluster = ClusterObservation(
        routes=[RouteSummary(kind=kind, namespace="chat", name="chat", controller=controller)],
        tls=[TlsConfig(namespace="chat", hosts=[HOST], secret_name="chat-tls")],
        snapshot=ClusterSnapshot(source="cluster"))
    facts = Facts(
        target=parse_target(f"wss://{HOST}/ws"), settings=Settings(), now=NOW,
        results={"tls": CheckResult(id="tls", status=CheckStatus.OK, observation=obs),
                 "cluster": CheckResult(id="cluster", status=CheckStatus.OK,
                                        observation=cluster)},
    )
    return list(judge_certificates(facts))


def test_expiry_fix_follows_the_controller_serving_the_route() -> None:
    """Behind a Traefik IngressRoute the renewal fix points at Traefik's ACME resolver and
    the Secret; behind ingress-nginx at the Ingress's spec.tls Secret, by name."""
    leaf = cert(not_after=NOW + timedelta(days=5))
    [traefik] = _judge_served_by("IngressRoute", "traefik", leaf)
    assert traefik.code == "WSD-TLS-EXPIRING" and traefik.fix is not None
    assert "IngressRoute chat/chat's spec.tls" in traefik.fix.summary
    assert "certResolver" in traefik.fix.summary and "Secret chat/chat-tls" in traefik.fix.summary
    assert "acme" in str(traefik.fix.snippet)
    [nginx] = _judge_served_by("Ingress", "ingress-nginx", leaf)
    assert nginx.fix is not None and "certResolver" not in nginx.fix.summary
    assert "Ingress chat/chat's spec.tls (Secret chat/chat-tls)" in nginx.fix.summary
