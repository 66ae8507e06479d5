"""Hostile servers on loopback: each answers a WebSocket upgrade in one broken way, so that
tests (and the demo) can show that wsdoctor turns every one of them into a finding within
its time limit instead of hanging or crashing. :class:`CannedServer` answers with one fixed
refusal (401, 403, 503...) the way a proxy would.

Servers are plain asyncio servers; run them on a :class:`~wsdoctor.lab.backend.LabLoop` when
the diagnosis runs on another loop (the CLI's ``asyncio.run``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
from collections.abc import Sequence
from typing import Self

#: Bytes that are not HTTP (what a misdirected SSH or a binary protocol port answers).
GARBAGE = b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02\xff\xfe binary junk \x9c\x00" * 8
#: Size of the header value the ``huge_header`` server sends.
HUGE_HEADER_SIZE = 1024 * 1024


class Hostility(enum.StrEnum):
    """One way of answering an upgrade badly."""

    NEVER_ANSWERS = "never_answers"
    """Accepts the connection, reads the request, says nothing."""
    GARBAGE = "garbage"
    """Answers with bytes that are not HTTP."""
    HUGE_HEADER = "huge_header"
    """Starts a 101 and then sends a 1 MB header line."""
    CLOSES_MID_HANDSHAKE = "closes_mid_handshake"
    """Sends half a 101 response head, then closes the connection."""
    WRONG_ACCEPT = "wrong_accept"
    """A complete 101 whose Sec-WebSocket-Accept does not match the key."""
    REDIRECT_LOOP = "redirect_loop"
    """302 to the very URL that was requested."""
    TLS_RESET = "tls_reset"
    """Reads the TLS ClientHello and answers with a TCP reset (Istio gateway, no secret)."""


async def _read_head(reader: asyncio.StreamReader, limit: int = 65536) -> bytes:
    """The request head (up to the blank line), or what arrived before EOF."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < limit:
        chunk = await reader.read(4096)
        if not chunk:
            break
        data += chunk
    return data


def _request_path_and_host(head: bytes) -> tuple[str, str]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    path = parts[1] if len(parts) > 1 else "/"
    host = next((line.split(":", 1)[1].strip() for line in lines[1:]
                 if line.lower().startswith("host:")), "localhost")
    return path, host


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0) instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class LoopbackServer:
    """A server on ``host`` and a free port whose ``_behave`` answers each connection; every
    connection still open is dropped on ``stop()``."""

    #: Seconds a connection may live: a forgotten client never keeps the server busy.
    connection_limit = 60.0

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def scheme(self) -> str:
        """``ws``: the client speaks plain WebSocket."""
        return "ws"

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet closed."""
        return len(self._writers)

    def url(self, path: str = "/ws") -> str:
        """The WebSocket URL that reaches this server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{path}"

    async def start(self) -> Self:
        """Listen on a free port."""
        self.server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and drop every open connection."""
        if self.server is not None:
            self.server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            async with asyncio.timeout(self.connection_limit):
                await self._behave(reader, writer)
        except (ConnectionError, OSError, asyncio.CancelledError, asyncio.IncompleteReadError,
                TimeoutError):
            pass
        finally:
            self._writers.discard(writer)
            self._end(writer)

    def _end(self, writer: asyncio.StreamWriter) -> None:
        """How a connection ends once ``_behave`` returns: abruptly, by default."""
        writer.transport.abort()

    async def _behave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class HostileServer(LoopbackServer):
    """One hostile server on ``host`` and a free port."""

    def __init__(self, hostility: Hostility, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.hostility = hostility

    @property
    def scheme(self) -> str:
        """``wss`` for the TLS hostility (the client must start TLS), else ``ws``."""
        return "wss" if self.hostility is Hostility.TLS_RESET else "ws"

    async def _behave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        kind = self.hostility
        if kind is Hostility.TLS_RESET:
            await reader.read(4096)  # the ClientHello
            _reset(writer)
            return
        head = await _read_head(reader)
        if not head:
            return  # a plain TCP connect (the tcp check) with nothing sent
        if kind is Hostility.NEVER_ANSWERS:
            await reader.read()  # until the client gives up
            return
        if kind is Hostility.GARBAGE:
            writer.write(GARBAGE)
        elif kind is Hostility.HUGE_HEADER:
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"X-Padding: " + b"a" * HUGE_HEADER_SIZE + b"\r\n\r\n")
        elif kind is Hostility.CLOSES_MID_HANDSHAKE:
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
            await writer.drain()
            writer.close()
            return
        elif kind is Hostility.WRONG_ACCEPT:
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        elif kind is Hostility.REDIRECT_LOOP:
            path, host = _request_path_and_host(head)
            writer.write(f"HTTP/1.1 302 Found\r\nLocation: http://{host}{path}\r\n"
                         "Content-Length: 0\r\n\r\n".encode("latin-1"))
        with contextlib.suppress(ConnectionError, OSError):
            await writer.drain()
        await reader.read()  # hold the connection until the client closes it


async def start_hostile(hostility: Hostility, host: str = "127.0.0.1") -> HostileServer:
    """Start one hostile server and return it (``stop()`` it when done)."""
    return await HostileServer(hostility, host).start()


class CannedServer:
    """Answers every request with one fixed HTTP response (a proxy's refusal, recorded), then
    closes: ``CannedServer(503, "Service Temporarily Unavailable", body=...)``. The head is
    sent as ``encoding`` (``"utf-8"``: a server that writes non-ASCII as UTF-8)."""

    def __init__(self, status: int, reason: str, headers: Sequence[tuple[str, str]] = (),
                 body: bytes = b"", host: str = "127.0.0.1", encoding: str = "latin-1") -> None:
        head = [f"HTTP/1.1 {status} {reason}", *(f"{n}: {v}" for n, v in headers),
                f"Content-Length: {len(body)}", "Connection: close"]
        self.response = ("\r\n".join(head) + "\r\n\r\n").encode(encoding) + body
        self.host = host
        self.port = 0
        self.server: asyncio.Server | None = None

    def url(self, path: str = "/ws") -> str:
        """The ws:// URL that reaches this server."""
        return f"ws://{self.host}:{self.port}{path}"

    async def start(self) -> CannedServer:
        """Listen on a free port."""
        self.server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if await _read_head(reader):
                writer.write(self.response)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
