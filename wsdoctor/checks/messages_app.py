"""Two steps of the messages check beyond echo and pings: the application's own messages
(``--send``) with the reply held against ``--expect``, and the largest message the path
accepts, found by bisection (``--find-max-message``). Probe steps, their results and their
rules side by side; :mod:`wsdoctor.checks.messages` runs and judges them."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Literal, Protocol

from websockets.frames import Frame

from wsdoctor import engineio
from wsdoctor.checks.base import Code
from wsdoctor.models import EvidenceValue, Finding, Fix, Model, Resource, Status
from wsdoctor.settings import SendMessage, Settings
from wsdoctor.wsconn import Closed, Message

#: Received messages are quoted escaped and cut to this many characters.
QUOTE_CHARS = 200
#: At most this many received messages are kept as evidence.
QUOTED_MESSAGES = 3
#: Bisection bounds: 1 KiB passes everywhere; beyond 64 MiB is not a useful answer.
BISECT_LOW = 1024
BISECT_HIGH = 64 * 1024 * 1024
BISECT_STEPS = 12


class AppExchange(Model):
    """The application's own messages sent, and what came back."""

    sent: list[str]
    """What was sent, described without its content (``text, 42 bytes``; ``@auth.bin, 9
    bytes``): a message may carry a token."""
    expect: str | None = None
    matched: bool | None = None
    """The reply matched ``--expect`` (None: nothing was expected)."""
    reply_s: float | None = None
    """From sending the last message to the matching reply (or to the first reply)."""
    received: list[str] = []
    """The first messages received after the last one sent, escaped and cut short."""
    received_count: int = 0
    waited_s: float = 0.0
    purpose: Literal["send", "socket.io connect"] = "send"
    """``send``: the user's ``--send``/``--expect``; ``socket.io connect``: wsdoctor joined a
    socket.io server's main namespace, as its clients do, instead of an echo probe."""


class MaxMessage(Model):
    """The largest binary message the path carried, found by bisection."""

    largest_ok: int | None = None
    """The largest size that was delivered (None: not even the smallest)."""
    smallest_refused: int | None = None
    """The smallest size that was refused (None: none up to the cap was)."""
    refused_how: str | None = None
    """How the smallest refused size ended: ``close 1009``, ``reset``, ``timeout``..."""
    tries: int = 0


def quote(message: Message) -> str:
    """A received message as it may be quoted: text escaped, binary as escaped bytes; cut."""
    if message.text:
        text = message.data.decode("utf-8", "replace")
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:QUOTE_CHARS])
    else:
        raw = message.data[:QUOTE_CHARS].decode("latin-1")
        shown = "binary: " + "".join(c if c.isprintable() and ord(c) < 127
                                     else f"\\x{ord(c):02x}" for c in raw)
    more = len(message.data) > QUOTE_CHARS
    return shown + (f"… ({len(message.data)} bytes)" if more else "")


class MessageChannel(Protocol):
    """An open WebSocket, over HTTP/1.1 (``WsConnection``) or an HTTP/2 stream."""

    async def send_text(self, text: str) -> None: ...
    async def send_binary(self, data: bytes) -> None: ...
    async def next_event(self, timeout: float | None) -> Message | Frame | Closed | None: ...


class Ended(Exception):
    """The server ended the connection while a step was under way."""

    def __init__(self, closed: Closed) -> None:
        super().__init__(closed.ending)
        self.closed = closed


