"""Through real forward proxies (Debian's squid, microsocks): the healthy lab passes through a
proxy that allows the tunnel; a proxy that refuses it is the finding, with the proxy named;
credentials never reach a report."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LAB_HOST, pinned_args, run_cli
from wsdoctor.lab.backend import Backend, LabLoop
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.forward_proxies import Microsocks, Squid, SquidSite
from wsdoctor.lab.proxies import HAProxy, HAProxySite, Nginx, free_port

pytestmark = pytest.mark.lab


@pytest.fixture
def start_squid() -> Iterator[Callable[[SquidSite], Squid]]:
    started: list[Squid] = []

    def start(site: SquidSite) -> Squid:
        squid = Squid(site)
        started.append(squid)
        return squid

    yield start
    for squid in started:
        squid.stop()


def report(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    result = run_cli(*argv, "--format", "json", "--no-kubernetes", environ=environ)
    assert result.stdout, result.stderr
    return result.status, json.loads(result.stdout)


def check(data: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(c for c in data["checks"] if c["id"] == check_id)


def test_healthy_lab_passes_through_squid_which_resolves_the_name(
    healthy_nginx: Nginx, lab_ca_file: Path, start_squid: Callable[[SquidSite], Squid],
) -> None:
    """HTTPS_PROXY names squid: every connection is a CONNECT tunnel to ws.lab.test, which
    squid resolves from its hosts file; all checks pass and the dns check says so."""
    squid = start_squid(SquidSite(hosts={LAB_HOST: "127.0.0.1"},
                                  connect_ports=[healthy_nginx.port]))
    url = f"wss://{LAB_HOST}:{healthy_nginx.port}/ws"
    status, data = report(url, "--cacert", str(lab_ca_file),
                          environ={"HTTPS_PROXY": squid.url})
    assert status == 0, [f["code"] for f in data["findings"] if f["status"] == "fail"]
    assert check(data, "dns")["observation"]["source"] == "proxy"
    tcp = check(data, "tcp")["observation"]["attempts"][0]
    assert tcp["outcome"] == "connected" and tcp["via"] == squid.url
    assert check(data, "messages")["status"] == "ok"
    assert data["options"]["proxy"] == f"{squid.url} (HTTPS_PROXY)"


def test_squid_refusing_connect_is_the_proxys_finding(
    healthy_nginx: Nginx, lab_ca_file: Path, start_squid: Callable[[SquidSite], Squid],
) -> None:
    """A stock squid refuses CONNECT to a port outside SSL_ports: the first failure names
    the proxy and squid, quotes its answer, and gives squid's fix."""
    squid = start_squid(SquidSite(hosts={LAB_HOST: "127.0.0.1"}))
    url = f"wss://{LAB_HOST}:{healthy_nginx.port}/ws"
    status, data = report(url, "--cacert", str(lab_ca_file), "--proxy", squid.url)
    assert status == 1
    finding = next(f for f in data["findings"] if f["status"] == "fail")
    assert finding["code"] == "WSD-PROXY-REFUSED"
    assert finding["resource"] == {"kind": "Proxy", "name": squid.url, "namespace": None,
                                   "field": None}
    assert squid.url in finding["detail"] and "squid" in finding["detail"]
    assert "403" in finding["detail"]
    assert "SSL_ports" in finding["fix"]["snippet"]


def test_squid_denying_every_connect_names_it_too(
    healthy_nginx: Nginx, lab_ca_file: Path, start_squid: Callable[[SquidSite], Squid],
) -> None:
    """A proxy that refuses all tunnels, ws:// included: the same finding, the proxy named."""
    squid = start_squid(SquidSite(hosts={LAB_HOST: "127.0.0.1"},
                                  connect_ports=[healthy_nginx.port], deny_connect=True))
    status, data = report(f"wss://{LAB_HOST}:{healthy_nginx.port}/ws", "--cacert",
                          str(lab_ca_file), environ={"all_proxy": squid.url})
    assert status == 1
    assert data["findings"][0]["code"] == "WSD-PROXY-REFUSED"


