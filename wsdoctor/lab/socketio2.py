"""A socket.io 2 server as its transport speaks, engine.io protocol 3 (``EIO=3``), on loopback:
socket.io 2 itself runs on Node.js only, and python-engineio dropped protocol 3 in 4.0, so
the lab speaks it from its specification (engine.io-protocol v3 README, "Heartbeat": the
client pings, the server answers and closes a client silent for pingInterval + pingTimeout;
socket.io-protocol v4: the server connects the main namespace unasked, ``40``).

It opens every WebSocket with ``0{"sid":…,"upgrades":[],"pingInterval":…,"pingTimeout":…}``
(no ``maxPayload``: protocol 4's open packet always has one), sends ``40``, answers each
``2`` (ping) with ``3`` (pong) and a client's ``40`` with ``40`` (socket.io 2's
``Client.doConnect`` adds the client to the namespace again), ignores anything else, and
closes the connection (close 1000) once the client has sent nothing for pingInterval +
pingTimeout (engine.io 3 resets its ping timer on any packet).
"""

from __future__ import annotations

import asyncio
import json
import secrets

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class SocketIO2Server:
    """``await SocketIO2Server(ping_interval=1.0, ping_timeout=0.5).start()``; ``stop()``."""

    def __init__(self, ping_interval: float = 25.0, ping_timeout: float = 5.0) -> None:
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.port = 0
        self.server: Server | None = None
        self.timed_out = 0
        """Connections closed because their client sent no ping in time."""

    async def start(self) -> SocketIO2Server:
        self.server = await serve(self._handle, "127.0.0.1", 0)
        self.port = int(next(iter(self.server.sockets)).getsockname()[1])
        return self

    def url(self) -> str:
        """The URL a socket.io 2 client opens: ``/socket.io/?EIO=3&transport=websocket``."""
        return f"ws://127.0.0.1:{self.port}/socket.io/?EIO=3&transport=websocket"

    async def _handle(self, conn: ServerConnection) -> None:
        handshake = {"sid": secrets.token_urlsafe(15), "upgrades": [],
                     "pingInterval": int(self.ping_interval * 1000),
                     "pingTimeout": int(self.ping_timeout * 1000)}
        try:
            await conn.send("0" + json.dumps(handshake, separators=(",", ":")))
            await conn.send("40")
            limit = self.ping_interval + self.ping_timeout
            while True:
                try:
                    async with asyncio.timeout(limit):
                        message = await conn.recv()
                except TimeoutError:
                    self.timed_out += 1
                    await conn.close(1000, "ping timeout")
                    return
                if message == "2":
                    await conn.send("3")
                elif message == "40":  # a CONNECT to the main namespace is acknowledged again
                    await conn.send("40")
        except ConnectionClosed:
            return

    async def stop(self) -> None:
        """Close the listener and every connection."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
