"""socket.io's transport, engine.io (protocol 4, socket.io 3 and later; protocol 3, socket.io 2),
as far as a client that is not a socket.io client must speak it to be treated as one.

A socket.io server opens every WebSocket with an engine.io open packet
(``0{"sid":"…","pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}``) and then:

- takes any other text, and any binary frame, for a malformed packet and closes (an echo
  probe ends the connection at once);
- pings (``2``) every pingInterval and closes a client that has not answered (``3``) within
  pingTimeout (25 s + 20 s by default);
- closes a client that has not joined a namespace (``40``) within connectTimeout (45 s).

Protocol 3 (``EIO=3``, socket.io 2 servers, or socket.io 3/4 with ``allowEIO3``) turns the
heartbeat round: the *client* pings (``2``) every pingInterval and the server answers (``3``),
closing a client silent for pingInterval + pingTimeout (25 s + 5 s by socket.io 2's
defaults); the server joins the main namespace by itself (``40`` unasked). Its open packet
has no ``maxPayload``, which protocol 4's always carries.

Sources: engine.io-protocol (v4) README "Packet encoding" and "Heartbeat", and its v3 README
"Heartbeat" (the client sends the ping); socket.io server
options ``pingInterval``, ``pingTimeout``, ``connectTimeout``, ``maxHttpBufferSize``. Measured
against socket.io 4 (Node.js) with its default options.

Pure functions of bytes; no I/O.
"""

from __future__ import annotations

import json
import math
import os
import re

from wsdoctor.records import dataclass

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


def open_info(data: bytes) -> tuple[int, float]:
    """(protocol, ping interval in seconds) of an open packet: protocol 4 names
    ``maxPayload``, protocol 3 does not."""
    try:
        handshake = json.loads(data[1:])
    except ValueError:
        return 4, 25.0
    if not isinstance(handshake, dict):
        return 4, 25.0
    interval = handshake.get("pingInterval")
    seconds = interval / 1000 if isinstance(interval, int | float) and interval > 0 else 25.0
    return (4 if "maxPayload" in handshake else 3), seconds


@dataclass
class EngineIOClient:
    """What a socket.io client does on one connection, for the checks that hold one: join
    the main namespace and answer the server's pings (protocol 4), or send the pings itself
    (protocol 3)."""

    speaking: bool = False
    """The server opened with engine.io's open packet."""
    version: int = 4
    interval: float = 25.0
    next_ping_at: float = math.inf
    """When a protocol 3 client's next ping is due (the caller's clock)."""

    def on_message(self, data: bytes, text: bool, now: float) -> str | None:
        """The text to send back to a message, if any."""
        if not self.speaking and is_open_packet(data, text):
            self.speaking = True
            self.version, self.interval = open_info(data)
            if self.version == 3:
                self.next_ping_at = now + self.interval
                return None  # socket.io 2 joins the main namespace unasked
            return CONNECT
        if self.speaking and self.version == 4 and is_ping(data, text):
            return PONG
        return None

    def due(self, now: float) -> str | None:
        """The client's ping, when protocol 3 wants one by ``now``."""
        if now < self.next_ping_at:
            return None
        self.next_ping_at = now + self.interval
        return PING.decode()