async def app_exchange(conn: MessageChannel, settings: Settings) -> AppExchange:
    """Send ``--send`` messages in order, then read until ``--expect`` matches (or the first
    reply, without it) or the time limit passes. Raises :class:`Ended` if the server ends."""
    pattern = re.compile(settings.expect) if settings.expect is not None else None
    for message in settings.send:
        if message.binary is not None:
            await conn.send_binary(message.binary)
        else:
            await conn.send_text(message.text or "")
    start = time.perf_counter()
    received: list[Message] = []
    matched: bool | None = None if pattern is None else False
    reply_s: float | None = None
    wait = settings.timeout if pattern is not None else settings.echo_wait
    deadline = time.monotonic() + wait
    while (remaining := deadline - time.monotonic()) > 0:
        event = await conn.next_event(remaining)
        if event is None:
            break
        if isinstance(event, Closed):
            raise Ended(event)
        if not isinstance(event, Message):
            continue
        received.append(event)
        if reply_s is None and pattern is None:
            reply_s = round(time.perf_counter() - start, 6)
            break
        text = event.data.decode("utf-8", "replace")
        if pattern is not None and pattern.search(text):
            matched, reply_s = True, round(time.perf_counter() - start, 6)
            break
    return AppExchange(
        sent=[f"{m.source}, {len(m.payload)} bytes" for m in settings.send],
        expect=settings.expect, matched=matched, reply_s=reply_s,
        received=[quote(m) for m in received[:QUOTED_MESSAGES]],
        received_count=len(received), waited_s=round(time.perf_counter() - start, 6))


def socketio_settings(settings: Settings) -> Settings:
    """The messages a socket.io client sends first: CONNECT to the main namespace, whose
    acknowledgement is expected."""
    return settings.model_copy(update={
        "send": [SendMessage(text=engineio.CONNECT, source="socket.io CONNECT")],
        "expect": engineio.CONNECT_ACK})


SizeTry = Callable[[int], Awaitable[tuple[bool, str]]]


