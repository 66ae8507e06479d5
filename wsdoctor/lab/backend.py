"""WebSocket application replicas for the lab and the demo, built on ``websockets``.

Each replica says who it is in an ``X-Served-By`` response header (on the 101 and on plain
HTTP), optionally in a first message, and can echo, ping, or close on its own after a delay.
Servers run on a :class:`LabLoop`, an event loop in a background thread, so that
synchronous code (the CLI's ``asyncio.run``) and async tests can both talk to them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

T = TypeVar("T")
REPLICA_HEADER = "X-Served-By"


class LabLoop:
    """An asyncio loop in a daemon thread; servers live here for the duration of a lab."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="wsdoctor-lab",
                                        daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run ``coro`` on the lab loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def __enter__(self) -> LabLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class BackendOptions:
    """How a replica behaves."""

    name: str = "replica-1"
    echo: bool = True
    greet: bool = False
    """Send ``{"replica": name}`` as the first message."""
    ping_interval: float | None = None
    """Server-side heartbeat: ping every N seconds (None: never)."""
    close_after: float | None = None
    """Close the connection with a close frame (1000) after N idle seconds."""
    max_size: int = 4 * 1024 * 1024
    subprotocols: list[str] = field(default_factory=list)
    compression: bool = True
    max_connections: int | None = None
    """The application's own limit (like a ``MAX_CONNECTIONS`` setting): above it a new
    connection is refused as ``over_limit`` says."""
    over_limit: Literal["close", "503"] = "close"
    """``close``: accept, then close at once with 1013 (Try Again Later), as WebSocket apps
    do; ``503``: answer the upgrade with 503 Service Unavailable."""
    replies: dict[str, str] = field(default_factory=dict)
    require_header: tuple[str, str] | None = None
    """Answer an upgrade without this header (name, value) with 401, as an application behind
    an authenticating proxy does (it trusts the header the proxy adds)."""
    """An application protocol: a text message equal to a key is answered with its value
    (other messages are ignored unless ``echo``)."""


class Backend:
    """One running replica on 127.0.0.1 (or ``host``)."""

    def __init__(self, options: BackendOptions, host: str = "127.0.0.1") -> None:
        self.options = options
        self.host = host
        self.port = 0
        self.server: Server | None = None
        self.connections: set[ServerConnection] = set()
        self.handshakes = 0
        self.refused = 0

    @property
    def name(self) -> str:
        """The replica's name."""
        return self.options.name

    @property
    def open_connections(self) -> int:
        """WebSocket connections currently open on this replica."""
        return len(self.connections)

    def _full(self) -> bool:
        limit = self.options.max_connections
        return limit is not None and len(self.connections) >= limit

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            needed = self.options.require_header
            if needed is not None and request.headers.get(needed[0]) != needed[1]:
                self.refused += 1
                response = connection.respond(401, f"{needed[0]} missing\n")
                response.headers["WWW-Authenticate"] = 'Bearer realm="chat"'
                return response
            if self.options.over_limit == "503" and self._full():
                self.refused += 1
                return connection.respond(503, "too many connections\n")
            return None
        if request.path.split("?")[0].endswith("/healthz"):
            return connection.respond(200, f"{self.name}: ok\n")
        # Like most WebSocket servers: a plain request to the socket path needs an upgrade.
        return connection.respond(426, "Upgrade Required: this is a WebSocket endpoint\n")

    def _process_response(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> Response:
        response.headers[REPLICA_HEADER] = self.name
        return response

    async def _handler(self, connection: ServerConnection) -> None:
        self.handshakes += 1
        if self._full():
            self.refused += 1
            await connection.close(1013, "server at capacity")
            return
        self.connections.add(connection)
        try:
            if self.options.greet:
                await connection.send(json.dumps({"replica": self.name}))
            while True:
                try:
                    async with asyncio.timeout(self.options.close_after):
                        message = await connection.recv()
                except TimeoutError:
                    await connection.close(1000, "idle timeout (application)")
                    return
                reply = self.options.replies.get(message) if isinstance(message, str) else None
                if reply is not None:
                    await connection.send(reply)
                elif self.options.echo:
                    await connection.send(message)
        except Exception:  # a closed or broken connection ends the handler quietly
            return
        finally:
            self.connections.discard(connection)

    async def start(self) -> Backend:
        """Listen on a free port."""
        opts = self.options
        self.server = await serve(
            self._handler,
            self.host,
            0,
            process_request=self._process_request,
            process_response=self._process_response,
            ping_interval=opts.ping_interval,
            ping_timeout=None,
            max_size=opts.max_size,
            subprotocols=opts.subprotocols or None,  # type: ignore[arg-type]
            compression="deflate" if opts.compression else None,
            server_header=None,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close the listener and every connection: a graceful shutdown, each WebSocket
        closed with 1001 (going away), as an application does on SIGTERM."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def kill(self) -> None:
        """End like a killed process: stop listening and reset every connection (RST, no
        close frame; the clients see 1006)."""
        if self.server is not None:
            self.server.close(close_connections=False)
        for connection in list(self.connections):
            sock = connection.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.transport.abort()
        if self.server is not None:
            await self.server.wait_closed()


def replica_from_headers(headers: Headers) -> str | None:
    """The replica name a lab backend put in a response."""
    return headers.get(REPLICA_HEADER)
