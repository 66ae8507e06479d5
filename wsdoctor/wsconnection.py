"""An upgraded WebSocket connection, instrumented: send data, pings and close; receive
messages, control frames and the end of the connection, each with its time.

Frames are fed to websockets' sans-I/O protocol one at a time, and only when the caller wants
the next event: memory stays bounded by one message (``max_size``, after inflating) whatever
the server sends, and a frame the protocol rejects is known byte for byte
(:mod:`wsdoctor.wsviolations` names the violation). A connection ends with a close frame
(code and reason), a bare TCP FIN, a reset, or a protocol error of the server.
"""

from __future__ import annotations

import asyncio
import enum
import ssl
import time
import zlib
from typing import TYPE_CHECKING

from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from wsdoctor.records import dataclass
from wsdoctor.wsviolations import FrameSplitter, Violation, classify, text_violation

if TYPE_CHECKING:
    from wsdoctor.wsconn import UpgradeAttempt

READ_SIZE = 65536
#: A server that ends the connection this soon after its 101 refused the client (closed "at
#: once"); later, the connection was open and the end is a timeout or a reaction.
AT_ONCE_S = 0.025
#: Outgoing bytes (pongs, closes) queued before reading waits for the peer to take them.
WRITE_BACKLOG = 256 * 1024


class Ending(enum.StrEnum):
    """How an open connection ended."""

    CLOSE_FRAME = "close_frame"
    FIN = "fin"
    RESET = "reset"
    PROTOCOL_ERROR = "protocol_error"
    """The server broke the protocol: wsdoctor's client failed the connection."""


@dataclass
class Message:
    """A complete data message."""

    text: bool
    data: bytes
    at: float


@dataclass
class Closed:
    """The end of a connection as the client saw it."""

    ending: Ending
    at: float
    code: int | None = None
    reason: str | None = None
    violation: Violation | None = None
    """For PROTOCOL_ERROR: what the server did wrong, with the offending bytes."""


Event = Message | Frame | Closed


