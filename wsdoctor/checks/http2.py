"""http2: does the server negotiate HTTP/2, and does it offer WebSockets over it (RFC 8441,
``SETTINGS_ENABLE_CONNECT_PROTOCOL``)? When it does, browsers open their WebSockets that way,
on a different code path with different timeouts: the extended CONNECT is made, and frames,
pings and the close are tested on that stream too.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any, Literal

from websockets.frames import Frame, Opcode

from wsdoctor import engineio
from wsdoctor.checks.base import Check, Code, Facts, Hop, Observation, ProbeContext, Skip, rule
from wsdoctor.checks.handshake import HandshakeObservation, HeaderField
from wsdoctor.checks.messages_app import AppExchange, Ended, app_exchange, socketio_settings
from wsdoctor.checks.messages_model import MessagesObservation
from wsdoctor.checks.tcp import TcpObservation
from wsdoctor.httpbody import body_text
from wsdoctor.models import EvidenceValue, Finding, Fix, Model, Resource, Status, endpoint
from wsdoctor.redact import redact_header
from wsdoctor.wsconn import Closed, Message
from wsdoctor.wsconnection import AT_ONCE_S

#: Pings on the HTTP/2 path: enough to see frames flow both ways.
H2_PINGS = 3


class Http2Attempt(Model):
    """HTTP/2 and its WebSocket on one address."""

    address: str
    port: int
    alpn: str | None = None
    """What the server chose in ALPN when offered h2 and http/1.1."""
    connect_protocol: bool | None = None
    """SETTINGS_ENABLE_CONNECT_PROTOCOL = 1: the server offers WebSockets over HTTP/2."""
    settings: dict[str, int] = {}
    """The server's SETTINGS, by name."""
    status: int | None = None
    """``:status`` of the extended CONNECT (200 is HTTP/2's 101)."""
    headers: list[HeaderField] = []
    body_start: str = ""
    reset: str | None = None
    """HTTP/2 error code of a RST_STREAM or GOAWAY instead of an answer (its name, or ``0x...``
    for a code no RFC names), with a GOAWAY's debug data quoted."""
    error: str | None = None
    connect_s: float | None = None
    """From the extended CONNECT to its response headers."""
    echo: Literal["echoed", "no_echo"] | None = None
    app: AppExchange | None = None
    pings_sent: int = 0
    pings_answered: int = 0
    ping_median_s: float | None = None
    ending: str | None = None
    """How the stream ended: ``close 1000`` (the closing handshake), ``fin``, ``reset``,
    ``timeout`` (no close frame back), or ``server: ...`` when the server ended it early."""

    @property
    def endpoint(self) -> str:
        """``addr:port`` with IPv6 brackets."""
        return endpoint(self.address, self.port)

    @property
    def upgraded(self) -> bool:
        """The extended CONNECT was accepted."""
        return self.status == 200


class Http2Observation(Observation):
    """HTTP/2 negotiation and the RFC 8441 WebSocket on every address."""

    check: Literal["http2"] = "http2"
    url: str
    attempts: list[Http2Attempt]


H2_REFUSED = Code("WSD-HTTP2-WEBSOCKET-REFUSED", Status.FAIL,
                  "HTTP/2 WebSockets are advertised, but the extended CONNECT is refused")
H2_BROKEN = Code("WSD-HTTP2-WEBSOCKET-BROKEN", Status.FAIL,
                 "The WebSocket over HTTP/2 opens, but frames do not flow")
H2_NO_WEBSOCKET = Code("WSD-HTTP2-NO-WEBSOCKET", Status.INFO,
                       "HTTP/2 without WebSockets: browsers use HTTP/1.1 for them")
H2_EXPECT_MISMATCH = Code("WSD-HTTP2-EXPECT-MISMATCH", Status.FAIL,
                          "Over HTTP/2 the application's reply does not match --expect")
CODES = (H2_REFUSED, H2_BROKEN, H2_NO_WEBSOCKET, H2_EXPECT_MISMATCH)