def test_no_proxy_exempts_the_host(healthy_nginx: Nginx, lab_ca_file: Path) -> None:
    """NO_PROXY naming the domain: connections go direct (to a dead proxy otherwise), and
    the report says why no proxy was used."""
    dead = f"http://127.0.0.1:{free_port()}"
    args = [f"wss://{LAB_HOST}:{healthy_nginx.port}/ws",
            *pinned_args(healthy_nginx.port, lab_ca_file)]
    status, data = report(*args, environ={"https_proxy": dead, "NO_PROXY": ".lab.test"})
    assert status == 0
    assert data["options"]["proxy"] is None and "NO_PROXY" in data["options"]["proxy_note"]
    status, data = report(*args, environ={"https_proxy": dead})
    assert status == 1 and data["findings"][0]["code"] == "WSD-PROXY-UNREACHABLE"


def test_socks5_with_credentials_passes_and_never_shows_them(
    healthy_nginx: Nginx, lab_ca_file: Path,
) -> None:
    """microsocks with a user: wrong credentials are the proxy's finding; right ones pass;
    neither the user name nor the password appears in the output."""
    socks = Microsocks(user="alice", password="s3cr3t-pw")
    try:
        args = [f"wss://{LAB_HOST}:{healthy_nginx.port}/ws",
                *pinned_args(healthy_nginx.port, lab_ca_file)]
        proxy = f"socks5://alice:s3cr3t-pw@127.0.0.1:{socks.port}"
        good = run_cli(*args, "--proxy", proxy, "--format", "json", "--no-kubernetes")
        assert good.status == 0, good.stdout[-2000:]
        assert "s3cr3t-pw" not in good.stdout and "alice" not in good.stdout
        bad = run_cli(*args, "--proxy", proxy.replace("s3cr3t-pw", "nope"), "--format",
                      "text", "--no-kubernetes")
        assert bad.status == 1 and "WSD-PROXY-AUTH" in bad.stdout
        assert "nope" not in bad.stdout and "alice" not in bad.stdout
    finally:
        socks.stop()


def test_squid_stripping_upgrade_is_named_with_its_fix(
    replicas: list[Backend], start_squid: Callable[[SquidSite], Squid],
) -> None:
    """squid as a reverse proxy strips Upgrade by default: the refused upgrade names squid
    (its Via header) with squid's directive; with the directive the upgrade passes."""
    stripping = start_squid(SquidSite(accel_to=replicas[0].port))
    status, data = report(f"ws://127.0.0.1:{stripping.port}/", "--only", "handshake")
    assert status == 1
    finding = data["findings"][0]
    assert finding["code"] == "WSD-HANDSHAKE-UPGRADE-NOT-FORWARDED"
    assert "squid/" in finding["detail"]
    assert finding["fix"]["snippet"] == "http_upgrade_request_protocols websocket allow all"
    forwarding = start_squid(SquidSite(accel_to=replicas[0].port, forward_websocket=True))
    status, _ = report(f"ws://127.0.0.1:{forwarding.port}/", "--only", "handshake")
    assert status == 0


def test_an_https_url_for_a_plain_http_proxy_says_to_write_http(
    healthy_nginx: Nginx, lab_ca_file: Path, start_squid: Callable[[SquidSite], Squid],
) -> None:
    """HTTPS_PROXY=https://squid:port, although squid listens on plain HTTP (the most common
    proxy URL mistake): squid's answer to the ClientHello, and a proxy that says nothing to
    it, are both 'write http://', not 'check the proxy's address and port'."""
    import socket

    squid = start_squid(SquidSite(hosts={LAB_HOST: "127.0.0.1"},
                                  connect_ports=[healthy_nginx.port]))
    url = f"wss://{LAB_HOST}:{healthy_nginx.port}/ws"
    wrong = squid.url.replace("http://", "https://")
    for proxy in (wrong, None):
        with socket.socket() as silent:  # accepts, never answers (as tinyproxy does)
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            proxy = proxy or f"https://127.0.0.1:{silent.getsockname()[1]}"
            status, data = report(url, "--cacert", str(lab_ca_file), "--timeout", "1",
                                  environ={"HTTPS_PROXY": proxy})
        finding = data["findings"][0]
        assert status == 1 and finding["code"] == "WSD-PROXY-UNREACHABLE", finding
        assert finding["title"] == "TLS with the HTTPS proxy failed"
        assert proxy.replace("https://", "http://") in finding["fix"]["summary"], finding


