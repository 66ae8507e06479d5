"""wsconn against raw servers that answer at the edges of HTTP: the status is still quoted."""

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from wsdoctor.settings import Settings
from wsdoctor.target import parse_target
from wsdoctor.wsconn import HandshakeOutcome, UpgradeAttempt, upgrade

Serve = Callable[[bytes], "asyncio.Future[int]"]


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[bytes], asyncio.Future[int]]]:
    """``await raw_server(response)``: a loopback server that answers every request with
    ``response`` and then holds the connection open; returns its port."""
    servers: list[asyncio.Server] = []

    async def start(response: bytes) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(65536)
            writer.write(response)
            await writer.drain()
            await reader.read()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()


async def attempt_against(port: int) -> UpgradeAttempt:
    target = parse_target(f"ws://127.0.0.1:{port}/ws")
    attempt, conn = await upgrade(target, "127.0.0.1", Settings(timeout=0.5))
    assert conn is None
    return attempt


async def test_body_without_length_still_gives_the_status(raw_server: Serve) -> None:
    """A 200 whose body never ends (no length, connection kept): REFUSED 200, not a timeout."""
    port = await raw_server(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>app")
    attempt = await attempt_against(port)
    assert attempt.outcome is HandshakeOutcome.REFUSED
    assert attempt.status_code == 200 and attempt.header("Content-Type") == "text/html"
    assert attempt.body_start == b"<html>app"


async def test_body_over_the_limit_still_gives_the_status(raw_server: Serve) -> None:
    """A 502 announcing a 10 MB body (beyond websockets' limit): REFUSED 502 with its head."""
    port = await raw_server(b"HTTP/1.1 502 Bad Gateway\r\nServer: edge\r\n"
                            b"Content-Length: 10000000\r\n\r\nupstream down")
    attempt = await attempt_against(port)
    assert attempt.outcome is HandshakeOutcome.REFUSED
    assert attempt.status_code == 502 and attempt.header("Server") == "edge"


async def test_control_characters_are_escaped_in_the_status_line(raw_server: Serve) -> None:
    """Binary junk is quoted printably."""
    port = await raw_server(b"\x15\x03\x01\x00\x02\x02\x0a")
    attempt = await attempt_against(port)
    assert attempt.outcome is HandshakeOutcome.GARBAGE
    assert attempt.status_line is not None and attempt.status_line.startswith("\\x15\\x03")
