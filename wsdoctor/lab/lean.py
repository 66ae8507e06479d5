"""A lean WebSocket echo server for load runs: websockets' sans-I/O ``ServerProtocol`` on
bare asyncio transports, so that one process on loopback takes thousands of connections
(the healthy target of the load lab and the bench).

It names itself in ``X-Served-By`` like the lab's replicas, echoes data messages, counts
open connections (``GET /count`` answers the number, for a test or a bench in another
process), and can refuse above ``max_connections`` as an application does. Run it alone with
``python -m wsdoctor.lab.lean [--port N] [--max-connections N] [--cert F --key F]``: it
prints its port.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
from typing import Literal

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from wsdoctor.lab.backend import REPLICA_HEADER


class LeanServer:
    """The listening server and its count of open WebSocket connections."""

    def __init__(self, name: str = "lean-1", max_connections: int | None = None,
                 over_limit: Literal["close", "503"] = "close", host: str = "127.0.0.1",
                 backlog: int = 4096, tls: ssl.SSLContext | None = None) -> None:
        self.name = name
        self.max_connections = max_connections
        self.over_limit = over_limit
        self.host = host
        self.backlog = backlog
        self.tls = tls
        """Serve wss:// with this context (None: plain ws://)."""
        self.port = 0
        self.open = 0
        self.handshakes = 0
        self.refused = 0
        self.server: asyncio.Server | None = None
        self.transports: set[asyncio.Transport] = set()

    async def start(self, port: int = 0) -> LeanServer:
        """Listen on ``port`` (0: a free one)."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _Connection(self), self.host, port,
                                               backlog=self.backlog, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        if self.server is not None:
            self.server.close()
            for transport in list(self.transports):
                transport.abort()
            await self.server.wait_closed()

    def full(self) -> bool:
        """Whether the application's own limit is reached."""
        return self.max_connections is not None and self.open >= self.max_connections


class _Connection(asyncio.Protocol):
    """One client: the HTTP upgrade, then echo until either side closes."""

    __slots__ = ("counted", "server", "transport", "ws")

    def __init__(self, server: LeanServer) -> None:
        self.server = server
        self.ws = ServerProtocol(max_size=4 * 1024 * 1024)
        self.transport: asyncio.Transport | None = None
        self.counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.transports.add(transport)

    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        self._events()

    def eof_received(self) -> bool:
        self.ws.receive_eof()
        self._events()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.server.transports.discard(self.transport)
        if self.counted:
            self.counted = False
            self.server.open -= 1

    def _events(self) -> None:
        for event in self.ws.events_received():
            if isinstance(event, Request):
                self._handshake(event)
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self.ws.send_text(event.data)
            elif isinstance(event, Frame) and event.opcode is Opcode.BINARY:
                self.ws.send_binary(event.data)
        self._flush()

    def _handshake(self, request: Request) -> None:
        server = self.server
        if request.path == "/count":
            response = self.ws.reject(200, f"{server.open}\n")
        elif server.full() and server.over_limit == "503":
            server.refused += 1
            response = self.ws.reject(503, "too many connections\n")
        else:
            response = self.ws.accept(request)
        response.headers[REPLICA_HEADER] = server.name
        self.ws.send_response(response)
        if response.status_code != 101:
            return
        server.handshakes += 1
        if server.full():
            server.refused += 1
            self.ws.send_close(1013, "server at capacity")
            return
        self.counted = True
        server.open += 1

    def _flush(self) -> None:
        transport = self.transport
        assert transport is not None
        for chunk in self.ws.data_to_send():
            if chunk:
                transport.write(chunk)
            else:  # the closing handshake is over, or the request was answered
                transport.close()
                return


async def _serve(port: int, max_connections: int | None, tls: ssl.SSLContext | None) -> None:
    server = await LeanServer(max_connections=max_connections, tls=tls).start(port)
    print(server.port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


def main() -> None:
    """``python -m wsdoctor.lab.lean``: serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m wsdoctor.lab.lean")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-connections", type=int, default=None)
    parser.add_argument("--cert", help="serve TLS with this certificate (PEM)")
    parser.add_argument("--key", help="the certificate's private key (PEM)")
    args = parser.parse_args()
    tls = None
    if args.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)
    from wsdoctor.fdlimits import raise_fd_limit

    raise_fd_limit(1_000_000)
    asyncio.run(_serve(args.port, args.max_connections, tls))


if __name__ == "__main__":
    main()
