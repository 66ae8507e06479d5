"""400s read by their body against the real lab: nginx's "Request Header Or Cookie Too Large"
and a websockets server refusing a handshake header."""

import json
import socket
from collections.abc import Callable
from pathlib import Path

from tests.helpers import LAB_HOST, pinned_args, run_cli
from wsdoctor.checks.handshake import HandshakeAttempt, HeaderField
from wsdoctor.checks.handshake_advice import classify
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.proxies import Nginx, NginxLocation, NginxSite


def test_nginx_refusing_a_100kb_header_is_headers_too_large(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path,
) -> None:
    """A 100 kB header through nginx with TLS: HEADERS-TOO-LARGE with the buffer fix, not
    UPGRADE-NOT-FORWARDED; the header's value is not in the report."""
    nginx = start_nginx(NginxSite(host=LAB_HOST, tls=lab_ca.issue([LAB_HOST]), locations=[
        NginxLocation(path="/ws", upstreams=[r.port for r in replicas])]))
    big = "b" * 100 * 1024
    result = run_cli(f"wss://{LAB_HOST}:{nginx.port}/ws", *pinned_args(nginx.port, lab_ca_file),
                     "--format", "json", "--only", "handshake", "-H", f"X-Big: {big}")
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert result.status == 1
    (finding,) = [f for f in report["findings"] if f["check"] == "handshake"]
    assert finding["code"] == "WSD-HANDSHAKE-HEADERS-TOO-LARGE"
    assert finding["evidence"]["status_code"] == 400
    assert "Request Header Or Cookie Too Large" in finding["detail"]
    assert "large-client-header-buffers" in finding["fix"]["snippet"]
    assert big[:64] not in result.stdout


def raw_upgrade(port: int, *extra: str) -> HandshakeAttempt:
    """Send a hand-written upgrade to 127.0.0.1:port and record the answer."""
    request = ["GET /ws HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
               "Connection: Upgrade", *extra, "", ""]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall("\r\n".join(request).encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    status_line, *lines = head.split("\r\n")
    headers = [HeaderField(name=n, value=v.strip())
               for n, _, v in (line.partition(":") for line in lines)]
    return HandshakeAttempt(address="127.0.0.1", port=port, outcome="refused",
                            status_code=int(status_line.split()[1]), status_line=status_line,
                            headers=headers, body_start=body)


def test_websockets_refusals_recorded_from_a_real_server_are_bad_request(
    start_backend: Callable[..., Backend],
) -> None:
    """Handshakes a websockets server rejects (a subprotocol with a space, no key, version 8):
    each real 400 is BAD-REQUEST."""
    backend = start_backend(subprotocols=["chat"])
    key, v13 = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"
    for extra in [(key, v13, "Sec-WebSocket-Protocol: a b"), (v13,),
                  (key, "Sec-WebSocket-Version: 8")]:
        attempt = raw_upgrade(backend.port, *extra)
        assert attempt.status_code == 400, attempt
        assert "Failed to open a WebSocket connection" in attempt.body_start
        assert classify(attempt).code == "WSD-HANDSHAKE-BAD-REQUEST", attempt  # type: ignore[union-attr]


def test_a_subprotocol_the_server_refuses_is_bad_request(
    start_backend: Callable[..., Backend],
) -> None:
    """--subprotocol other to a websockets server that only speaks chat: it answers 400, and
    the finding is BAD-REQUEST naming the subprotocol sent, not a proxy dropping Upgrade."""
    backend = start_backend(subprotocols=["chat"])
    result = run_cli(f"ws://127.0.0.1:{backend.port}/ws", "--format", "json",
                     "--only", "handshake", "--subprotocol", "other")
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert result.status == 1
    (finding,) = [f for f in report["findings"] if f["check"] == "handshake"]
    assert finding["code"] == "WSD-HANDSHAKE-BAD-REQUEST"
    assert "invalid subprotocol; expected one of chat" in finding["detail"]
    assert "subprotocols other" in finding["detail"]
