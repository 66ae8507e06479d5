"""Refusals from real servers on loopback: each status is diagnosed with its own cause."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.typing import Origin

from tests.helpers import run_cli
from wsdoctor.lab.backend import LabLoop
from wsdoctor.lab.hostile import CannedServer

NGINX_503 = b"<html><head><title>503 Service Temporarily Unavailable</title></head></html>"
CASES = [
    (401, "Unauthorized", [("WWW-Authenticate", 'Bearer realm="chat"')], b"",
     "WSD-HANDSHAKE-UNAUTHORIZED", 'Bearer realm="chat"'),
    (301, "Moved Permanently", [("Location", "https://elsewhere.example/ws")], b"",
     "WSD-HANDSHAKE-REDIRECT", "https://elsewhere.example/ws"),
    (429, "Too Many Requests", [("Retry-After", "30")], b"slow down",
     "WSD-HANDSHAKE-RATE-LIMITED", "Retry-After: 30"),
    (503, "Service Temporarily Unavailable", [("Server", "nginx")], NGINX_503,
     "WSD-HANDSHAKE-UNAVAILABLE", "no ready endpoints"),
    (504, "Gateway Time-out", [("Server", "nginx")], b"", "WSD-HANDSHAKE-GATEWAY-TIMEOUT",
     "did not answer"),
    (200, "OK", [("Content-Type", "text/html")], b"<!doctype html><title>app</title>",
     "WSD-HANDSHAKE-UPGRADE-IGNORED", "text/html"),
    (405, "Not Allowed", [], b"method not allowed", "WSD-HANDSHAKE-REFUSED",
     "method not allowed"),
]


@pytest.fixture
def canned(lab_loop: LabLoop) -> Iterator[list[CannedServer]]:
    started: list[CannedServer] = []
    yield started
    for server in started:
        lab_loop.run(server.stop())


def first_handshake_finding(url: str, *extra: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(url, "--format", "json", "--timeout", "1", *extra)
    findings = json.loads(result.stdout)["findings"]
    return result.status, next(f for f in findings if f["check"] == "handshake")


@pytest.mark.parametrize(("status", "reason", "headers", "body", "code", "quoted"), CASES,
                         ids=[str(c[0]) for c in CASES])
def test_refusal_is_classified_and_quoted(
    lab_loop: LabLoop, canned: list[CannedServer], status: int, reason: str,
    headers: list[tuple[str, str]], body: bytes, code: str, quoted: str,
) -> None:
    """Each refusal status gets its code, quotes the status line and what it says."""
    server = lab_loop.run(CannedServer(status, reason, headers, body).start())
    canned.append(server)
    exit_status, finding = first_handshake_finding(server.url())
    assert exit_status == 1
    assert finding["code"] == code
    assert f"HTTP/1.1 {status} {reason}" in finding["detail"]
    assert quoted in finding["detail"]
    assert finding["evidence"]["status_code"] == status


@pytest.fixture
def origin_checking_server(lab_loop: LabLoop) -> Iterator[Server]:
    """A websockets server that accepts only Origin https://app.example (answers 403)."""

    async def handler(connection: ServerConnection) -> None:
        await connection.wait_closed()

    async def start() -> Server:
        return await serve(handler, "127.0.0.1", 0, origins=[Origin("https://app.example")])

    server = lab_loop.run(start())
    yield server
    server.close()
    lab_loop.run(server.wait_closed())


def test_origin_check_403_suggests_origin_and_passes_with_it(
    origin_checking_server: Server,
) -> None:
    """No Origin: 403 with the --origin advice; with the allowed Origin the upgrade passes."""
    port = origin_checking_server.sockets[0].getsockname()[1]
    status, finding = first_handshake_finding(f"ws://127.0.0.1:{port}/", "--only", "handshake")
    assert status == 1 and finding["code"] == "WSD-HANDSHAKE-FORBIDDEN"
    assert "--origin" in finding["fix"]["summary"]
    ok = run_cli(f"ws://127.0.0.1:{port}/", "--origin", "https://app.example", "--only",
                 "handshake", "--format", "json")
    assert ok.status == 0, ok.stdout


def _handshake_attempt(url: str) -> tuple[str, dict[str, Any]]:
    """The markdown report (UTF-8, unlike text to a pipe) and the JSON handshake attempt,
    after checking that the plain HTTP request read the same header (its JSON keeps the
    status line raw, the handshake's is quoted with escapes)."""
    text = run_cli(url, "--timeout", "1", "--format", "markdown").stdout
    report = json.loads(run_cli(url, "--format", "json", "--timeout", "1").stdout)
    checks = {c["id"]: c["observation"] for c in report["checks"]}
    attempt: dict[str, Any] = checks["handshake"]["attempts"][0]
    plain = checks["http"]["exchanges"][0]
    assert plain["status_line"].startswith("HTTP/1.1 403 ")
    assert plain["headers"][0] == attempt["headers"][0]
    return text, attempt


def test_utf8_reason_and_headers_are_shown_as_sent(
    lab_loop: LabLoop, canned: list[CannedServer]
) -> None:
    """Given a server that writes its reason phrase and headers in UTF-8 (a localised proxy
    page, a Server name with an accent), the report shows that text, not latin-1 mojibake,
    and a cookie in non-ASCII is still redacted to its name."""
    server = lab_loop.run(CannedServer(
        403, "Accès refusé",
        [("Server", "pröxy ✓"), ("X-Raison", "réservé aux abonnés"),
         ("Set-Cookie", "sessión=sécret-ü-token; Path=/")], encoding="utf-8").start())
    canned.append(server)
    text, attempt = _handshake_attempt(server.url())
    assert "HTTP/1.1 403 Accès refusé" in text and "(Server: pröxy ✓)" in text
    assert "Ã" not in text and "Â" not in text
    assert attempt["status_line"] == "HTTP/1.1 403 Accès refusé"
    headers = {h["name"]: h["value"] for h in attempt["headers"]}
    assert headers["X-Raison"] == "réservé aux abonnés"
    assert "sécret" not in json.dumps(attempt, ensure_ascii=False)
    assert headers["Set-Cookie"].startswith("sessión=")


def test_c1_control_sent_in_utf8_stays_escaped(
    lab_loop: LabLoop, canned: list[CannedServer]
) -> None:
    """Given a reason phrase and a header carrying CSI (U+009B, the one-byte ESC [) and a
    bidi override encoded in UTF-8, the rendered report shows them as escapes: reading UTF-8 must
    not hand a terminal a control it would act on. Invalid UTF-8 is still read as latin-1."""
    server = lab_loop.run(CannedServer(
        403, "Denied \u009b31mred", [("Server", "evil\u202eproxy")], encoding="utf-8").start())
    canned.append(server)
    text, attempt = _handshake_attempt(server.url())
    assert "\u009b" not in text and "\u202e" not in text and "\x1b" not in text
    assert "Denied \\\\x9b31mred" in text and "Â" not in text  # markdown doubles the \\
    assert "evil\\\\u202eproxy" in text
    assert attempt["status_line"] == "HTTP/1.1 403 Denied \\x9b31mred"
    raw = lab_loop.run(CannedServer(403, "Refus\xe9", encoding="latin-1").start())
    canned.append(raw)
    assert "HTTP/1.1 403 Refusé" in _handshake_attempt(raw.url())[0]
