"""One held connection: an asyncio protocol that feeds websockets' sans-I/O
``ClientProtocol`` directly, with no task and no stream buffers (a few KiB each)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode

from wsdoctor.wsconn import Ending, WsConnection

if TYPE_CHECKING:
    from wsdoctor.load.engine import LoadEngine


class Held(asyncio.Protocol):
    """The transport, websockets' protocol state, and a few numbers."""

    __slots__ = ("address", "confirmed", "ended", "engine", "number", "opened_at", "paused",
                 "replica", "transport", "writer", "ws")

    def __init__(self, engine: LoadEngine, number: int, conn: WsConnection, address: str,
                 opened_at: float, replica: str | None) -> None:
        self.engine = engine
        self.number = number
        self.ws: ClientProtocol = conn.protocol
        self.writer = conn.writer
        """Kept: a StreamWriter closes its transport when it is collected (Python ≥ 3.11.5)."""
        self.transport = cast(asyncio.Transport, conn.writer.transport)
        self.address = address
        self.opened_at = opened_at
        self.replica = replica
        self.confirmed = False
        """Lasted the refusal window: the target took it."""
        self.ended = False
        self.paused = False

    def pause_writing(self) -> None:
        """The socket's send buffer is full: stop reading too, so that pongs to a server's
        ping flood cannot pile up (memory stays bounded)."""
        self.paused = True
        if not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if not self.transport.is_closing():
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        self.take_events()

    def eof_received(self) -> bool:
        self.ws.receive_eof()
        self.take_events()
        self.engine.ended(self, Ending.FIN)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.engine.ended(self, Ending.RESET if exc is not None else Ending.FIN)

    def take_events(self) -> None:
        """Messages to the engine, a close frame as the end; answer pings and closes."""
        for frame in self.ws.events_received():
            if isinstance(frame, Frame) and frame.opcode in (Opcode.TEXT, Opcode.BINARY) \
                    and frame.fin:
                self.engine.message(self, bytes(frame.data))
        self.flush()
        close = self.ws.close_rcvd
        failure = self.ws.parser_exc
        if failure is not None and not isinstance(failure, EOFError):
            # The server broke the protocol; websockets queued its close frame (sent above).
            self.engine.ended(self, Ending.PROTOCOL_ERROR, None, str(failure) or
                              type(failure).__name__)
        elif close is not None:
            self.engine.ended(self, Ending.CLOSE_FRAME, close.code, close.reason)

    def flush(self) -> None:
        """Write what the protocol has queued (pongs, a close frame, messages)."""
        for chunk in self.ws.data_to_send():
            if chunk and not self.transport.is_closing():
                self.transport.write(chunk)

    def send(self, payload: bytes) -> bool:
        """Send one text message; False (nothing sent) while the socket's buffer is full."""
        if self.paused or self.ended:
            return False
        self.ws.send_text(payload)
        self.flush()
        return True

    def close(self, reason: str) -> None:
        """Start the closing handshake; the target's close frame or FIN ends it."""
        if not self.ended and not self.transport.is_closing():
            try:
                self.ws.send_close(1000, reason)
            except Exception:  # the protocol is already closing
                pass
            self.flush()
