"""Why wsdoctor's WebSocket client failed a connection: the protocol violation the server
committed, named, with the offending bytes quoted.

websockets' sans-I/O protocol says *why* it failed the connection (its parser exception and
the close frame it sent); :class:`FrameSplitter` only delimits frames in the received stream,
so that :class:`~wsdoctor.wsconn.WsConnection` feeds the protocol one frame at a time and
knows *which bytes* the protocol rejected (and never inflates more than one frame at once).
"""

from __future__ import annotations

import enum

from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.frames import Close

from wsdoctor.records import dataclass

#: Bytes of the offending frame kept for the report (header and the start of the payload).
QUOTE_LIMIT = 48
#: Bytes either side of the first invalid byte of a text message.
TEXT_CONTEXT = 16


class ViolationKind(enum.StrEnum):
    """One way a server's frames break RFC 6455 (or wsdoctor's bound on message size)."""

    MASKED_FRAME = "masked_frame"
    """A server frame with the MASK bit set (§5.1: servers must not mask)."""
    RSV_BITS = "rsv_bits"
    """RSV1-3 set although no extension that defines them was negotiated (§5.2)."""
    RESERVED_OPCODE = "reserved_opcode"
    """Opcode 0x3-0x7 or 0xB-0xF (§5.2)."""
    CONTROL_TOO_LONG = "control_too_long"
    """A ping, pong or close frame with more than 125 bytes of payload (§5.5)."""
    CONTROL_FRAGMENTED = "control_fragmented"
    """A control frame without the FIN bit (§5.5)."""
    LENGTH_INVALID = "length_invalid"
    """A 64-bit payload length with its most significant bit set (§5.2), e.g. 2^63."""
    TOO_BIG = "too_big"
    """A message larger than wsdoctor accepts (after inflating, for compressed messages)."""
    CLOSE_CODE_INVALID = "close_code_invalid"
    """A close code that must not be sent (1005, 1006, 1015, unassigned ones) (§7.4)."""
    CLOSE_TOO_SHORT = "close_too_short"
    """A close payload of 1 byte: a code is 2 bytes (§5.5.1)."""
    CLOSE_REASON_NOT_UTF8 = "close_reason_not_utf8"
    """A close reason that is not UTF-8 (§5.5.1)."""
    TEXT_NOT_UTF8 = "text_not_utf8"
    """A text message that is not UTF-8 (§8.1)."""
    FRAGMENTATION = "fragmentation"
    """A continuation frame with no message started, or a new message inside one (§5.4)."""
    DEFLATE = "deflate"
    """Compressed data that does not inflate (permessage-deflate, RFC 7692)."""
    OTHER = "other"
    """Anything else websockets refused."""


@dataclass(frozen=True)
class Violation:
    """The server broke the protocol; wsdoctor's client failed the connection."""

    kind: ViolationKind
    message: str
    """websockets' words for it (``incorrect masking``, ``invalid status code``...)."""
    close_code: int | None
    """The close code wsdoctor's client sent when failing the connection (1002, 1007...)."""
    quoted: bytes
    """The start of the offending frame, or the text around the first invalid byte."""


_MESSAGES = {
    "incorrect masking": ViolationKind.MASKED_FRAME,
    "reserved bits must be 0": ViolationKind.RSV_BITS,
    "RSV1 bit set in continuation frame": ViolationKind.RSV_BITS,
    "invalid opcode": ViolationKind.RESERVED_OPCODE,
    "control frame too long": ViolationKind.CONTROL_TOO_LONG,
    "fragmented control frame": ViolationKind.CONTROL_FRAGMENTED,
    "invalid status code": ViolationKind.CLOSE_CODE_INVALID,
    "close frame too short": ViolationKind.CLOSE_TOO_SHORT,
    "expected a continuation frame": ViolationKind.FRAGMENTATION,
    "unexpected continuation frame": ViolationKind.FRAGMENTATION,
    "incomplete fragmented message": ViolationKind.FRAGMENTATION,
    "decompression failed": ViolationKind.DEFLATE,
}


def classify(exc: BaseException, frame: bytes, close_sent: Close | None) -> Violation:
    """Name the violation behind websockets' parser exception ``exc`` raised on ``frame``."""
    code = close_sent.code if close_sent is not None else None
    quoted = frame[:QUOTE_LIMIT]
    if isinstance(exc, PayloadTooBig):
        kind = ViolationKind.LENGTH_INVALID if _length_msb_set(frame) else ViolationKind.TOO_BIG
        return Violation(kind, str(exc), code, quoted)
    if isinstance(exc, UnicodeDecodeError):
        return Violation(ViolationKind.CLOSE_REASON_NOT_UTF8,
                         f"close reason: {exc.reason} at byte {exc.start}", code, quoted)
    if isinstance(exc, ProtocolError):
        return Violation(_MESSAGES.get(str(exc), ViolationKind.OTHER), str(exc), code, quoted)
    return Violation(ViolationKind.OTHER, f"{type(exc).__name__}: {exc}", code, quoted)


def text_violation(data: bytes, exc: UnicodeDecodeError, close_code: int) -> Violation:
    """A text message that is not UTF-8, quoted around its first invalid byte."""
    start = max(0, exc.start - TEXT_CONTEXT)
    return Violation(ViolationKind.TEXT_NOT_UTF8,
                     f"text message: {exc.reason} at byte {exc.start} of {len(data)}",
                     close_code, data[start:exc.end + TEXT_CONTEXT])


def _length_msb_set(frame: bytes) -> bool:
    """A 64-bit extended payload length whose most significant bit is set."""
    return len(frame) >= 3 and frame[1] & 0x7F == 127 and bool(frame[2] & 0x80)


class FrameSplitter:
    """Delimits WebSocket frames in a byte stream from their headers alone (websockets judges
    them): :meth:`take` says how many of the next bytes belong to the current frame, and
    :attr:`start` keeps that frame's first bytes for quoting."""

    def __init__(self) -> None:
        self.start = bytearray()
        """The current frame's first bytes (at most :data:`QUOTE_LIMIT`)."""
        self._header = bytearray()
        self._left: int | None = None
        """Payload bytes still to come, once the header is complete."""

    @property
    def complete(self) -> bool:
        """The current frame has been taken whole."""
        return self._left == 0

    def next_frame(self) -> None:
        """Start on the next frame."""
        self.start.clear()
        self._header.clear()
        self._left = None

    def take(self, data: bytes | bytearray) -> int:
        """How many bytes at the start of ``data`` belong to the current frame."""
        taken = 0
        while self._left is None and taken < len(data):
            self._header.append(data[taken])
            taken += 1
            self._left = _payload_left(self._header)
        if self._left is not None:
            body = min(self._left, len(data) - taken)
            self._left -= body
            taken += body
        room = QUOTE_LIMIT - len(self.start)
        if room > 0:
            self.start.extend(data[:min(taken, room)])
        return taken


def _payload_left(header: bytearray) -> int | None:
    """The payload length once ``header`` is a complete frame header; None before."""
    if len(header) < 2:
        return None
    short = header[1] & 0x7F
    extra = {126: 2, 127: 8}.get(short, 0)
    mask = 4 if header[1] & 0x80 else 0
    if len(header) < 2 + extra + mask:
        return None
    if extra:
        return int.from_bytes(header[2:2 + extra], "big")
    return short
