"""Labs on real nginx and HAProxy: the 505 of nginx's default proxy_http_version, and servers
that require a client certificate (nginx's 400 page, HAProxy's TLS alert), diagnosed first
with the right cause and fix; with --cert/--key the same labs pass every check."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LAB_HOST, pinned_args, run_cli
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.certs import CertPair, LabCA
from wsdoctor.lab.proxies import HAProxy, HAProxySite, Nginx, NginxLocation, NginxSite
from wsdoctor.lab.traefik import Traefik
from wsdoctor.lab.traefik_config import TraefikSite, healthy_site

pytestmark = pytest.mark.lab


def report(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = run_cli(*argv, "--format", "json", "--no-kubernetes", environ=environ)
    assert result.stdout, result.stderr
    return result.status, json.loads(result.stdout)


def first_fail(data: dict[str, Any]) -> dict[str, Any]:
    return next(f for f in data["findings"] if f["status"] == "fail")


@pytest.fixture(scope="module")
def client_ca() -> LabCA:
    return LabCA("wsdoctor client CA")


@pytest.fixture(scope="module")
def client_pair(client_ca: LabCA) -> CertPair:
    return client_ca.issue(["client.lab.test"], client=True)


def test_nginx_default_http_version_505_names_proxy_http_version(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend],
) -> None:
    """nginx forwarding with proxy_http_version 1.0: the backend's 505 is diagnosed as the
    proxy's HTTP version, with the nginx directive and the ingress-nginx annotation."""
    nginx = start_nginx(NginxSite(host=LAB_HOST, locations=[
        NginxLocation(path="/ws", upstreams=[replicas[0].port], http_version="1.0")]))
    status, data = report(f"ws://{LAB_HOST}:{nginx.port}/ws", *pinned_args(nginx.port))
    assert status == 1
    finding = first_fail(data)
    assert finding["code"] == "WSD-HANDSHAKE-PROXY-HTTP-VERSION"
    assert "505" in finding["detail"] and "HTTP/1.0" in finding["detail"]
    assert "proxy_http_version 1.1;" in finding["fix"]["snippet"]
    assert 'nginx.ingress.kubernetes.io/proxy-http-version: "1.1"' in finding["fix"]["snippet"]


@pytest.fixture
def mtls_nginx(start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend],
               lab_ca: LabCA, client_ca: LabCA) -> Nginx:
    return start_nginx(NginxSite(
        host=LAB_HOST, tls=lab_ca.issue([LAB_HOST]), client_ca=client_ca.cert_pem,
        locations=[NginxLocation(path="/ws", upstreams=[replicas[0].port])]))


def test_nginx_client_certificate_400_is_mtls_not_a_dropped_upgrade(
    mtls_nginx: Nginx, lab_ca_file: Path,
) -> None:
    """nginx's 400 'No required SSL certificate was sent' is a missing client certificate,
    named with the CA the server accepts; the tls check reports the request."""
    url = f"wss://{LAB_HOST}:{mtls_nginx.port}/ws"
    status, data = report(url, *pinned_args(mtls_nginx.port, lab_ca_file))
    assert status == 1
    finding = first_fail(data)
    assert finding["code"] == "WSD-HANDSHAKE-CLIENT-CERT"
    assert finding["title"] == "The server requires a client certificate (mTLS) and none was sent"
    assert "No required SSL certificate was sent" in finding["detail"]
    assert "CN=wsdoctor client CA" in finding["detail"]
    assert "--cert" in finding["fix"]["summary"]
    codes = [f["code"] for f in data["findings"]]
    assert "WSD-HANDSHAKE-UPGRADE-NOT-FORWARDED" not in codes
    assert "WSD-TLS-CLIENT-CERT-REQUESTED" in codes


def test_with_cert_and_key_the_mtls_lab_passes_every_check(
    mtls_nginx: Nginx, lab_ca_file: Path, client_pair: CertPair, tmp_path: Path,
) -> None:
    """--cert/--key (the key encrypted, its passphrase from the environment): every check
    passes, and the passphrase appears nowhere in the report."""
    cert, _ = client_pair.write(tmp_path, "client")
    key = tmp_path / "client-encrypted.key"
    key.write_bytes(client_pair.encrypted_key(b"correct horse"))
    url = f"wss://{LAB_HOST}:{mtls_nginx.port}/ws"
    result = run_cli(url, *pinned_args(mtls_nginx.port, lab_ca_file), "--cert", str(cert),
                     "--key", str(key), "--format", "json", "--no-kubernetes",
                     environ={"WSDOCTOR_KEY_PASSWORD": "correct horse"})
    data = json.loads(result.stdout)
    assert result.status == 0, [f["code"] for f in data["findings"]]
    ran = {c["id"]: c["status"] for c in data["checks"] if c["status"] != "skipped"}
    assert set(ran) >= {"dns", "tcp", "tls", "handshake", "http", "messages", "affinity"}
    assert set(ran.values()) == {"ok"}, ran
    assert "correct horse" not in result.stdout
    tls = next(c for c in data["checks"] if c["id"] == "tls")["observation"]["attempts"][0]
    assert tls["client_cert_requested"] and tls["client_cert_sent"]


