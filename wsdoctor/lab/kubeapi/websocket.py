"""The server side of an already upgraded WebSocket, for the fake API's connect
subresources: websockets' sans-I/O protocol over a socket the handler thread owns."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()


class WebSocketServer:
    """Server side of an already upgraded WebSocket: websockets' sans-I/O protocol, frames
    reassembled into messages; pings and the closing handshake answered."""

    def __init__(self, send_raw: Callable[[bytes], None]) -> None:
        self.protocol = Protocol(Side.SERVER, state=State.OPEN, max_size=None)
        self.send_raw = send_raw
        self._parts: list[bytes] = []

    def feed(self, data: bytes) -> list[bytes]:
        """Bytes from the client → complete messages (text as UTF-8 bytes)."""
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        messages = []
        for event in self.protocol.events_received():
            if isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.BINARY,
                                                             Opcode.CONT):
                self._parts.append(bytes(event.data))
                if event.fin:
                    messages.append(b"".join(self._parts))
                    self._parts = []
        self.flush()
        return messages

    @property
    def closed(self) -> bool:
        return self.protocol.state in (State.CLOSING, State.CLOSED)

    def send(self, message: bytes, text: bool = False) -> None:
        if self.protocol.state is State.OPEN:
            if text:
                self.protocol.send_text(message)
            else:
                self.protocol.send_binary(message)
            self.flush()

    def close(self, code: int = 1000) -> None:
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code)
            self.flush()

    def flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.send_raw(chunk)
