"""WebSockets over HTTP/2 (RFC 8441) against Debian's HAProxy 2.6 with h2 in ALPN: the
healthy path is tested end to end on the stream; a variant that advertises the setting but
refuses WebSocket requests over HTTP/2 is a finding, while HTTP/1.1 still passes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LAB_HOST, pinned_args, run_cli
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.proxies import HAProxy, HAProxySite

pytestmark = pytest.mark.lab
#: A WAF-like rule: WebSocket requests that arrive over HTTP/2 are refused.
DENY_H2_WEBSOCKETS = "http-request deny if { req.hdr(upgrade) -m found } { req.ver 2.0 }"


def run(haproxy: HAProxy, ca_file: Path, *extra: str,
        only: str = "handshake,http2") -> tuple[int, dict[str, Any]]:
    result = run_cli(f"wss://{LAB_HOST}:{haproxy.port}/", *pinned_args(haproxy.port, ca_file),
                     "--format", "json", "--no-kubernetes", "--only", only, *extra)
    return result.status, json.loads(result.stdout)


def http2(data: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in data["checks"] if c["id"] == "http2")


def start_h2(start: Callable[[HAProxySite], HAProxy], replicas: list[Backend], ca: LabCA,
             *frontend: str) -> HAProxy:
    return start(HAProxySite(backends=[("r1", replicas[0].port)], tls=ca.issue([LAB_HOST]),
                             alpn="h2,http/1.1", frontend_extra=list(frontend)))


def test_haproxy_h2_websocket_is_tested_on_the_stream(
    start_haproxy: Callable[[HAProxySite], HAProxy], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path,
) -> None:
    """h2 negotiated, extended CONNECT advertised and answered :status 200, an echo, pings
    and the closing handshake on the stream."""
    status, data = run(start_h2(start_haproxy, replicas, lab_ca), lab_ca_file)
    assert status == 0
    check = http2(data)
    attempt = check["observation"]["attempts"][0]
    assert attempt["alpn"] == "h2" and attempt["connect_protocol"] is True
    assert attempt["settings"]["ENABLE_CONNECT_PROTOCOL"] == 1
    assert attempt["status"] == 200 and attempt["echo"] == "echoed"
    assert attempt["pings_answered"] == attempt["pings_sent"] == 3
    assert attempt["ending"] == "close 1000"
    assert check["summary"].startswith("h2 extended CONNECT :status 200")


def test_advertised_but_refused_is_a_finding(
    start_haproxy: Callable[[HAProxySite], HAProxy], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path,
) -> None:
    """HAProxy sets ENABLE_CONNECT_PROTOCOL but a rule refuses WebSockets over HTTP/2: a
    failure quoting the 403, while the HTTP/1.1 upgrade passes."""
    haproxy = start_h2(start_haproxy, replicas, lab_ca, DENY_H2_WEBSOCKETS)
    status, data = run(haproxy, lab_ca_file)
    assert status == 1
    codes = {f["code"]: f for f in data["findings"]}
    finding = codes["WSD-HTTP2-WEBSOCKET-REFUSED"]
    assert ":status 403" in finding["detail"] and "Request forbidden" in finding["detail"]
    handshake = next(c for c in data["checks"] if c["id"] == "handshake")
    assert handshake["status"] == "ok"


def test_send_and_expect_run_on_the_http2_path_too(
    start_haproxy: Callable[[HAProxySite], HAProxy], start_backend: Callable[..., Backend],
    lab_ca: LabCA, lab_ca_file: Path,
) -> None:
    """--send/--expect against a non-echoing app: matched over HTTP/1.1 and over HTTP/2."""
    app = start_backend(echo=False, replies={"hello": "welcome"})
    haproxy = start_h2(start_haproxy, [app], lab_ca)
    status, data = run(haproxy, lab_ca_file, "--send", "hello", "--expect", "^welcome$")
    assert status == 0
    assert http2(data)["observation"]["attempts"][0]["app"]["matched"] is True


#: HAProxy sends HTTP/2 requests to r2 and HTTP/1.1 ones to r1 (a route by protocol).
H2_TO_R2 = ["use-server r2 if { req.ver 2.0 }", "use-server r1 unless { req.ver 2.0 }"]


def start_split(start: Callable[[HAProxySite], HAProxy], over_h1: Backend, over_h2: Backend,
                ca: LabCA) -> HAProxy:
    return start(HAProxySite(backends=[("r1", over_h1.port), ("r2", over_h2.port)],
                             tls=ca.issue([LAB_HOST]), alpn="h2,http/1.1",
                             backend_extra=H2_TO_R2))


def test_a_reply_that_differs_over_http2_is_a_finding(
    start_haproxy: Callable[[HAProxySite], HAProxy], start_backend: Callable[..., Backend],
    lab_ca: LabCA, lab_ca_file: Path,
) -> None:
    """HTTP/2 requests routed to another replica that answers something else: the HTTP/1.1
    reply matches --expect (messages ok), the HTTP/2 one does not, and that is the failure,
    quoting the HTTP/2 reply and saying HTTP/1.1 matched."""
    good = start_backend(echo=False, replies={"hello": "welcome"})
    other = start_backend(echo=False, replies={"hello": "who are you?"})
    haproxy = start_split(start_haproxy, good, other, lab_ca)
    status, data = run(haproxy, lab_ca_file, "--send", "hello", "--expect", "^welcome$",
                       only="handshake,http2,messages")
    assert status == 1
    fails = [f for f in data["findings"] if f["status"] == "fail"]
    assert [f["code"] for f in fails] == ["WSD-HTTP2-EXPECT-MISMATCH"], fails
    detail = fails[0]["detail"]
    assert "'who are you?'" in detail and "over HTTP/1.1 the reply matched" in detail
    assert fails[0]["evidence"]["http1_matched"] is True
    messages = next(c for c in data["checks"] if c["id"] == "messages")
    assert messages["observation"]["app"]["matched"] is True


def test_a_reply_wrong_on_both_paths_is_the_messages_finding_only(
    start_haproxy: Callable[[HAProxySite], HAProxy], start_backend: Callable[..., Backend],
    lab_ca: LabCA, lab_ca_file: Path,
) -> None:
    """Both replicas answer something else: one failure, the messages check's (the same
    application over both protocols), not a second one for HTTP/2."""
    one = start_backend(echo=False, replies={"hello": "who are you?"})
    two = start_backend(echo=False, replies={"hello": "who are you?"})
    haproxy = start_split(start_haproxy, one, two, lab_ca)
    status, data = run(haproxy, lab_ca_file, "--send", "hello", "--expect", "^welcome$",
                       only="handshake,http2,messages")
    assert status == 1
    codes = [f["code"] for f in data["findings"] if f["status"] == "fail"]
    assert codes == ["WSD-MESSAGES-EXPECT-MISMATCH"], codes
    attempt = http2(data)["observation"]["attempts"][0]
    assert attempt["app"]["matched"] is False  # the HTTP/2 reply was judged, and left to it


def test_a_backend_down_for_both_paths_is_the_handshakes_finding_only(
    start_haproxy: Callable[[HAProxySite], HAProxy], lab_ca: LabCA, lab_ca_file: Path,
) -> None:
    """HAProxy with h2 and a dead backend answers 503 over HTTP/1.1 and over HTTP/2: the
    handshake check's 503 is the finding; the HTTP/2 check does not add that 'HTTP/1.1 clients
    pass' and that the advertisement should be turned off."""
    from wsdoctor.lab.proxies import free_port

    haproxy = start_haproxy(HAProxySite(backends=[("gone", free_port())],
                                        tls=lab_ca.issue([LAB_HOST]), alpn="h2,http/1.1"))
    status, data = run(haproxy, lab_ca_file)
    codes = [f["code"] for f in data["findings"] if f["status"] == "fail"]
    assert status == 1 and codes == ["WSD-HANDSHAKE-UNAVAILABLE"], codes
    assert "refused: :status 503" in http2(data)["summary"]


def test_a_failed_tls_handshake_says_http2_was_not_tested(replicas: list[Backend]) -> None:
    """wss:// to a port that speaks plain HTTP: TLS fails, so nothing is known of HTTP/2; the
    check says "not tested" (skipped, with the TLS error) and never "no HTTP/2"."""
    port = replicas[0].port
    result = run_cli(f"wss://{LAB_HOST}:{port}/", *pinned_args(port), "--format", "json",
                     "--no-kubernetes", "--only", "handshake,http2")
    check = http2(json.loads(result.stdout))
    assert check["status"] == "skipped", check
    assert check["reason"].startswith("not tested: the TLS handshake failed on every address")
    assert "no HTTP/2" not in json.dumps(check)
    text = run_cli(f"wss://{LAB_HOST}:{port}/", *pinned_args(port), "--no-kubernetes",
                   "--only", "handshake,http2", "--ascii").stdout
    assert "http2      WebSocket over HTTP/2 - skipped: not tested: the TLS" in text, text
