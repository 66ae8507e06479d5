"""tls against real nginx and HAProxy with real certificates, and against loopback listeners
that reset, close or ignore the handshake."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LAB_HOST, pinned_args, run_cli
from tests.integration.rawservers import raw_server
from wsdoctor.lab import certs
from wsdoctor.lab.certs import CertPair, LabCA
from wsdoctor.lab.proxies import (
    Dnsmasq,
    DnsZone,
    HAProxy,
    HAProxySite,
    Nginx,
    NginxSite,
    free_port,
)

Report = dict[str, Any]


def diagnose(*argv: str) -> tuple[int, Report]:
    """Run wsdoctor with JSON output; return the exit status and the parsed report."""
    result = run_cli(*argv, "--format", "json")
    return result.status, json.loads(result.stdout)


def check(report: Report, check_id: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["id"] == check_id)


def fails(report: Report) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["status"] == "fail"]


def tls_site(start_nginx: Callable[[NginxSite], Nginx], pair: CertPair | None) -> Nginx:
    """nginx serving ``pair`` for ws.lab.test (no locations: the default backend answers)."""
    return start_nginx(NginxSite(host=LAB_HOST, tls=pair, locations=[]))


def run_tls(port: int, ca_file: Path | None, *extra: str) -> tuple[int, Report]:
    return diagnose(f"wss://{LAB_HOST}:{port}/ws", *pinned_args(port, ca_file),
                    "--only", "tls", *extra)


def test_healthy_certificate_is_ok_with_chain_details(healthy_nginx: Nginx,
                                                      lab_ca_file: Path) -> None:
    """A lab-CA certificate for the host verifies; version, chain and fingerprint are recorded."""
    status, report = run_tls(healthy_nginx.port, lab_ca_file)
    assert status == 0
    tls = check(report, "tls")
    assert tls["status"] == "ok"
    (attempt,) = tls["observation"]["attempts"]
    assert attempt["verified"] is True
    assert attempt["version"] in ("TLSv1.2", "TLSv1.3")
    assert attempt["alpn"] == "http/1.1"
    leaf, root = attempt["chain"]
    assert leaf["sans"] == [LAB_HOST] and leaf["issuer_common_name"] == "wsdoctor lab CA"
    assert len(leaf["sha256"]) == 64 and leaf["key_type"] == "EC"
    assert root["self_signed"] is True and root["is_ca"] is True
    assert "verified" in tls["summary"]


def test_expired_certificate_fails_naming_the_expiry(
    start_nginx: Callable[[NginxSite], Nginx], lab_ca: LabCA, lab_ca_file: Path
) -> None:
    """An expired certificate: exit 1, the first fail says when it expired and how to renew."""
    server = tls_site(start_nginx, lab_ca.expired([LAB_HOST]))
    status, report = diagnose(f"wss://{LAB_HOST}:{server.port}/ws",
                              *pinned_args(server.port, lab_ca_file))
    assert status == 1
    first = fails(report)[0]
    assert first["code"] == "WSD-TLS-EXPIRED"
    assert "expired on" in first["detail"] and "Renew" in first["fix"]["summary"]
    assert check(report, "tls")["observation"]["attempts"][0]["verify_code"] == 10


def test_wrong_san_fails_naming_sans_and_host(
    start_nginx: Callable[[NginxSite], Nginx], lab_ca: LabCA, lab_ca_file: Path
) -> None:
    """A certificate for other names: the fail lists its SANs against the host."""
    server = tls_site(start_nginx, lab_ca.issue(["other.lab.test", "*.other.lab.test"]))
    status, report = run_tls(server.port, lab_ca_file)
    assert status == 1
    (finding,) = fails(report)
    assert finding["code"] == "WSD-TLS-HOSTNAME-MISMATCH"
    assert "other.lab.test, *.other.lab.test" in finding["detail"]
    assert f"the host is {LAB_HOST}" in finding["detail"]


def test_self_signed_certificate_fails(start_nginx: Callable[[NginxSite], Nginx],
                                       lab_ca_file: Path) -> None:
    """A self-signed certificate for the right name is reported as self-signed."""
    server = tls_site(start_nginx, certs.self_signed([LAB_HOST]))
    status, report = run_tls(server.port, lab_ca_file)
    assert status == 1
    assert [f["code"] for f in fails(report)] == ["WSD-TLS-SELF-SIGNED"]


def test_ingress_nginx_fake_certificate_is_named_with_the_fix(
    start_nginx: Callable[[NginxSite], Nginx], lab_ca_file: Path
) -> None:
    """The fake certificate: the first fail of a full run names it outright with spec.tls."""
    server = tls_site(start_nginx, certs.ingress_nginx_fake_certificate())
    status, report = diagnose(f"wss://{LAB_HOST}:{server.port}/ws",
                              *pinned_args(server.port, lab_ca_file))
    assert status == 1
    first = fails(report)[0]
    assert first["code"] == "WSD-TLS-DEFAULT-CERT"
    assert "this is ingress-nginx's fake certificate: no TLS secret serves this host" in (
        first["detail"]
    )
    assert "spec:\n  tls:" in first["fix"]["snippet"]
    assert f"- {LAB_HOST}" in first["fix"]["snippet"]
    assert [f["code"] for f in report["findings"] if f["check"] == "tls"] == [
        "WSD-TLS-DEFAULT-CERT"
    ]


def test_haproxy_ingress_default_certificate_through_real_haproxy(
    start_haproxy: Callable[[HAProxySite], HAProxy], lab_ca_file: Path
) -> None:
    """HAProxy serving the haproxy-ingress look-alike is named haproxy-ingress."""
    server = start_haproxy(HAProxySite(tls=certs.haproxy_ingress_default_certificate()))
    status, report = run_tls(server.port, lab_ca_file)
    assert status == 1
    (finding,) = fails(report)
    assert finding["code"] == "WSD-TLS-DEFAULT-CERT"
    assert "haproxy-ingress" in finding["title"]


@pytest.mark.parametrize(
    ("pair", "controller"),
    [
        (certs.traefik_default_certificate, "Traefik"),
        (lambda: certs.haproxytech_default_certificate([LAB_HOST]), "haproxytech"),
    ],
)
def test_other_default_certificates_are_named(
    start_nginx: Callable[[NginxSite], Nginx], lab_ca_file: Path,
    pair: Callable[[], CertPair], controller: str,
) -> None:
    """Traefik's default certificate and the haproxytech chart's CA are recognised."""
    server = tls_site(start_nginx, pair())
    _, report = run_tls(server.port, lab_ca_file)
    (finding,) = fails(report)
    assert finding["code"] == "WSD-TLS-DEFAULT-CERT" and controller in finding["title"]


def test_lab_ca_is_untrusted_without_cacert(healthy_nginx: Nginx) -> None:
    """Against the system store the lab's private CA is untrusted, with the --cacert hint."""
    status, report = run_tls(healthy_nginx.port, None)
    assert status == 1
    (finding,) = fails(report)
    assert finding["code"] == "WSD-TLS-UNTRUSTED"
    assert "--cacert" in finding["fix"]["summary"]