async def bisect_max_message(try_size: SizeTry, known_ok: int | None,
                             known_refused: int | None) -> MaxMessage:
    """The largest size ``try_size`` accepts, between what is already known (the default
    large message passed or not) and the bounds, in at most :data:`BISECT_STEPS` tries."""
    low = known_ok or 0
    high = known_refused
    how: str | None = None
    tries = 0
    if high is None:  # grow until something is refused, or the cap
        size = max(low * 4, BISECT_LOW)
        while size <= BISECT_HIGH and tries < BISECT_STEPS:
            tries += 1
            ok, what = await try_size(size)
            if not ok:
                high, how = size, what
                break
            low = size
            size *= 4
        if high is None:
            return MaxMessage(largest_ok=low or None, tries=tries)
    while tries < BISECT_STEPS and high - low > max(1024, low // 64):
        middle = (low + high) // 2
        tries += 1
        ok, what = await try_size(middle)
        if ok:
            low = middle
        else:
            high, how = middle, what
    return MaxMessage(largest_ok=low or None, smallest_refused=high, refused_how=how,
                      tries=tries)


def payload(size: int) -> bytes:
    """Incompressible bytes, so the path really carries ``size`` bytes."""
    return os.urandom(size)


EXPECT_MISMATCH = Code("WSD-MESSAGES-EXPECT-MISMATCH", Status.FAIL,
                       "The application's reply did not match --expect")
NO_REPLY = Code("WSD-MESSAGES-NO-REPLY", Status.WARN,
                "The application did not answer the messages sent")
MAX_MESSAGE = Code("WSD-MESSAGES-MAX-SIZE", Status.INFO,
                   "The largest message the path accepts")
CODES = (EXPECT_MISMATCH, NO_REPLY, MAX_MESSAGE)


def judge_app_exchange(app: AppExchange | None, endpoint: str,
                       where: Resource) -> Iterator[Finding]:
    """A reply that does not match --expect (quoting what came), or no reply at all; for a
    socket.io server, its namespace CONNECT refused or unanswered."""
    if app is None:
        return
    if app.purpose == "socket.io connect" and app.matched is False:
        yield _socketio_refused(app, endpoint, where)
        return
    sent = "; ".join(app.sent) or "nothing (waiting for the first message)"
    evidence: dict[str, EvidenceValue] = {"sent": [*app.sent], "expect": app.expect,
                                          "received": [*app.received],
                                          "received_count": app.received_count}
    if app.matched is False:
        if app.received:
            seen = " | ".join(f"'{r}'" for r in app.received)
            more = f" (and {app.received_count - len(app.received)} more)" \
                if app.received_count > len(app.received) else ""
            detail = (f"{endpoint}: after sending {sent}, {app.received_count} message(s) "
                      f"arrived within {app.waited_s:.1f} s and none matches {app.expect!r}: "
                      f"{seen}{more}.")
        else:
            detail = (f"{endpoint}: after sending {sent}, nothing arrived within "
                      f"{app.waited_s:.1f} s, so nothing could match {app.expect!r}.")
        yield EXPECT_MISMATCH.finding(
            "messages", detail, evidence=evidence, resource=where,
            fix=Fix(summary="Compare the reply quoted with what the application should send: "
                    "the message sent may be malformed or unauthorised (read the quoted "
                    "error), the application may answer more slowly than --timeout, or the "
                    "--expect pattern may be wrong (it is searched, as Python's re.search)."))
    elif app.matched is None and app.received_count == 0 and app.sent:
        yield NO_REPLY.finding(
            "messages", f"{endpoint}: after sending {sent}, nothing arrived within "
            f"{app.waited_s:.1f} s. Many applications answer nothing to a message they do not "
            "understand; give --expect with the reply you expect to test it.",
            evidence=evidence, resource=where,
            fix=Fix(summary="Send a message the application answers (--send), with the reply "
                    "expected (--expect REGEX), or raise --timeout for a slow answer."))


def message_kind(protocol: str | None) -> str:
    """What the large test message was: socket.io takes a text event, anything else binary."""
    return "socket.io event (one text frame)" if protocol == "socket.io" else "binary message"


def judge_max_message(found: MaxMessage | None, endpoint: str, where: Resource,
                      protocol: str | None = None) -> Iterator[Finding]:
    """The bisection's answer, as information."""
    if found is None:
        return
    if found.smallest_refused is None:
        detail = (f"{endpoint}: every size up to {found.largest_ok} bytes passed "
                  f"({found.tries} tries); no limit below the {BISECT_HIGH >> 20} MiB cap.")
    else:
        detail = (f"{endpoint}: the largest {message_kind(protocol)} that passed is "
                  f"{found.largest_ok or 0} bytes; {found.smallest_refused} bytes was refused "
                  f"({found.refused_how}); {found.tries} tries.")
    yield MAX_MESSAGE.finding(
        "messages", detail, resource=where,
        evidence={"largest_ok": found.largest_ok, "smallest_refused": found.smallest_refused,
                  "refused_how": found.refused_how, "tries": found.tries})


def _socketio_refused(app: AppExchange, endpoint: str, where: Resource) -> Finding:
    """socket.io answered its namespace CONNECT with something else than its acknowledgement
    (a middleware's ``44{"message":…}``), or not at all."""
    said = " | ".join(f"'{r}'" for r in app.received)
    answer = f"it answered {said}" if app.received else \
        f"nothing came within {app.waited_s:.1f} s"
    return EXPECT_MISMATCH.finding(
        "messages", f"{endpoint} speaks socket.io (its first message was engine.io's open "
        "packet), so wsdoctor joined the main namespace as socket.io clients do (CONNECT, "
        f"'40'), expecting the acknowledgement '40{{\"sid\":…}}'; {answer}. A '44' packet is "
        "a CONNECT_ERROR: a middleware (io.use) or the namespace refused this client, and its "
        "message says why.", resource=where,
        evidence={"sent": [*app.sent], "expect": app.expect, "received": [*app.received],
                  "received_count": app.received_count},
        title="socket.io refused the namespace connection",
        fix=Fix(summary="Send what the socket.io middleware checks (a token with -H "
                "'Authorization: …' or -H 'Cookie: …', an --origin it allows); a server that "
                "reads the token from the CONNECT packet's auth payload is tested with --send "
                "'40{\"token\":\"…\"}' --expect '^40'."))