def test_socks5_credentials_are_asked_for_in_a_socks5_url(healthy_nginx: Nginx) -> None:
    """microsocks wants a user: the fix shows a socks5:// URL, not an http:// one."""
    socks = Microsocks(user="alice", password="s3cr3t-pw")
    try:
        status, data = report(f"wss://{LAB_HOST}:{healthy_nginx.port}/ws",
                              *pinned_args(healthy_nginx.port),
                              "--proxy", f"socks5://127.0.0.1:{socks.port}")
        finding = data["findings"][0]
        assert status == 1 and finding["code"] == "WSD-PROXY-AUTH"
        assert "--proxy socks5://USER:PASSWORD@" in finding["fix"]["summary"]
    finally:
        socks.stop()


def test_a_proxy_that_opens_the_tunnel_then_holds_or_ends_it_is_named(
    replicas: list[Backend], lab_loop: LabLoop,
) -> None:
    """A CONNECT proxy that answers 200 and then forwards nothing, and one that ends the
    tunnel right after relaying the 101: the first finding names the proxy as a suspect and
    says how to tell it from the server (before, a silent tunnel was 'a backend that does not
    respond' and a cut one 'the application refused this client')."""
    import asyncio

    async def faulty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     cut_after_101: bool) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        host, _, port = head.split(b" ")[1].decode().rpartition(":")
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if not cut_after_101:
            await reader.read()  # a black hole: reads, never forwards
            return
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        up_writer.write(await reader.readuntil(b"\r\n\r\n"))
        writer.write(await up_reader.readuntil(b"\r\n\r\n"))  # the 101, then the end
        await writer.drain()
        writer.close()
        up_writer.close()

    async def start(cut: bool) -> asyncio.Server:
        return await asyncio.start_server(lambda r, w: faulty(r, w, cut), "127.0.0.1", 0)

    url = f"ws://127.0.0.1:{replicas[0].port}/"
    for cut, code in ((False, "WSD-HANDSHAKE-TIMEOUT"), (True, "WSD-MESSAGES-CLOSED-AT-ONCE")):
        server = lab_loop.run(start(cut))
        proxy = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            status, data = report(url, "--proxy", proxy, "--timeout", "1", "--skip", "affinity")
        finally:
            server.close()
        first = data["findings"][0]
        assert status == 1 and first["code"] == code, first
        assert f"through the proxy {proxy}" in first["detail"]
        assert "--proxy ''" in first["fix"]["summary"]
        http = [f for f in data["findings"] if f["check"] == "http"]
        assert all(f"through the proxy {proxy}" in f["detail"] for f in http), http


def test_an_https_proxy_whose_certificate_is_untrusted_says_whose_certificate_failed(
    healthy_nginx: Nginx, lab_ca_file: Path, start_squid: Callable[[SquidSite], Squid],
    start_haproxy: Callable[[HAProxySite], HAProxy],
) -> None:
    """An https:// proxy (HAProxy ending TLS in front of squid) whose certificate comes from a
    CA nobody gave: without -k the finding is TLS with the proxy, naming it; with -k the
    healthy lab passes through it, the server's certificate is trusted (--cacert), and the
    proxy's untrusted certificate is still a warning, not passed over in silence."""
    squid = start_squid(SquidSite(hosts={LAB_HOST: "127.0.0.1"},
                                  connect_ports=[healthy_nginx.port]))
    other = LabCA("a CA nobody trusts here")
    front = start_haproxy(HAProxySite(backends=[("squid", squid.port)], mode="tcp",
                                      tls=other.issue(["127.0.0.1"]), terminate_tls=True))
    proxy = f"https://127.0.0.1:{front.port}"
    url = f"wss://{LAB_HOST}:{healthy_nginx.port}/ws"
    status, data = report(url, "--cacert", str(lab_ca_file), "--proxy", proxy)
    first = data["findings"][0]
    assert status == 1 and first["code"] == "WSD-PROXY-UNREACHABLE", first
    assert first["title"] == "TLS with the HTTPS proxy failed" and proxy in first["detail"]
    assert "CERTIFICATE_VERIFY_FAILED" in first["detail"]
    status, data = report(url, "--cacert", str(lab_ca_file), "--proxy", proxy, "-k")
    codes = {f["code"]: f for f in data["findings"] if f["status"] in ("warn", "fail")}
    assert set(codes) == {"WSD-PROXY-CERT-UNTRUSTED"}, list(codes)
    warned = codes["WSD-PROXY-CERT-UNTRUSTED"]
    assert proxy in warned["detail"] and "judged on its own by the tls check" in warned["detail"]
    assert check(data, "tls")["status"] == "ok" and check(data, "messages")["status"] == "ok"