def test_expiring_certificate_warns_and_exits_0(
    start_nginx: Callable[[NginxSite], Nginx], lab_ca: LabCA, lab_ca_file: Path
) -> None:
    """Five days left: a warning, which does not fail the run by default."""
    server = tls_site(start_nginx, lab_ca.issue([LAB_HOST], days_valid=5))
    status, report = run_tls(server.port, lab_ca_file)
    assert status == 0
    assert [f["code"] for f in report["findings"]] == ["WSD-TLS-EXPIRING"]


@pytest.mark.parametrize("behaviour", ["rst", "fin"])
def test_handshake_reset_is_a_finding_within_the_time_limit(behaviour: str) -> None:
    """A listener that resets or closes on ClientHello (Istio without a credential) is named."""
    with raw_server(behaviour) as port:
        start = time.perf_counter()
        status, report = run_tls(port, None, "--timeout", "2")
        elapsed = time.perf_counter() - start
    assert status == 1
    (finding,) = fails(report)
    assert finding["code"] == "WSD-TLS-HANDSHAKE-RESET"
    assert "Istio" in finding["detail"] and "credentialName" in finding["detail"]
    assert elapsed < 2


def test_silent_listener_times_out_within_the_limit() -> None:
    """A listener that never answers the ClientHello is a timeout finding, on time."""
    with raw_server("silent") as port:
        start = time.perf_counter()
        status, report = run_tls(port, None, "--timeout", "0.5")
        elapsed = time.perf_counter() - start
    assert status == 1
    assert [f["code"] for f in fails(report)] == ["WSD-TLS-HANDSHAKE-TIMEOUT"]
    assert elapsed < 2.5