def test_a_wrong_passphrase_is_one_usage_line(
    client_pair: CertPair, tmp_path: Path,
) -> None:
    """A wrong passphrase for --key is exit 2 with one line, before any connection."""
    cert, _ = client_pair.write(tmp_path, "client")
    key = tmp_path / "enc.key"
    key.write_bytes(client_pair.encrypted_key(b"right"))
    result = run_cli("wss://127.0.0.1:9/", "--cert", str(cert), "--key", str(key),
                     environ={"WSDOCTOR_KEY_PASSWORD": "wrong"})
    assert result.status == 2
    assert result.stderr.count("\n") == 1 and "passphrase is wrong" in result.stderr


def test_haproxy_verify_required_alert_is_a_client_certificate_refusal(
    start_haproxy: Callable[[HAProxySite], HAProxy], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path, client_ca: LabCA, client_pair: CertPair, tmp_path: Path,
) -> None:
    """HAProxy 'verify required' ends the handshake with a TLS alert after its
    CertificateRequest: diagnosed as a missing client certificate; with one, it passes."""
    haproxy = start_haproxy(HAProxySite(backends=[("r1", replicas[0].port)],
                                        tls=lab_ca.issue([LAB_HOST]),
                                        client_ca=client_ca.cert_pem))
    url = f"wss://{LAB_HOST}:{haproxy.port}/"
    status, data = report(url, *pinned_args(haproxy.port, lab_ca_file))
    assert status == 1
    finding = first_fail(data)
    assert finding["code"] in ("WSD-HANDSHAKE-CLIENT-CERT", "WSD-TLS-CLIENT-CERT-REFUSED")
    assert "none was sent" in finding["title"]
    assert "CN=wsdoctor client CA" in finding["detail"]
    cert, key = client_pair.write(tmp_path, "client")
    status, data = report(url, *pinned_args(haproxy.port, lab_ca_file), "--cert", str(cert),
                          "--key", str(key))
    assert status == 0, [f["code"] for f in data["findings"] if f["status"] != "ok"]


def test_an_untrusted_certificate_is_one_verdict_for_every_check(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend],
) -> None:
    """A certificate from a CA wsdoctor does not trust: the tls check fails it, and every
    check that upgrades goes past it alike (affinity does not call the upgrade failed)."""
    stranger = LabCA("a CA nobody trusts")
    nginx = start_nginx(NginxSite(host=LAB_HOST, tls=stranger.issue([LAB_HOST]), locations=[
        NginxLocation(path="/ws", upstreams=[b.port for b in replicas])]))
    status, data = report(f"wss://{LAB_HOST}:{nginx.port}/ws", *pinned_args(nginx.port))
    assert status == 1
    failing = {f["check"] for f in data["findings"] if f["status"] == "fail"}
    assert failing == {"tls"}, [f["code"] for f in data["findings"]]
    ran = {c["id"]: c["status"] for c in data["checks"]}
    assert ran["handshake"] == ran["messages"] == ran["affinity"] == "ok", ran


def test_every_request_says_wsdoctor_unless_h_says_otherwise(replicas: list[Backend]) -> None:
    """The upgrade and the plain GET carry User-Agent: wsdoctor/VERSION; -H replaces it."""
    from wsdoctor import __version__

    url = f"ws://127.0.0.1:{replicas[0].port}/"
    _, data = report(url, "--only", "handshake,http")
    sent = {c["id"]: c["observation"] for c in data["checks"]}
    handshake = [(h["name"], h["value"]) for h in sent["handshake"]["attempts"][0]
                 ["request_headers"]]
    assert ("User-Agent", f"wsdoctor/{__version__}") in handshake
    assert {"name": "User-Agent", "value": f"wsdoctor/{__version__}"} in \
        sent["http"]["request_headers"]
    _, data = report(url, "--only", "handshake", "-H", "User-Agent: Mozilla/5.0 test")
    handshake_check = next(c for c in data["checks"] if c["id"] == "handshake")
    names = [h["name"].lower() for h in handshake_check["observation"]["attempts"][0]
             ["request_headers"]]
    assert names.count("user-agent") == 1


def test_traefik_require_and_verify_client_cert_is_a_client_certificate_refusal(
    start_traefik: Callable[[TraefikSite], Traefik], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path, client_ca: LabCA, client_pair: CertPair, tmp_path: Path,
) -> None:
    """The real Traefik with clientAuth RequireAndVerifyClientCert ends the TLS handshake
    with an alert (Go's crypto/tls): diagnosed as a missing client certificate, naming the
    CA; with --cert/--key the lab passes."""
    traefik = start_traefik(replace(healthy_site(LAB_HOST, [r.port for r in replicas],
                                                 lab_ca.issue([LAB_HOST])),
                                    client_ca=client_ca.cert_pem))
    url, port = traefik.url("/ws"), traefik.port
    status, data = report(url, *pinned_args(port, lab_ca_file))
    assert status == 1
    finding = first_fail(data)
    assert finding["code"] in ("WSD-HANDSHAKE-CLIENT-CERT", "WSD-TLS-CLIENT-CERT-REFUSED")
    assert "none was sent" in finding["title"] and "wsdoctor client CA" in finding["detail"]
    cert, key = client_pair.write(tmp_path, "client")
    status, data = report(url, *pinned_args(port, lab_ca_file), "--cert", str(cert),
                          "--key", str(key))
    assert status == 0, [f["code"] for f in data["findings"] if f["status"] != "ok"]
