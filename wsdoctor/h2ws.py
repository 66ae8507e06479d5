"""A WebSocket over HTTP/2 (RFC 8441): TLS with ALPN h2, the server's SETTINGS (does it
advertise SETTINGS_ENABLE_CONNECT_PROTOCOL?), an extended CONNECT with ``:protocol
websocket``, then RFC 6455 frames in the stream's DATA — the path browsers take when a server
offers it. Built on the ``h2`` library's sans-I/O connection and websockets' frame protocol.

Imported only once ALPN chose h2 (:mod:`wsdoctor.h2alpn`): h2 costs ~25 ms to import and
most servers answer WebSockets over HTTP/1.1.
"""

from __future__ import annotations

import asyncio
import ssl
import time

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    Event,
    RemoteSettingsChanged,
    ResponseReceived,
    StreamEnded,
    StreamReset,
)
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from wsdoctor.h2alpn import H2Attempt, text
from wsdoctor.httpbody import body_text
from wsdoctor.models import Target
from wsdoctor.settings import Settings
from wsdoctor.wsconn import Closed, Ending, Message

READ_SIZE = 65536
BODY_QUOTE = 512


class H2WebSocket:
    """An open WebSocket on one HTTP/2 stream: send messages, pings and close; receive events
    (the same events as :class:`wsdoctor.wsconn.WsConnection`)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 conn: H2Connection, stream_id: int) -> None:
        self.reader, self.writer, self.conn, self.stream_id = reader, writer, conn, stream_id
        self.protocol = Protocol(Side.CLIENT, state=State.OPEN, max_size=16 * 1024 * 1024)
        self.closed: Closed | None = None
        self._pending: list[Message | Frame | Closed] = []
        self._fragments: list[bytes] = []
        self._text = False

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            try:
                if chunk:
                    self.conn.send_data(self.stream_id, chunk)
                else:
                    self.conn.end_stream(self.stream_id)
            except ProtocolError:  # the stream is already closed
                pass
        self.writer.write(self.conn.data_to_send())

    async def _drain(self) -> None:
        self._flush()
        try:
            await self.writer.drain()
        except (ConnectionError, OSError):
            self._ended(Ending.RESET)

    async def send_text(self, text: str) -> None:
        """Send a text message."""
        self.protocol.send_text(text.encode())
        await self._drain()

    async def send_binary(self, data: bytes) -> None:
        """Send a binary message."""
        self.protocol.send_binary(data)
        await self._drain()

    async def ping(self, payload: bytes) -> None:
        """Send a ping frame."""
        self.protocol.send_ping(payload)
        await self._drain()

    def _ended(self, ending: Ending) -> None:
        if self.closed is None:
            close = self.protocol.close_rcvd
            self.closed = Closed(ending=Ending.CLOSE_FRAME if close else ending,
                                 at=time.monotonic(), code=close.code if close else None,
                                 reason=close.reason if close else None)
            self._pending.append(self.closed)

    def _take(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, DataReceived) and event.stream_id == self.stream_id:
                self.conn.acknowledge_received_data(event.flow_controlled_length, self.stream_id)
                self.protocol.receive_data(event.data)
            elif isinstance(event, StreamEnded) and event.stream_id == self.stream_id:
                self.protocol.receive_eof()
                self._frames()
                self._ended(Ending.FIN)
            elif isinstance(event, ConnectionTerminated) or (
                    isinstance(event, StreamReset) and event.stream_id == self.stream_id):
                self._ended(Ending.RESET)
        self._frames()

    def _frames(self) -> None:
        for frame in self.protocol.events_received():
            if not isinstance(frame, Frame):
                continue
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                self._text, self._fragments = frame.opcode is Opcode.TEXT, [bytes(frame.data)]
            elif frame.opcode is Opcode.CONT:
                self._fragments.append(bytes(frame.data))
            else:
                self._pending.append(frame)
                continue
            if frame.fin:
                self._pending.append(Message(self._text, b"".join(self._fragments),
                                             time.monotonic()))
        if self.protocol.close_rcvd is not None:
            self._ended(Ending.CLOSE_FRAME)
        self._flush()

    async def next_event(self, timeout: float | None) -> Message | Frame | Closed | None:
        """The next message, control frame or end; None when ``timeout`` passes first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._pending:
            if self.closed is not None:
                return self.closed
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            try:
                async with asyncio.timeout(remaining):
                    data = await self.reader.read(READ_SIZE)
            except TimeoutError:
                return None
            except (OSError, ssl.SSLError):
                self._ended(Ending.RESET)
                break
            if not data:
                self._ended(Ending.FIN)
                break
            try:
                self._take(self.conn.receive_data(data))
            except ProtocolError:
                self._ended(Ending.RESET)
        return self._pending.pop(0)

    async def close(self, code: int = 1000, reason: str = "", wait: float = 2.0) -> Closed | None:
        """The closing handshake on the stream, then the connection ends."""
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
        """Close the TCP connection now."""
        self.writer.close()


def extended_connect_headers(target: Target, settings: Settings) -> list[tuple[str, str]]:
    """The RFC 8441 request: ``:method CONNECT``, ``:protocol websocket``, the path and
    authority, ``sec-websocket-version: 13``, and the user's headers (names in lower case,
    as HTTP/2 wants)."""
    headers = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
               (":path", target.path), (":authority", target.host_header),
               ("sec-websocket-version", "13")]
    if settings.origin:
        headers.append(("origin", settings.origin))
    if settings.subprotocols:
        headers.append(("sec-websocket-protocol", ", ".join(settings.subprotocols)))
    for name, value in (*settings.identity_headers(), *settings.request_headers()):
        headers.append((name.lower(), value))
    return headers