async def _ping(conn: object, index: int, timeout: float) -> float | None:
    from wsdoctor.h2ws import H2WebSocket

    assert isinstance(conn, H2WebSocket)
    payload = f"wsdoctor-h2-{index}-{os.urandom(4).hex()}".encode()
    start = time.perf_counter()
    await conn.ping(payload)
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        event = await conn.next_event(remaining)
        if event is None:
            return None
        if isinstance(event, Closed):
            raise Ended(event)
        if isinstance(event, Frame) and event.opcode is Opcode.PONG and \
                bytes(event.data) == payload:
            return round(time.perf_counter() - start, 6)
    return None


async def _first_message(conn: object, socketio_url: bool, timeout: float) -> Message | None:
    """The server's first message, if it sends one before the client does (waiting briefly,
    or up to a second for a socket.io URL). Raises :class:`Ended` if the stream ends."""
    from wsdoctor.h2ws import H2WebSocket

    assert isinstance(conn, H2WebSocket)
    deadline = time.monotonic() + (min(timeout, 1.0) if socketio_url else AT_ONCE_S)
    while (remaining := deadline - time.monotonic()) > 0:
        event = await conn.next_event(remaining)
        if event is None or isinstance(event, Message):
            return event
        if isinstance(event, Closed):
            raise Ended(event)
    return None