class WsConnection:
    """An upgraded connection: send data, pings and close; receive events with timestamps."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 protocol: ClientProtocol, attempt: UpgradeAttempt,
                 received: bytes = b"") -> None:
        self.reader = reader
        self.writer = writer
        self.protocol = protocol
        self.attempt = attempt
        self.closed: Closed | None = None
        self.pings_received: list[float] = []
        """When each ping from the server arrived (monotonic), to tell a ping flood."""
        self._pending: list[Event] = []
        self._fragments: list[bytes] = []
        self._fragment_text = False
        self._unfed = bytearray(received)
        """Received bytes not yet given to the protocol (it gets one frame at a time)."""
        self._splitter = FrameSplitter()
        self._feed()  # frames that arrived with the 101

    def _flush(self) -> None:
        data = self.protocol.data_to_send()
        if self.writer.transport.is_closing():
            return  # the socket is gone (reset, failed): pongs to buffered pings go nowhere
        for chunk in data:
            if chunk:
                self.writer.write(chunk)
            elif self.writer.can_write_eof():
                try:
                    self.writer.write_eof()
                except OSError:
                    pass

    async def _drain(self) -> None:
        self._flush()
        try:
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            self._ended(Ending.RESET if isinstance(exc, ConnectionResetError) else Ending.FIN)

    @property
    def open(self) -> bool:
        """Frames can still be sent (no close received or sent, the protocol not failed)."""
        return self.closed is None and self.protocol.state is State.OPEN

    async def send_text(self, text: str) -> None:
        """Send a text message; nothing once the connection is closing (the next event says
        how it ended)."""
        if self.open:
            self.protocol.send_text(text.encode())
            await self._drain()

    async def send_binary(self, data: bytes, *, incompressible: bool = False) -> None:
        """Send a binary message (nothing once the connection is closing).

        ``incompressible``: random bytes. With permessage-deflate they still go as a deflated
        message (RSV1 set, inflated by the server), in stored blocks: deflate at any level
        stores bytes that do not compress, so the bytes on the wire are the same size, but
        without zlib searching them for matches (~10 ms of CPU per 512 KiB)."""
        if self.open:
            if incompressible:
                store_from_now_on(self.protocol)
            self.protocol.send_binary(data)
            await self._drain()

    async def ping(self, payload: bytes) -> None:
        """Send a ping frame (nothing once the connection is closing)."""
        if self.open:
            self.protocol.send_ping(payload)
            await self._drain()

    def _ended(self, ending: Ending, violation: Violation | None = None) -> None:
        if self.closed is None:
            code = reason = None
            if self.protocol.close_rcvd is not None:
                if violation is None:
                    ending = Ending.CLOSE_FRAME
                code = self.protocol.close_rcvd.code
                reason = self.protocol.close_rcvd.reason
            self.closed = Closed(ending=ending, at=time.monotonic(), code=code, reason=reason,
                                 violation=violation)
            self._pending.append(self.closed)

    def _failed(self, violation: Violation) -> None:
        """The protocol failed the connection: send its close frame, then close the socket
        (the server is not trusted to finish the closing handshake)."""
        self._fragments = []
        self._flush()
        self._ended(Ending.PROTOCOL_ERROR, violation)
        self.writer.close()

    def _feed(self) -> None:
        """Give the protocol received bytes up to the end of the next frame, until an event
        is ready or nothing is left."""
        while self._unfed and not self._pending and self.closed is None:
            size = self._splitter.take(self._unfed)
            piece = bytes(self._unfed[:size])
            del self._unfed[:size]
            self.protocol.receive_data(piece)
            failure = self.protocol.parser_exc
            if failure is not None and not isinstance(failure, EOFError):
                self._failed(classify(failure, bytes(self._splitter.start),
                                      self.protocol.close_sent))
                return
            if self._splitter.complete:
                self._splitter.next_frame()
            self._take_frames()

    def _take_frames(self) -> None:
        for event in self.protocol.events_received():
            if not isinstance(event, Frame):
                continue
            now = time.monotonic()
            if event.opcode in (Opcode.TEXT, Opcode.BINARY):
                self._fragment_text = event.opcode is Opcode.TEXT
                self._fragments = [bytes(event.data)]
            elif event.opcode is Opcode.CONT:
                self._fragments.append(bytes(event.data))
            else:
                if event.opcode is Opcode.PING:
                    self.pings_received.append(now)
                self._pending.append(event)
                continue
            if event.fin:
                data = b"".join(self._fragments)
                self._fragments = []
                if self._fragment_text and not self._is_utf8(data):
                    return
                self._pending.append(Message(self._fragment_text, data, now))
        if self.protocol.close_rcvd is not None and self.closed is None:
            # A close frame from the peer: the closing handshake is answered by the protocol.
            self._ended(Ending.CLOSE_FRAME)
        self._flush()

    def _is_utf8(self, data: bytes) -> bool:
        """Text must be UTF-8 (websockets' sans-I/O layer leaves that to its users): fail
        the connection with 1007 as every client does."""
        try:
            data.decode()
        except UnicodeDecodeError as exc:
            self.protocol.fail(1007, "invalid UTF-8 in a text message")
            self._failed(text_violation(data, exc, 1007))
            return False
        return True

    async def next_event(self, timeout: float | None) -> Event | None:
        """The next message, control frame or end of connection; None on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._pending:
            if self.closed is not None:
                return self.closed
            self._feed()
            if self._pending:
                break
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            try:
                async with asyncio.timeout(remaining):
                    if self.writer.transport.get_write_buffer_size() > WRITE_BACKLOG:
                        await self.writer.drain()  # a ping flood: pongs wait for the peer
                    data = await self.reader.read(READ_SIZE)
            except TimeoutError:
                return None
            except (OSError, ssl.SSLError):  # ConnectionResetError included
                self._ended(Ending.RESET)
                break
            if not data:  # everything received was fed before reading
                self.protocol.receive_eof()
                self._take_frames()
                self._ended(Ending.FIN)
                break
            self._unfed.extend(data)
        return self._pending.pop(0)

    async def close(self, code: int = 1000, reason: str = "", wait: float = 2.0) -> Closed | None:
        """Send a close frame and wait for the peer's; then close the socket (also when
        cancelled while waiting)."""
        try:
            if self.closed is None and self.protocol.state is State.OPEN:
                self.protocol.send_close(code, reason)
                await self._drain()
                deadline = time.monotonic() + wait
                while self.closed is None and time.monotonic() < deadline:
                    await self.next_event(deadline - time.monotonic())
        finally:
            self.abort()
        return self.closed

    def abort(self) -> None:
        """Close the socket now."""
        self.writer.close()


def store_from_now_on(protocol: ClientProtocol) -> None:
    """Make permessage-deflate, if negotiated, store this connection's next messages (deflate
    level 0) instead of compressing them. A fresh compressor never refers back to what the
    previous one sent, so the stream stays valid for the server's inflater."""
    for extension in protocol.extensions:
        if isinstance(extension, PerMessageDeflate):
            if extension.local_no_context_takeover:  # a compressor per message, from settings
                extension.compress_settings = {**extension.compress_settings, "level": 0}
            else:
                extension.encoder = zlib.compressobj(
                    0, zlib.DEFLATED, -extension.local_max_window_bits)
