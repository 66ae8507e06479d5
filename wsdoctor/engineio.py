"""socket.io's transport, engine.io (protocol 4, socket.io 3 and later), as far as a client that
is not a socket.io client must speak it to be treated as one.

A socket.io server opens every WebSocket with an engine.io open packet
(``0{"sid":"…","pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}``) and then:

- takes any other text, and any binary frame, for a malformed packet and closes (an echo
  probe ends the connection at once);
- pings (``2``) every pingInterval and closes a client that has not answered (``3``) within
  pingTimeout (25 s + 20 s by default);
- closes a client that has not joined a namespace (``40``) within connectTimeout (45 s).

Sources: engine.io-protocol (v4) README "Packet encoding" and "Heartbeat"; socket.io server
options ``pingInterval``, ``pingTimeout``, ``connectTimeout``, ``maxHttpBufferSize``. Measured
against socket.io 4 (Node.js) with its default options.

Pure functions of bytes; no I/O.
"""

from __future__ import annotations

import os
import re

#: The open packet: type 0 and a JSON handshake carrying the session id.
_OPEN = re.compile(rb'0\{.*"sid"\s*:', re.S)
#: The server's heartbeat ping (protocol 4) and the client's answer.
PING = b"2"
PONG = "3"
#: socket.io's CONNECT to the main namespace, and the pattern of its acknowledgement
#: (``40{"sid":"…"}``; a middleware's refusal is ``44{"message":"…"}``).
CONNECT = "40"
CONNECT_ACK = r"^40"
#: The name of the event that carries the large message (no handler: the server drops it).
SIZE_EVENT = "wsdoctor-size"


def is_open_packet(data: bytes, text: bool) -> bool:
    """Whether a first message is engine.io's open packet (the server speaks socket.io)."""
    return text and _OPEN.match(data) is not None


def is_ping(data: bytes, text: bool) -> bool:
    """Whether a message is the server's heartbeat ping."""
    return text and data == PING


def looks_like_engineio(path: str) -> bool:
    """Whether a target's path and query are socket.io's (its open packet is worth waiting
    for): ``/socket.io/`` or ``EIO=`` in the query."""
    return "/socket.io" in path or "EIO=" in path


def sized_event(size: int) -> str:
    """A socket.io EVENT packet of ``size`` bytes, ``42["wsdoctor-size","…"]``, filled with
    random hex so that it stays large however it is compressed; nothing handles it."""
    head, tail = f'42["{SIZE_EVENT}","', '"]'
    fill = max(0, size - len(head) - len(tail))
    return head + os.urandom(fill // 2 + 1).hex()[:fill] + tail


def answer(data: bytes, text: bool, speaking: bool) -> tuple[bool, str | None]:
    """What a socket.io client does with a message: (whether the connection speaks socket.io
    now, the text to send back). The open packet starts it (CONNECT to the main namespace);
    then each heartbeat ping gets its pong."""
    if not speaking and is_open_packet(data, text):
        return True, CONNECT
    if speaking and is_ping(data, text):
        return True, PONG
    return speaking, None

