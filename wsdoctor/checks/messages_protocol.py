"""How the messages check's connection ended, judged: a close or FIN from the server, an
unanswered close, a server that accepts the upgrade and closes at once, frames wsdoctor's
client (like every RFC 6455 client, browsers included) refuses — one code per protocol
violation, each quoting the offending bytes — and a ping flood.

:mod:`wsdoctor.checks.messages` records :class:`ConnectionEnd` and :class:`ServerPings` in
its observation and judges them with :func:`judge_end` and :func:`judge_pings`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from wsdoctor.checks.base import Code
from wsdoctor.models import Finding, Fix, Model, Resource, Status
from wsdoctor.wsviolations import Violation, ViolationKind

#: A ping flood: at least this many pings from the server, at least this many per second.
FLOOD_MIN_PINGS = 50
FLOOD_MIN_RATE = 10.0


class ProtocolViolation(Model):
    """A frame the client refused; the client failed the connection with ``close_code``."""

    kind: ViolationKind
    message: str
    """websockets' words (``incorrect masking``, ``invalid status code``...)."""
    close_code: int | None = None
    """The close code wsdoctor sent when failing the connection (1002, 1007, 1009)."""
    quoted: str
    """The start of the offending frame (or the text around the invalid byte): printable
    ASCII as is, every other byte as ``\\xNN``, at most 48 bytes."""

    @classmethod
    def of(cls, violation: Violation) -> ProtocolViolation:
        """The report's view of a violation seen by the connection."""
        return cls(kind=violation.kind, message=violation.message,
                   close_code=None if violation.close_code is None else int(violation.close_code),
                   quoted=quote_bytes(violation.quoted))


Ending = Literal["close_frame", "fin", "reset", "timeout", "protocol_error"]


class ConnectionEnd(Model):
    """How the connection ended, and who ended it."""

    by: Literal["client", "server"]
    ending: Ending
    code: int | None = None
    reason: str | None = None
    during: str | None = None
    """The step under way when the server ended it (``opening`` before wsdoctor sent
    anything, ``text echo``, ``pings``, …)."""
    duration_s: float | None = None
    """For a client close: from sending the close frame to the peer's answer."""
    violation: ProtocolViolation | None = None
    """For ``protocol_error``: the frame the client refused, and why."""


class ServerPings(Model):
    """Pings the server sent while the messages check ran (each answered with a pong)."""

    count: int
    span_s: float
    """From the first to the last ping."""


