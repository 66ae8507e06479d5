"""messages: after a 101, do frames flow? Text and binary echo (when the app echoes),
ping/pong round trips, one large message to reveal frame or buffer limits, a clean close.

One fresh connection to the first address that upgraded in the handshake check.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from collections.abc import Iterator
from typing import Any, Literal

from websockets.frames import Frame, Opcode

from wsdoctor import engineio
from wsdoctor.checks.base import Check, Code, Facts, Hop, ProbeContext, rule
from wsdoctor.checks.messages_app import CODES as APP_CODES
from wsdoctor.checks.messages_app import (
    Ended,
    MaxMessage,
    app_exchange,
    bisect_max_message,
    judge_app_exchange,
    judge_max_message,
    message_kind,
    socketio_settings,
)
from wsdoctor.checks.messages_model import (  # re-exported: the observation's home
    EchoResult,
    LargeMessageResult,
    MessagesObservation,
    PingStats,
    human_size,
    summarize_messages,
)
from wsdoctor.checks.messages_open import Opening, opening_on_first_upgraded, wait_for_event
from wsdoctor.checks.messages_protocol import CODES as ENDING_CODES
from wsdoctor.checks.messages_protocol import (
    ConnectionEnd,
    ProtocolViolation,
    ServerPings,
    judge_end,
    judge_pings,
)
from wsdoctor.checks.proxy_rules import through_proxy
from wsdoctor.models import Finding, Fix, Resource, Status
from wsdoctor.wsconn import (
    Message,
    WsConnection,
    message_limit,
    upgrade,
)

NO_ECHO = Code("WSD-MESSAGES-NO-ECHO", Status.INFO,
               "The application does not echo; only pings were measured")
PING_UNANSWERED = Code("WSD-MESSAGES-PING-UNANSWERED", Status.FAIL, "Pings got no pong")
TOO_BIG = Code("WSD-MESSAGES-TOO-BIG", Status.WARN, "A large message was refused (close 1009)")
LARGE_LOST = Code("WSD-MESSAGES-LARGE-LOST", Status.WARN,
                  "A large message broke the connection or was lost")
UPGRADE_FAILED = Code("WSD-MESSAGES-UPGRADE-FAILED", Status.FAIL,
                      "A second upgrade to the same address failed")


async def _echo(conn: WsConnection, kind: Literal["text", "binary"], wait: float,
                greetings: int = 0) -> EchoResult:
    payload = f"wsdoctor {kind} echo {os.urandom(6).hex()}".encode()
    start = time.perf_counter()
    if kind == "text":
        await conn.send_text(payload.decode())
    else:
        await conn.send_binary(payload)
    event, others = await wait_for_event(
        conn, lambda e: isinstance(e, Message) and e.data == payload, wait)
    return EchoResult(kind=kind, size=len(payload), echoed=event is not None,
                      rtt_s=round(time.perf_counter() - start, 6) if event else None,
                      other_messages=others + greetings)


async def _ping_once(conn: WsConnection, index: int, timeout: float) -> float | None:
    payload = f"wsdoctor-{index}-{os.urandom(4).hex()}".encode()
    start = time.perf_counter()
    await conn.ping(payload)
    event, _ = await wait_for_event(
        conn, lambda e: isinstance(e, Frame) and e.opcode is Opcode.PONG
        and bytes(e.data) == payload, timeout)
    return round(time.perf_counter() - start, 6) if event is not None else None


async def _join_socketio(conn: WsConnection, timeout: float) -> bool:
    """On a fresh connection to socket.io: its open packet, then CONNECT to the main namespace
    and its acknowledgement (socket.io closes a client that sends to a namespace it has not
    joined)."""
    try:
        await wait_for_event(conn, lambda e: isinstance(e, Message), timeout)
        await conn.send_text(engineio.CONNECT)
        ack, _ = await wait_for_event(conn, lambda e: isinstance(e, Message) and bool(
            re.match(engineio.CONNECT_ACK.encode(), e.data)), timeout)
    except Ended:
        return False
    return ack is not None


def ping_stats(sent: int, rtts: list[float]) -> PingStats:
    """Min, median, p95 (nearest rank) and max of the answered round trips."""
    if not rtts:
        return PingStats(sent=sent, answered=0)
    ordered = sorted(rtts)
    p95 = ordered[max(0, -(-95 * len(ordered) // 100) - 1)]
    return PingStats(sent=sent, answered=len(rtts), rtts_s=rtts, min_s=ordered[0],
                     median_s=round(statistics.median(ordered), 6), p95_s=p95, max_s=ordered[-1])


async def _large(conn: WsConnection, size: int, echoes: bool, timeout: float,
                 socketio: bool = False) -> LargeMessageResult:
    payload = os.urandom(size)  # incompressible, so the proxy really carries `size` bytes
    start = time.perf_counter()
    try:
        if socketio:  # a binary frame is a malformed packet to socket.io: an event it drops
            await conn.send_text(engineio.sized_event(size))
        else:
            await conn.send_binary(payload, incompressible=True)
        if echoes:
            event, _ = await wait_for_event(
                conn, lambda e: isinstance(e, Message) and len(e.data) == size, timeout)
            outcome: Literal["echoed", "delivered", "timeout"] = "echoed" if event else "timeout"
        else:
            answered = await _ping_once(conn, -1, timeout)
            outcome = "delivered" if answered is not None else "timeout"
    except Ended as ended:
        closed = ended.closed
        if closed.violation is not None:
            raise  # the connection's end, judged as a protocol violation
        return LargeMessageResult(
            size=size, outcome="closed" if closed.ending == "close_frame"
            else closed.ending.value,  # type: ignore[arg-type]  # fin, reset or timeout
            duration_s=round(time.perf_counter() - start, 6),
            close_code=closed.code, close_reason=closed.reason)
    return LargeMessageResult(size=size, outcome=outcome,
                              duration_s=round(time.perf_counter() - start, 6))


async def _exchange(conn: WsConnection, ctx: ProbeContext, found: dict[str, Any],
                    opening: Opening) -> None:
    """The steps in order, after the opening; each result goes into ``found`` as soon as it
    exists."""
    settings = ctx.settings
    first, greetings = opening.first, opening.greetings
    socketio = isinstance(first, Message) and engineio.is_open_packet(first.data, first.text)
    if socketio:
        found["protocol"] = "socket.io"
    echoes = False
    if settings.send or settings.expect is not None:
        # The application's own protocol: no echo probe that it might take for garbage.
        found["during"] = "application messages"
        found["app"] = await app_exchange(conn, settings)
    elif socketio:  # join the main namespace, as a socket.io client does, instead of an echo
        found["during"] = "socket.io connect"
        joined = await app_exchange(conn, socketio_settings(settings))
        found["app"] = joined.model_copy(update={"purpose": "socket.io connect"})
    else:
        found["during"] = "text echo"
        text = await _echo(conn, "text", settings.echo_wait, greetings)
        found["text_echo"], found["echoes"] = text, text.echoed
        echoes = text.echoed
    if echoes:
        found["during"] = "binary echo"
        found["binary_echo"] = await _echo(conn, "binary", settings.echo_wait)
    found["during"] = "pings"
    rtts: list[float] = []
    for index in range(settings.pings):
        rtt = await _ping_once(conn, index, settings.timeout)
        if rtt is None:
            break
        rtts.append(rtt)
        ctx.progress(f"ping {index + 1}/{settings.pings}", (index + 1) / (settings.pings + 2))
    found["pings"] = ping_stats(settings.pings, rtts)
    if settings.message_size:
        found["during"] = "large message"
        found["large_message"] = await _large(conn, settings.message_size, echoes,
                                              settings.timeout, socketio)


async def probe_messages(ctx: ProbeContext) -> MessagesObservation:
    """Echo, pings, a large message and a close on one fresh connection."""
    opening, first = await opening_on_first_upgraded(ctx)
    verify = False if first.certificate_error else None
    attempt, conn = opening.attempt, opening.conn
    base: dict[str, Any] = {"address": first.address, "port": first.port,
            "upgrade_outcome": attempt.outcome.value, "upgrade_error": attempt.error}
    if conn is None:
        return MessagesObservation(**base)
    found: dict[str, Any] = {"during": "opening"}
    try:
        if opening.ended is not None:
            raise opening.ended
        await _exchange(conn, ctx, found, opening)
    except Ended as ended:
        conn.abort()
        closed = ended.closed
        found["end"] = ConnectionEnd(
            by="server", ending=closed.ending.value, code=closed.code, reason=closed.reason,
            during=str(found.get("during")),
            violation=ProtocolViolation.of(closed.violation) if closed.violation else None)
    except BaseException:  # cancelled (a time limit above us): never leave the socket open
        conn.abort()
        raise
    large = found.get("large_message")
    if "end" not in found and isinstance(large, LargeMessageResult) \
            and large.outcome in ("closed", "fin", "reset"):
        conn.abort()
    elif "end" not in found:
        found["end"] = await _close(conn, ctx.settings.timeout)
    found.pop("during", None)
    if conn.pings_received:
        found["server_pings"] = ServerPings(
            count=len(conn.pings_received),
            span_s=round(conn.pings_received[-1] - conn.pings_received[0], 6))
    if ctx.settings.find_max_message:
        found["max_message"] = await _find_max(ctx, first.address, verify, found)
    return MessagesObservation(**base, **found)


async def _find_max(ctx: ProbeContext, address: str, verify: bool | None,
                    found: dict[str, object]) -> MaxMessage:
    """Bisect the largest message on fresh connections (a refused one ends its connection)."""
    echoes = found.get("echoes") is True
    socketio = found.get("protocol") == "socket.io"

    async def try_size(size: int) -> tuple[bool, str]:
        ctx.progress(f"message size {human_size(size)}")
        # The echo of ``size`` must fit: the limit grows with the probe, and only with it.
        _, conn = await upgrade(ctx.target, address, ctx.settings, verify=verify,
                                max_size=max(message_limit(ctx.settings), 2 * size))
        if conn is None:
            return False, "the upgrade failed"
        try:
            if socketio and not await _join_socketio(conn, ctx.settings.timeout):
                conn.abort()
                return False, "socket.io did not acknowledge the namespace CONNECT"
            result = await _large(conn, size, echoes, ctx.settings.timeout, socketio)
        except BaseException:
            conn.abort()
            raise
        conn.abort()
        ok = result.outcome in ("echoed", "delivered")
        how = f"close {result.close_code}" if result.close_code else result.outcome
        return ok, how

    large = found.get("large_message")
    known_ok = known_refused = None
    if isinstance(large, LargeMessageResult):
        if large.outcome in ("echoed", "delivered"):
            known_ok = large.size
        else:
            known_refused = large.size
    return await bisect_max_message(try_size, known_ok, known_refused)


async def _close(conn: WsConnection, timeout: float) -> ConnectionEnd:
    start = time.perf_counter()
    closed = await conn.close(1000, "wsdoctor done", wait=timeout)
    took = round(time.perf_counter() - start, 6)
    if closed is None:
        return ConnectionEnd(by="client", ending="timeout", duration_s=took)
    return ConnectionEnd(by="client", ending=closed.ending.value, code=closed.code,
                         reason=closed.reason, duration_s=took)


def judge_messages(facts: Facts) -> Iterator[Finding]:
    """Each step that went wrong, named with the address and what ended the connection."""
    obs = facts.get(MessagesObservation)
    if obs is None:
        return
    where = Resource(kind="Address", name=obs.endpoint)
    if obs.upgrade_outcome != "upgraded":
        yield UPGRADE_FAILED.finding(
            "messages", f"{obs.endpoint} upgraded in the handshake check, then answered a "
            f"second upgrade with: {obs.upgrade_error or obs.upgrade_outcome}. Backends behind "
            "this address answer differently: one replica or one proxy instance is broken.",
            evidence={"outcome": obs.upgrade_outcome, "error": obs.upgrade_error},
            resource=where, fix=Fix(summary="Run wsdoctor a few times and compare; check each "
                                    "replica's readiness and logs."))
        return
    if obs.echoes is False and obs.text_echo is not None:
        others = obs.text_echo.other_messages
        yield NO_ECHO.finding(
            "messages", f"Nothing came back within {facts.settings.echo_wait:g} s of a text "
            "message" + (f" ({others} other messages arrived)" if others else "")
            + ": the application does not echo, which is normal for most apps; "
            "ping round trips were measured instead.",
            evidence={"other_messages": others}, resource=where)
    if obs.end is not None:
        for found in judge_end(obs.end, obs.endpoint, where):  # no close frame: the proxy's?
            yield through_proxy(found, facts.settings.proxy) \
                if obs.end.by == "server" and obs.end.ending in ("fin", "reset") else found
    yield from judge_pings(obs.server_pings, obs.endpoint, where)
    pings = obs.pings
    if pings is not None and pings.answered < pings.sent:
        yield PING_UNANSWERED.finding(
            "messages", f"{pings.answered} of {pings.sent} pings were answered within "
            f"{facts.settings.timeout:g} s. RFC 6455 requires a pong; clients with a heartbeat "
            "(and the websockets library by default) close connections whose pings go unanswered.",
            evidence={"sent": pings.sent, "answered": pings.answered}, resource=where,
            fix=Fix(summary="Let the WebSocket library answer pings (do not block its event "
                    "loop); check that no proxy filters control frames."))
    yield from _judge_large(obs, where)
    yield from judge_app_exchange(obs.app, obs.endpoint, where)
    yield from judge_max_message(obs.max_message, obs.endpoint, where, obs.protocol)


def _judge_large(obs: MessagesObservation, where: Resource) -> Iterator[Finding]:
    large = obs.large_message
    if large is None or large.outcome in ("echoed", "delivered"):
        return
    what = f"{human_size(large.size)} {message_kind(obs.protocol)}"
    if large.close_code == 1009:
        yield TOO_BIG.finding(
            "messages", f"{obs.endpoint}: a {what} was refused with close 1009 (message too "
            "big" + (f", '{large.close_reason}'" if large.close_reason else "") + ").",
            evidence={"size": large.size, "close_code": 1009}, resource=where,
            fix=Fix(summary="If clients send messages this large, raise the application's "
                    "max message size (websockets: max_size; ws: maxPayload; Spring: "
                    "setMaxBinaryMessageBufferSize); otherwise ignore, or test with a smaller "
                    "--message-size."))
        return
    how = {"closed": f"a close frame (code {large.close_code}, '{large.close_reason or ''}')",
           "fin": "a TCP FIN with no close frame", "reset": "a TCP reset",
           "timeout": "nothing: no echo or pong came back within the time limit"}[large.outcome]
    yield LARGE_LOST.finding(
        "messages", f"{obs.endpoint}: after a {what} the server answered with "
        f"{how}. Small messages pass, so a size limit on the path (a proxy buffer, a WAF body "
        "limit, an application read limit) stopped it.",
        evidence={"size": large.size, "outcome": large.outcome, "close_code": large.close_code},
        resource=where,
        fix=Fix(summary="Find the component with a message or buffer limit below this size "
                "(the application's max message size, a WAF/API gateway body limit) and "
                "raise it, or keep messages smaller."))


CHECK = Check(
    id="messages",
    title="Messages over WebSocket",
    hop=Hop.MESSAGES,
    probe=probe_messages,
    needs=("handshake",),
    starts_after=("tcp",),
    rules=(rule(judge_messages),),
    codes=(NO_ECHO, PING_UNANSWERED, TOO_BIG, LARGE_LOST, UPGRADE_FAILED, *ENDING_CODES,
           *APP_CODES),
    summarize=summarize_messages,
    time_limit=lambda s: s.timeout * 7 + s.echo_wait * 2 + 2.0
    + (s.timeout if s.send or s.expect is not None else 0.0)
    + (s.timeout * 3 * 12 if s.find_max_message else 0.0),
)

__all__ = [
    "CHECK",
    "ConnectionEnd",
    "EchoResult",
    "LargeMessageResult",
    "MessagesObservation",
    "PingStats",
    "human_size",
    "summarize_messages",
]