async def _exercise(ctx: ProbeContext, address: str, verify: bool) -> Http2Attempt:
    from wsdoctor.h2alpn import open_h2_websocket

    target, settings = ctx.target, ctx.settings
    try:
        seen, conn = await open_h2_websocket(target, address, settings, verify)
    except (OSError, TimeoutError) as exc:
        return Http2Attempt(address=address, port=target.port, error=f"{exc}")
    user = frozenset(h.name.lower() for h in settings.headers)
    found: dict[str, Any] = {
        "address": address, "port": target.port, "alpn": seen.alpn,
        "connect_protocol": seen.connect_protocol, "settings": seen.settings,
        "status": seen.status, "reset": seen.reset, "error": seen.error,
        "connect_s": seen.connect_s,
        "headers": [HeaderField(name=n, value=redact_header(n, v, user)) for n, v in seen.headers],
        "body_start": seen.body_start.decode("utf-8", "replace"),
    }
    if conn is None:
        return Http2Attempt(**found)
    step = "echo"
    try:
        first = await _first_message(conn, engineio.looks_like_engineio(target.path),
                                     settings.timeout)
        if settings.send or settings.expect is not None:
            step = "application messages"
            found["app"] = await app_exchange(conn, settings)
        elif first is not None and engineio.is_open_packet(first.data, first.text):
            step = "socket.io connect"  # socket.io closes on an echo probe: join instead
            joined = await app_exchange(conn, socketio_settings(settings))
            found["app"] = joined.model_copy(update={"purpose": "socket.io connect"})
        else:
            await conn.send_text(f"wsdoctor h2 echo {os.urandom(4).hex()}")
            event = await conn.next_event(settings.echo_wait)
            if isinstance(event, Closed):
                raise Ended(event)
            found["echo"] = "echoed" if isinstance(event, Message) else "no_echo"
        step = "pings"
        rtts = []
        for index in range(min(settings.pings, H2_PINGS) or 1):
            rtt = await _ping(conn, index, settings.timeout)
            if rtt is None:
                break
            rtts.append(rtt)
        found["pings_sent"] = min(settings.pings, H2_PINGS) or 1
        found["pings_answered"] = len(rtts)
        found["ping_median_s"] = sorted(rtts)[len(rtts) // 2] if rtts else None
        closed = await conn.close(1000, "wsdoctor done", wait=settings.timeout)
        found["ending"] = "timeout" if closed is None else (
            f"close {closed.code}" if closed.code else closed.ending.value)
    except Ended as ended:
        conn.abort()
        how = f"close {ended.closed.code}" if ended.closed.code else ended.closed.ending.value
        found["ending"] = f"server: {how} during {step}"
    except BaseException:
        conn.abort()
        raise
    return Http2Attempt(**found)


async def probe_http2(ctx: ProbeContext) -> Http2Observation:
    """On every reachable address: ALPN with h2 offered, the SETTINGS, and when extended
    CONNECT is advertised, a WebSocket on a stream with an echo (or --send), pings, a close."""
    if not ctx.target.secure:
        raise Skip("the target is ws://: browsers speak HTTP/2 only over TLS (wss://)")
    tcp = ctx.get(TcpObservation)
    addresses = [a.address for a in tcp.reachable] if tcp else []
    if not addresses:
        raise Skip("no address accepts TCP connections (see the tcp check)")
    handshake = ctx.get(HandshakeObservation)
    untrusted = {a.address for a in handshake.attempts if a.certificate_error} \
        if handshake else set()
    insecure = ctx.settings.insecure
    attempts = await asyncio.gather(*(
        _exercise(ctx, a, verify=not insecure and a not in untrusted) for a in addresses))
    if not any(_tested(a) for a in attempts):
        raise Skip("not tested: the TLS handshake failed on every address, so HTTP/2 could "
                   f"not be negotiated ({attempts[0].error})")
    return Http2Observation(url=ctx.target.url, attempts=list(attempts))


def _tested(attempt: Http2Attempt) -> bool:
    """Whether ALPN was negotiated at all (a TLS or connection failure says nothing of h2)."""
    return attempt.alpn is not None or attempt.error is None


def judge_http2(facts: Facts) -> Iterator[Finding]:
    """Advertised but refused, or open but silent; HTTP/2 without WebSockets is information."""
    obs = facts.get(Http2Observation)
    if obs is None:
        return
    handshake = facts.get(HandshakeObservation)
    h1_refused = {a.address for a in handshake.attempts if a.outcome != "upgraded"} \
        if handshake is not None else set()
    for attempt in obs.attempts:
        where = Resource(kind="Address", name=attempt.endpoint)
        evidence: dict[str, EvidenceValue] = {
            "alpn": attempt.alpn, "enable_connect_protocol": attempt.connect_protocol,
            "status": attempt.status, "reset": attempt.reset, "error": attempt.error,
            "ending": attempt.ending}
        evidence = {k: v for k, v in evidence.items() if v is not None}
        server = next((h.value for h in attempt.headers if h.name == "server"), None)
        if attempt.connect_protocol and not attempt.upgraded and \
                attempt.address not in h1_refused:  # else the handshake check's cause
            answer = f":status {attempt.status}" if attempt.status else \
                f"a reset ({attempt.reset})" if attempt.reset else attempt.error or "nothing"
            body = body_text(attempt.body_start, 160)
            yield H2_REFUSED.finding(
                "http2", f"{attempt.endpoint}: the server negotiates h2 and sets "
                "SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, yet the extended CONNECT for "
                f"{obs.url} got {answer}" + (f" (server: {server})" if server else "")
                + (f", body: '{body}'" if body else "") + ". Browsers that see the setting "
                "(Chrome, Firefox) open their WebSockets this way and fail, while HTTP/1.1 "
                "clients, wsdoctor's handshake check included, pass.",
                evidence=evidence, resource=where,
                fix=Fix(summary="Make the HTTP/2 path accept WebSocket extended CONNECT (look "
                        "for a rule that denies CONNECT or HTTP/2 requests, or a backend that "
                        "does not speak it), or stop advertising it: HAProxy's global "
                        "h2-workaround-bogus-websocket-clients; Envoy/Istio allow_connect "
                        "off; or offer only http/1.1 in ALPN."))
        elif attempt.upgraded and (attempt.pings_answered < attempt.pings_sent or
                                   (attempt.ending or "").startswith("server:")):
            yield H2_BROKEN.finding(
                "http2", f"{attempt.endpoint}: the extended CONNECT got :status 200, then "
                f"{attempt.pings_answered} of {attempt.pings_sent} pings were answered"
                + (f" and the stream ended: {attempt.ending}" if attempt.ending else "") + ".",
                evidence=evidence, resource=where,
                fix=Fix(summary="Something on the HTTP/2 path does not carry the stream's DATA "
                        "both ways: check the proxy's HTTP/2 WebSocket support and its "
                        "stream timeouts (they differ from HTTP/1.1 tunnel timeouts)."))
        elif attempt.alpn == "h2" and attempt.connect_protocol is False:
            yield H2_NO_WEBSOCKET.finding(
                "http2", f"{attempt.endpoint}: the server negotiates HTTP/2 but does not set "
                "SETTINGS_ENABLE_CONNECT_PROTOCOL: browsers open WebSockets on a separate "
                "HTTP/1.1 connection (what the handshake check tests).",
                evidence=evidence, resource=where)


def judge_http2_app(facts: Facts) -> Iterator[Finding]:
    """The application's reply over HTTP/2 that does not match ``--expect`` while the HTTP/1.1
    one did (or was not tested): browsers that open WebSockets over HTTP/2 get another answer.
    When the HTTP/1.1 reply does not match either, the messages check's finding says it."""
    obs = facts.get(Http2Observation)
    if obs is None:
        return
    messages = facts.get(MessagesObservation)
    over_h1 = messages.app if messages is not None else None
    if over_h1 is not None and over_h1.matched is False:
        return
    for attempt in obs.attempts:
        app = attempt.app
        if app is None or app.matched is not False:
            continue
        sent = "; ".join(app.sent) or "nothing"
        seen = " | ".join(f"'{r}'" for r in app.received)
        answer = f"{app.received_count} message(s) arrived within {app.waited_s:.1f} s and " \
            f"none matches {app.expect!r}: {seen}" if app.received else \
            f"nothing arrived within {app.waited_s:.1f} s"
        h1 = "over HTTP/1.1 the reply matched" if over_h1 is not None and over_h1.matched \
            else "HTTP/1.1 was not tested with it (the messages check did not run)"
        yield H2_EXPECT_MISMATCH.finding(
            "http2", f"{attempt.endpoint}: over HTTP/2 (RFC 8441 extended CONNECT), after "
            f"sending {sent}, {answer}; {h1}. Browsers that open WebSockets over HTTP/2 "
            "(Chrome, Firefox, when the server advertises it) get this answer.",
            evidence={"sent": [*app.sent], "expect": app.expect, "received": [*app.received],
                      "received_count": app.received_count,
                      "http1_matched": over_h1.matched if over_h1 is not None else None},
            resource=Resource(kind="Address", name=attempt.endpoint),
            fix=Fix(summary="Find what differs on the HTTP/2 route: the proxy may send HTTP/2 "
                    "requests to another backend or drop a header the application needs when "
                    "it turns the extended CONNECT into an upgrade; or stop advertising "
                    "SETTINGS_ENABLE_CONNECT_PROTOCOL (HAProxy "
                    "h2-workaround-bogus-websocket-clients, Envoy allow_connect off)."))


def summarize_http2(obs: Observation) -> str:
    """``h2, extended CONNECT :status 200 in 1.2 ms, echo ok, 3/3 pings, close 1000``."""
    assert isinstance(obs, Http2Observation)
    first = next((a for a in obs.attempts if _tested(a)), None)
    if first is None:
        return "not tested: the TLS handshake failed on every address"
    if first.alpn != "h2":
        return f"no HTTP/2: ALPN chose {first.alpn or 'nothing'}" + (
            f" ({first.error})" if first.error else "")
    if not first.connect_protocol:
        return "h2 without WebSockets (no SETTINGS_ENABLE_CONNECT_PROTOCOL)"
    if not first.upgraded:
        got = f":status {first.status}" if first.status else first.reset or first.error
        return f"h2 WebSockets advertised, extended CONNECT refused: {got}"
    parts = ["h2 extended CONNECT :status 200"
             + (f" in {first.connect_s * 1000:.1f} ms" if first.connect_s is not None else "")]
    if first.app is not None and first.app.purpose == "socket.io connect":
        parts.append("socket.io namespace joined" if first.app.matched
                     else "socket.io namespace refused")
    elif first.app is not None:
        parts.append("reply matched" if first.app.matched else "app messages sent")
    elif first.echo:
        parts.append("echo ok" if first.echo == "echoed" else "no echo")
    parts.append(f"{first.pings_answered}/{first.pings_sent} pings")
    if first.ending:
        parts.append(first.ending)
    return ", ".join(parts)


CHECK = Check(
    id="http2",
    title="WebSocket over HTTP/2",
    hop=Hop.UPGRADE,
    probe=probe_http2,
    needs=("tcp", "handshake"),
    rules=(rule(judge_http2, "handshake"), rule(judge_http2_app, "messages")),
    codes=CODES,
    summarize=summarize_http2,
    time_limit=lambda s: s.timeout * 8 + s.echo_wait + 2.0,
)