async def _read_until(reader: asyncio.StreamReader, conn: H2Connection,
                      writer: asyncio.StreamWriter, done: type[Event] | tuple[type[Event], ...],
                      seen: list[Event]) -> Event | None:
    """Feed the connection until an event of type ``done`` arrives; None when it closes."""
    while True:
        data = await reader.read(READ_SIZE)
        if not data:
            return None
        events = conn.receive_data(data)
        writer.write(conn.data_to_send())
        seen.extend(events)
        for event in events:
            if isinstance(event, done):
                return event


async def h2_session(attempt: H2Attempt, target: Target, settings: Settings,
                     reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                     ) -> tuple[H2Attempt, H2WebSocket | None]:
    """On a TLS connection where ALPN chose h2: read the server's SETTINGS and, when it
    advertises extended CONNECT, open a WebSocket on a stream. The caller closes it."""
    timeout = settings.timeout
    try:
        conn = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        seen: list[Event] = []
        async with asyncio.timeout(timeout):
            changed = await _read_until(reader, conn, writer, RemoteSettingsChanged, seen)
        if not isinstance(changed, RemoteSettingsChanged):
            attempt.error = "the server closed the connection before its SETTINGS"
            writer.close()
            return attempt, None
        attempt.settings = {_setting_name(k): v.new_value
                            for k, v in changed.changed_settings.items()}
        attempt.connect_protocol = conn.remote_settings.get(
            SettingCodes.ENABLE_CONNECT_PROTOCOL, 0) == 1
        if not attempt.connect_protocol:
            writer.close()
            return attempt, None
        return await _extended_connect(attempt, target, settings, reader, writer, conn)
    except (OSError, TimeoutError, ssl.SSLError, ProtocolError) as exc:
        attempt.error = attempt.error or (f"no answer within {timeout:g} s"
                                          if isinstance(exc, TimeoutError) else
                                          f"{type(exc).__name__}: {exc}")
        writer.close()
        return attempt, None
    except BaseException:
        writer.close()
        raise


async def _extended_connect(attempt: H2Attempt, target: Target, settings: Settings,
                            reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            conn: H2Connection) -> tuple[H2Attempt, H2WebSocket | None]:
    stream_id = conn.get_next_available_stream_id()
    conn.send_headers(stream_id, extended_connect_headers(target, settings))
    writer.write(conn.data_to_send())
    start = time.perf_counter()
    seen: list[Event] = []
    async with asyncio.timeout(settings.timeout):
        answer = await _read_until(reader, conn, writer,
                                   (ResponseReceived, StreamReset, ConnectionTerminated), seen)
    attempt.connect_s = round(time.perf_counter() - start, 6)
    if isinstance(answer, ResponseReceived):
        attempt.headers = [(text(k), text(v)) for k, v in answer.headers or []]
        status = next((v for k, v in attempt.headers if k == ":status"), "")
        attempt.status = int(status) if status.isdigit() else None
        if attempt.status == 200:
            session = H2WebSocket(reader, writer, conn, stream_id)
            session._take([e for e in seen if isinstance(e, DataReceived)])
            return attempt, session
        attempt.body_start = await _body(reader, conn, writer, stream_id, seen)
    elif isinstance(answer, StreamReset):
        attempt.reset = _error_name(answer.error_code)
    elif isinstance(answer, ConnectionTerminated):
        attempt.reset = f"GOAWAY {_error_name(answer.error_code)}" + _debug(answer)
    else:
        attempt.error = "the server closed the connection before answering"
    writer.close()
    return attempt, None


async def _body(reader: asyncio.StreamReader, conn: H2Connection, writer: asyncio.StreamWriter,
                stream_id: int, seen: list[Event]) -> bytes:
    """The start of a refusal's body (short wait: it is only quoted)."""
    body = b"".join(e.data or b"" for e in seen if isinstance(e, DataReceived))
    try:
        async with asyncio.timeout(0.5):
            while len(body) < BODY_QUOTE and not any(
                    isinstance(e, StreamEnded | StreamReset) for e in seen):
                more: list[Event] = []
                if await _read_until(reader, conn, writer, (DataReceived, StreamEnded), more) \
                        is None:
                    break
                seen.extend(more)
                body += b"".join(e.data or b"" for e in more if isinstance(e, DataReceived))
    except (TimeoutError, OSError, ProtocolError):
        pass
    return body[:BODY_QUOTE]


def _debug(goaway: ConnectionTerminated) -> str:
    """A GOAWAY's debug data, quoted (servers say why there: ``too_many_streams``). Untrusted
    text: redacted by the runner and escaped by the renderers like a refusal's body."""
    data = (goaway.additional_data or b"")[:BODY_QUOTE].decode("utf-8", "replace")
    quote = body_text(data, 160)
    return f", debug data: '{quote}'" if quote else ""


def _setting_name(code: object) -> str:
    try:
        return SettingCodes(code).name  # type: ignore[arg-type]
    except ValueError:
        return f"SETTING_{code}"


def _error_name(code: object) -> str:
    try:
        return ErrorCodes(code).name  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return f"0x{code:x}" if isinstance(code, int) else str(code)  # as RFC 9113 lists them
