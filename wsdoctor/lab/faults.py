"""Faulty network hops for the lab.

:class:`SilentDropProxy` behaves like a load balancer that forgets idle flows (Azure Load
Balancer without TCP reset, AWS NLB): it forwards TCP both ways, then, ``drop_after``
seconds after accepting a connection, stops forwarding and answers nothing — no FIN, no
RST, bytes from either side are read and discarded. It runs on a :class:`LabLoop`.
"""

from __future__ import annotations

import asyncio
import contextlib


class SilentDropProxy:
    """A TCP proxy on 127.0.0.1 that silently black-holes each connection after a delay."""

    def __init__(self, upstream_port: int, drop_after: float, upstream_host: str = "127.0.0.1",
                 host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.drop_after = drop_after
        self.host = host
        self.port = 0
        self.server: asyncio.Server | None = None
        self._closing = asyncio.Event()
        self.dropped = 0
        """Connections that have been black-holed so far."""

    async def start(self) -> SilentDropProxy:
        """Listen on a free port."""
        self.server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        dropped = asyncio.Event()
        pumps = [asyncio.create_task(self._pump(reader, up_writer, dropped)),
                 asyncio.create_task(self._pump(up_reader, writer, dropped))]
        closing = asyncio.create_task(self._closing.wait())
        try:
            done, _ = await asyncio.wait(pumps, timeout=self.drop_after,
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done:
                dropped.set()
                self.dropped += 1
            pending: set[asyncio.Task[None]] = {p for p in pumps if not p.done()}
            while pending and not self._closing.is_set():
                _, waiting = await asyncio.wait([*pending, closing],
                                                return_when=asyncio.FIRST_COMPLETED)
                pending = {p for p in pumps if p in waiting}
        finally:
            for task in (*pumps, closing):
                task.cancel()
            await asyncio.gather(*pumps, closing, return_exceptions=True)
            writer.close()
            up_writer.close()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter,
                    dropped: asyncio.Event) -> None:
        """Copy bytes until EOF; once dropped, swallow them (and never pass on an EOF)."""
        while True:
            try:
                data = await source.read(65536)
            except OSError:
                data = b""
            if not data:
                if dropped.is_set():
                    await self._closing.wait()  # a black hole does not forward a FIN either
                with contextlib.suppress(OSError):
                    sink.write_eof()
                return
            if dropped.is_set():
                continue
            sink.write(data)
            with contextlib.suppress(OSError):
                await sink.drain()

    async def stop(self) -> None:
        """Close the listener and every connection."""
        self._closing.set()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


class ChurnServer:
    """A WebSocket endpoint on 127.0.0.1 that accepts every upgrade (a valid 101) and closes
    the connection at once with a close frame 1001: connection cycles as cheap as they get,
    for soaks of a holder. It runs on a :class:`LabLoop`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.server: asyncio.Server | None = None
        self.accepted = 0

    async def start(self) -> ChurnServer:
        """Listen on a free port."""
        self.server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from websockets.utils import accept_key

        try:
            head = await reader.readuntil(b"\r\n\r\n")
            key = next((line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                        if line.lower().startswith(b"sec-websocket-key:")), b"")
            self.accepted += 1
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                         + accept_key(key.decode()).encode() + b"\r\n\r\n"
                         + b"\x88\x02\x03\xe9")  # close frame, code 1001
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        """Close the listener."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
