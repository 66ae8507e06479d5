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