def quote_bytes(data: bytes) -> str:
    r"""Printable ASCII as is, ``\`` and every other byte escaped (``\x81``)."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in data)


def _code(kind: str, status: Status, title: str) -> Code:
    return Code(f"WSD-FRAMES-{kind}", status, title)


VIOLATION_CODES: dict[ViolationKind, Code] = {
    ViolationKind.MASKED_FRAME: _code("MASKED", Status.FAIL, "The server sent a masked frame"),
    ViolationKind.RSV_BITS: _code(
        "RSV-BITS", Status.FAIL, "The server set reserved bits that no negotiated extension "
        "defines"),
    ViolationKind.RESERVED_OPCODE: _code(
        "RESERVED-OPCODE", Status.FAIL, "The server sent a frame with a reserved opcode"),
    ViolationKind.CONTROL_TOO_LONG: _code(
        "CONTROL-TOO-LONG", Status.FAIL, "The server sent a control frame over 125 bytes"),
    ViolationKind.CONTROL_FRAGMENTED: _code(
        "CONTROL-FRAGMENTED", Status.FAIL, "The server sent a fragmented control frame"),
    ViolationKind.LENGTH_INVALID: _code(
        "LENGTH-INVALID", Status.FAIL, "The server sent a frame length with its top bit set"),
    ViolationKind.TOO_BIG: _code(
        "TOO-BIG", Status.WARN, "The server sent a message larger than wsdoctor accepts"),
    ViolationKind.CLOSE_CODE_INVALID: _code(
        "CLOSE-CODE-INVALID", Status.FAIL, "The server sent a close code that must not be sent"),
    ViolationKind.CLOSE_TOO_SHORT: _code(
        "CLOSE-TOO-SHORT", Status.FAIL, "The server sent a close frame with a 1-byte payload"),
    ViolationKind.CLOSE_REASON_NOT_UTF8: _code(
        "CLOSE-REASON-NOT-UTF8", Status.FAIL, "The server's close reason is not UTF-8"),
    ViolationKind.TEXT_NOT_UTF8: _code(
        "TEXT-NOT-UTF8", Status.FAIL, "The server sent a text message that is not UTF-8"),
    ViolationKind.FRAGMENTATION: _code(
        "FRAGMENTATION", Status.FAIL, "The server fragmented a message wrongly"),
    ViolationKind.DEFLATE: _code(
        "DEFLATE-ERROR", Status.FAIL, "The server sent compressed data that does not inflate"),
    ViolationKind.OTHER: _code(
        "PROTOCOL-ERROR", Status.FAIL, "The server broke the WebSocket protocol"),
}
CLOSED_EARLY = Code("WSD-MESSAGES-CLOSED-EARLY", Status.FAIL,
                    "The server ended the connection during the message test")
UNCLEAN_CLOSE = Code("WSD-MESSAGES-UNCLEAN-CLOSE", Status.WARN,
                     "The closing handshake was not answered with a close frame")
PING_FLOOD = _code("PING-FLOOD", Status.WARN, "The server floods the connection with pings")
CLOSED_AT_ONCE = Code("WSD-MESSAGES-CLOSED-AT-ONCE", Status.FAIL,
                      "The server accepted the upgrade and closed the connection at once")
CODES: tuple[Code, ...] = (CLOSED_EARLY, UNCLEAN_CLOSE, CLOSED_AT_ONCE, PING_FLOOD,
                           *VIOLATION_CODES.values())

#: What each violation is, in a sentence, and what usually causes it.
_WHAT: dict[ViolationKind, tuple[str, str]] = {
    ViolationKind.MASKED_FRAME: (
        "a masked frame (RFC 6455 section 5.1: a server must never mask)",
        "The server (or a proxy) relays client frames unchanged, or writes frames by hand with "
        "the client's framing code. Let the WebSocket library write server frames."),
    ViolationKind.RSV_BITS: (
        "a frame with reserved bits set although no extension defining them was negotiated "
        "(section 5.2)",
        "Usually the backend compresses (permessage-deflate sets RSV1) but a proxy removed "
        "Sec-WebSocket-Extensions from the 101, so the client never agreed to compression. "
        "Pass the header through unchanged, or disable compression on the backend."),
    ViolationKind.RESERVED_OPCODE: (
        "a frame with a reserved opcode (section 5.2)",
        "A hand-written or buggy framing layer, or bytes of another protocol on the "
        "connection. Let the WebSocket library write frames."),
    ViolationKind.CONTROL_TOO_LONG: (
        "a ping, pong or close frame with more than 125 bytes of payload (section 5.5)",
        "The application passes a long close reason or ping payload (at most 123 bytes of "
        "reason after the code). Shorten it."),
    ViolationKind.CONTROL_FRAGMENTED: (
        "a control frame without the FIN bit (section 5.5: control frames are never fragmented)",
        "A hand-written or buggy framing layer. Let the WebSocket library write frames."),
    ViolationKind.LENGTH_INVALID: (
        "a 64-bit frame length with its most significant bit set (section 5.2), e.g. 2^63",
        "A corrupt or hostile framing layer: no real message has this length."),
    ViolationKind.TOO_BIG: (
        "a message larger than the limit wsdoctor set for this connection (after inflating)",
        "The application sends very large messages; clients with a smaller limit close with "
        "1009 (websockets' default limit is 1 MiB too). Send smaller messages, or raise "
        "--message-size (wsdoctor accepts twice that size)."),
    ViolationKind.CLOSE_CODE_INVALID: (
        "a close frame with a code that must never be sent (section 7.4.1: 1005, 1006 and 1015 are "
        "reserved for reporting, other codes below 3000 are unassigned)",
        "The application passes a close code it received or made up (often 1006 forwarded "
        "from an upstream connection) to close(). Send 1000, 1001, 1008, 1011 or 4000-4999."),
    ViolationKind.CLOSE_TOO_SHORT: (
        "a close frame with a 1-byte payload (section 5.5.1: empty, or a 2-byte code and a reason)",
        "A hand-written or buggy framing layer. Let the WebSocket library write close frames."),
    ViolationKind.CLOSE_REASON_NOT_UTF8: (
        "a close frame whose reason is not UTF-8 (section 5.5.1)",
        "The application builds the close reason from bytes in another encoding (Latin-1, "
        "a truncated multi-byte character). Encode the reason as UTF-8 and cut it on a "
        "character boundary."),
    ViolationKind.TEXT_NOT_UTF8: (
        "a text message that is not UTF-8 (section 8.1)",
        "The application sends binary data or another encoding in a text frame, or cuts a "
        "message inside a multi-byte character. Send binary frames for bytes; encode text "
        "as UTF-8."),
    ViolationKind.FRAGMENTATION: (
        "fragments out of order: a continuation frame with no message started, or a new "
        "message before the last one ended (section 5.4)",
        "A framing layer that interleaves messages from two writers on one connection. "
        "Serialise writes per connection."),
    ViolationKind.DEFLATE: (
        "compressed data that does not inflate (permessage-deflate, RFC 7692)",
        "The compression context of the server and the client diverged: a proxy that "
        "modifies frames, or a server bug with context takeover. Disable compression to "
        "confirm."),
    ViolationKind.OTHER: (
        "data that breaks the WebSocket protocol",
        "Read the message quoted, and the server's and proxies' logs."),
}


def judge_end(end: ConnectionEnd, endpoint: str, where: Resource) -> Iterator[Finding]:
    """A server that ended the connection (and how), or a close wsdoctor sent that was not
    answered with a close frame."""
    if end.violation is not None:
        yield judge_violation(end.violation, end.during, endpoint, where)
    elif end.by == "server" and end.during == "opening":
        yield judge_closed_at_once(end.ending, end.code, end.reason, endpoint, where)
    elif end.by == "server":
        how = f"a close frame (code {end.code}, reason {end.reason!r})" \
            if end.ending == "close_frame" else f"a TCP {end.ending.upper()}"
        yield CLOSED_EARLY.finding(
            "messages", f"{endpoint}: during the {end.during} step the server ended the "
            f"connection with {how}.",
            evidence={"ending": end.ending, "code": end.code, "reason": end.reason,
                      "during": end.during}, resource=where,
            fix=Fix(summary="A close frame comes from the application (read its reason); a FIN "
                    "or reset with no close frame comes from a proxy or a crash — read the "
                    "proxy's and the application's logs."))
    elif end.ending != "close_frame":
        yield UNCLEAN_CLOSE.finding(
            "messages", f"{endpoint}: wsdoctor sent close 1000 and got "
            + ("no answer" if end.ending == "timeout" else f"a TCP {end.ending.upper()}")
            + " instead of a close frame. Clients then report close code 1006.",
            evidence={"ending": end.ending}, resource=where,
            fix=Fix(summary="Let the WebSocket library complete the closing handshake (answer "
                    "the close frame) before closing the socket."))


def judge_violation(violation: ProtocolViolation, during: str | None, endpoint: str,
                    where: Resource) -> Finding:
    """The finding for the violation that ended the connection."""
    what, cause = _WHAT[violation.kind]
    sent = f" with close {violation.close_code}" if violation.close_code else ""
    return VIOLATION_CODES[violation.kind].finding(
        "messages",
        f"{endpoint}: during the {during or 'message'} step the server sent {what}. "
        f"wsdoctor's client failed the connection{sent}, as browsers and every RFC 6455 "
        f"client do ({violation.message}). The bytes received: {violation.quoted}",
        evidence={"violation": violation.kind.value, "message": violation.message,
                  "bytes": violation.quoted, "close_code_sent": violation.close_code,
                  "during": during},
        resource=where, fix=Fix(summary=cause))


def judge_closed_at_once(ending: str, code: int | None, reason: str | None, endpoint: str,
                         where: Resource) -> Finding:
    """The server upgraded, then closed before wsdoctor sent anything."""
    how = f"a close frame (code {code}, reason {reason!r})" if ending == "close_frame" \
        else f"a TCP {ending.upper()}"
    return CLOSED_AT_ONCE.finding(
        "messages",
        f"{endpoint} answered the upgrade with a valid 101, then ended the connection with "
        f"{how} before wsdoctor sent a single frame. The upgrade itself works: the "
        "application accepted it and then refused this client.",
        evidence={"ending": ending, "code": code, "reason": reason}, resource=where,
        fix=Fix(summary="Read the close reason: applications close at once when "
                "authentication carried after the upgrade (a token, a cookie, an Origin) is "
                "missing or wrong, or when they are shutting down (1001). Send what the "
                "application expects (-H, --origin, --subprotocol) and run again."))


def judge_pings(pings: ServerPings | None, endpoint: str, where: Resource) -> Iterator[Finding]:
    """A ping flood: many pings from the server in a short time."""
    if pings is None or pings.count < FLOOD_MIN_PINGS:
        return
    rate = pings.count / max(pings.span_s, 0.001)
    if rate < FLOOD_MIN_RATE:
        return
    yield PING_FLOOD.finding(
        "messages",
        f"{endpoint} sent {pings.count} pings in {pings.span_s:.2f} s ({rate:.0f} per second) "
        "while the message test ran. Each must be answered with a pong: this costs clients "
        "battery and bandwidth, and slow clients fall behind and are dropped.",
        evidence={"pings": pings.count, "span_s": pings.span_s, "per_second": round(rate, 1)},
        resource=where,
        fix=Fix(summary="Set the server's heartbeat interval in seconds, not milliseconds "
                "(20-30 s is usual); send one ping per interval, not one per message."))