def test_plain_http_port_is_not_tls(start_nginx: Callable[[NginxSite], Nginx]) -> None:
    """wss:// against nginx's plain listener: NOT-TLS quoting the HTTP answer."""
    server = tls_site(start_nginx, None)
    status, report = run_tls(server.port, None)
    assert status == 1
    (finding,) = fails(report)
    assert finding["code"] == "WSD-TLS-NOT-TLS"
    assert "HTTP/1.1 400" in finding["detail"]


def test_ws_target_skips_tls() -> None:
    """A ws:// target has no TLS hop: tls is skipped with a reason saying how to enable it."""
    with raw_server("silent") as port:
        _, report = diagnose(f"ws://{LAB_HOST}:{port}/", *pinned_args(port), "--only", "tls")
    tls = check(report, "tls")
    assert tls["status"] == "skipped" and "wss://" in tls["reason"]


def test_ip_literal_target_verifies_the_ip_san(
    start_nginx: Callable[[NginxSite], Nginx], lab_ca: LabCA, lab_ca_file: Path
) -> None:
    """wss://127.0.0.1:PORT sends no SNI and verifies against the certificate's IP SAN."""
    server = tls_site(start_nginx, lab_ca.issue(["127.0.0.1"]))
    status, report = diagnose(f"wss://127.0.0.1:{server.port}/ws", "--cacert",
                              str(lab_ca_file), "--only", "tls")
    assert status == 0
    observation = check(report, "tls")["observation"]
    assert observation["server_name"] is None
    assert observation["attempts"][0]["verified"] is True


def test_different_certificates_on_two_addresses(
    start_nginx: Callable[[NginxSite], Nginx], start_dnsmasq: Callable[[DnsZone], Dnsmasq],
    lab_ca: LabCA, lab_ca_file: Path,
) -> None:
    """Two addresses of one name, one with an expired certificate: named, and inconsistent."""
    port = free_port("127.0.0.1")
    start_nginx(NginxSite(host=LAB_HOST, tls=lab_ca.issue([LAB_HOST]), locations=[],
                          listen="127.0.0.1", port=port))
    start_nginx(NginxSite(host=LAB_HOST, tls=lab_ca.expired([LAB_HOST]), locations=[],
                          listen="127.0.0.2", port=port))
    dns = start_dnsmasq(DnsZone(addresses={LAB_HOST: ["127.0.0.1", "127.0.0.2"]}))
    status, report = diagnose(f"wss://{LAB_HOST}:{port}/ws", "--dns-server", dns.server,
                              "--cacert", str(lab_ca_file), "--only", "tls")
    assert status == 1
    by_code = {f["code"]: f for f in report["findings"]}
    assert by_code["WSD-TLS-EXPIRED"]["resource"]["name"] == f"127.0.0.2:{port}"
    assert "127.0.0.2" in by_code["WSD-TLS-INCONSISTENT"]["detail"]
    assert len(check(report, "tls")["observation"]["attempts"]) == 2
