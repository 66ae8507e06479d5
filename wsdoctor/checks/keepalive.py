"""keepalive: does a heartbeat keep a WebSocket open past the idle timeout?

Two connections open together: a silent reference (measures the timeout, like ``idle``) and
a heartbeat connection that pings. The heartbeat connection is held until it has outlived
the reference's timeout by a small margin, so the whole check takes about the timeout, and
runs alongside ``idle`` rather than after it.

The pings go at ``--ping-interval`` when given (the application's heartbeat), else at 0.5,
1, 2, 4, 8... s after the 101. That doubling schedule straddles any idle timeout T: the
last ping before T is at T/2 or later, so a connection that traffic keeps alive lives until
at least 1.5 T, well past the moment the reference dies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import field
from typing import Literal

from websockets.frames import Frame, Opcode

from wsdoctor import engineio
from wsdoctor.checks.base import Check, Code, Facts, Hop, Observation, ProbeContext, rule
from wsdoctor.checks.lifetime import (
    SilentWatch,
    heartbeat_hint,
    idle_time_limit,
    open_websocket,
    pong_wait,
    reachable_address,
    skip_closed_at_once,
    watch_silently,
)
from wsdoctor.models import Finding, Fix, Resource, Status
from wsdoctor.records import dataclass
from wsdoctor.wsconn import Closed, Message, WsConnection

FIRST_PING_S = 0.5


def survival_margin(timeout: float) -> float:
    """How long past the reference's end the heartbeat connection must still be open."""
    return min(2.0, max(0.3, 0.05 * timeout))


class KeepaliveObservation(Observation):
    """A pinging connection held alongside a silent one."""

    check: Literal["keepalive"] = "keepalive"
    schedule: Literal["fixed", "doubling"]
    """``fixed``: every ``ping_interval_s``; ``doubling``: at 0.5, 1, 2, 4... s."""
    ping_interval_s: float | None = None
    """The heartbeat interval tried (``--ping-interval``), for the fixed schedule."""
    longest_gap_s: float | None = None
    """Longest time between two pings (or the 101 and the first ping) while the reference
    connection was open."""
    pings_sent: int = 0
    pongs: int = 0
    unanswered_ping: bool = False
    """A ping got no pong within a few seconds (the path dropped the connection)."""
    reference_timeout_s: float | None = None
    """When the silent reference connection was closed (None: it outlived the wait)."""
    reference_silent_drop: bool = False
    open_s: float
    """How long the heartbeat connection stayed open after its 101."""
    ending: Literal["close_frame", "fin", "reset", "protocol_error"] | None = None
    """How the heartbeat connection ended (None: still open when the check stopped)."""
    survived: bool
    """Still open past the reference's timeout plus a margin: traffic keeps it alive."""


@dataclass
class _Heartbeat:
    opened_at: float
    sent: list[float] = field(default_factory=list)
    pongs: int = 0
    unanswered: bool = False
    closed: Closed | None = None
    stopped_at: float = 0.0


def _next_ping(previous: float | None, interval: float | None) -> float:
    """Seconds after the 101 of the ping after ``previous``."""
    if interval is not None:
        return interval if previous is None else previous + interval
    return FIRST_PING_S if previous is None else previous * 2


async def _run_heartbeat(
    conn: WsConnection, opened_at: float, interval: float | None, wait_for_pong: float,
    reference: asyncio.Task[SilentWatch], cap: float,
) -> _Heartbeat:
    """Ping on schedule until the reference has ended and we outlived it, or the cap."""
    beat = _Heartbeat(opened_at=opened_at)
    next_at = _next_ping(None, interval)
    deadline = opened_at + cap
    outstanding: dict[bytes, float] = {}
    engine = engineio.EngineIOClient()
    while True:
        now = time.monotonic()
        if (beat_text := engine.due(now)) is not None:  # socket.io 2: the client pings
            await conn.send_text(beat_text)
        if reference.done():
            ref = reference.result()
            if ref.timeout_s is not None:
                deadline = min(deadline, opened_at + ref.open_s + survival_margin(ref.open_s))
            elif ref.silent_drop or ref.probe_answer is not None:
                deadline = min(deadline, now)
        late = [p for p, at in outstanding.items() if now - at > wait_for_pong]
        if late:
            beat.unanswered = True
            break
        if now >= deadline:
            break
        if now - opened_at >= next_at:
            payload = f"wsdoctor-keepalive-{len(beat.sent)}".encode()
            outstanding[payload] = now
            beat.sent.append(now - opened_at)
            await conn.ping(payload)
            next_at = _next_ping(next_at, interval)
            continue
        wait = min(0.1, deadline - now, opened_at + next_at - now)
        event = await conn.next_event(max(wait, 0.001))
        if isinstance(event, Closed):
            beat.closed = event
            break
        if isinstance(event, Message):  # socket.io: its heartbeat, as its clients do
            reply = engine.on_message(event.data, event.text, time.monotonic())
            if reply is not None:
                await conn.send_text(reply)
        if isinstance(event, Frame) and event.opcode is Opcode.PONG \
                and outstanding.pop(bytes(event.data), None) is not None:
            beat.pongs += 1
    if outstanding and reference.done() and reference.result().silent_drop:
        beat.unanswered = True  # the path went silent while a ping was on its way
    beat.stopped_at = beat.closed.at if beat.closed is not None else time.monotonic()
    return beat


async def probe_keepalive(ctx: ProbeContext) -> KeepaliveObservation:
    """Hold a silent and a pinging connection; see whether the pinging one outlives the other."""
    settings = ctx.settings
    address = reachable_address(ctx)
    silent, silent_at = await open_websocket(ctx, address)
    try:
        beating, beating_at = await open_websocket(ctx, address)
    except BaseException:
        silent.abort()
        raise
    interval = settings.ping_interval
    reference = asyncio.create_task(watch_silently(
        silent, silent_at, settings.idle_max, pong_wait(settings.timeout)))
    try:
        beat = await _run_heartbeat(beating, beating_at, interval, pong_wait(settings.timeout),
                                    reference, settings.idle_max)
        ref = await reference  # if the heartbeat died first, the reference still tells T
    finally:
        if not reference.done():
            reference.cancel()
        silent.abort()
        beating.abort()
    skip_closed_at_once(ref.closed, silent_at)
    skip_closed_at_once(beat.closed, beating_at)
    survived = (
        beat.closed is None and not beat.unanswered and ref.timeout_s is not None
        and beat.stopped_at - beating_at > ref.open_s
    )
    before = [t for t in beat.sent if t < ref.open_s]
    gaps = [b - a for a, b in zip([0.0, *before], before, strict=False)]
    if ref.timeout_s is not None and interval is not None and not before:
        gaps = [interval]
    return KeepaliveObservation(
        schedule="fixed" if interval is not None else "doubling",
        ping_interval_s=interval,
        longest_gap_s=round(max(gaps), 3) if gaps else None,
        pings_sent=len(beat.sent),
        pongs=beat.pongs,
        unanswered_ping=beat.unanswered,
        reference_timeout_s=None if ref.timeout_s is None else round(ref.timeout_s, 3),
        reference_silent_drop=ref.silent_drop,
        open_s=round(beat.stopped_at - beating_at, 3),
        ending=beat.closed.ending.value if beat.closed is not None else None,
        survived=survived,
    )


WORKS = Code("WSD-KEEPALIVE-WORKS", Status.OK, "Heartbeats keep connections open")
TOO_SLOW = Code(
    "WSD-KEEPALIVE-TOO-SLOW", Status.FAIL, "Heartbeat interval longer than the idle timeout"
)
INEFFECTIVE = Code(
    "WSD-KEEPALIVE-INEFFECTIVE", Status.FAIL, "Traffic does not keep connections open"
)
UNANSWERED = Code("WSD-KEEPALIVE-UNANSWERED", Status.FAIL, "A heartbeat ping got no pong")
NOT_NEEDED = Code("WSD-KEEPALIVE-NOT-NEEDED", Status.INFO, "No idle timeout to keep alive for")


def judge_keepalive(facts: Facts) -> Iterator[Finding]:
    """Heartbeat verdict against the reference connection's timeout."""
    obs = facts.get(KeepaliveObservation)
    if obs is None:
        return
    resource = Resource(kind="URL", name=facts.target.url)
    timeout = obs.reference_timeout_s
    tried = f"every {obs.ping_interval_s:g} s" if obs.schedule == "fixed" else \
        "at 0.5, 1, 2, 4... s"
    evidence = {"ping_interval_s": obs.ping_interval_s, "reference_timeout_s": timeout,
                "open_s": obs.open_s, "pings_sent": obs.pings_sent, "pongs": obs.pongs,
                "longest_gap_s": obs.longest_gap_s}
    if obs.unanswered_ping:
        yield UNANSWERED.finding(
            "keepalive", f"A ping sent {tried} got no pong within a few seconds after "
            f"{obs.open_s:.1f} s: the path dropped the connection silently.",
            evidence=evidence, resource=resource,
            fix=Fix(summary="A load balancer drops the connection's state while traffic flows "
                    "or after its own timeout; see the idle check and WSD-IDLE-SILENT-DROP."),
        )
        return
    if timeout is None:
        if obs.reference_silent_drop:
            return  # the idle check reports the silent drop
        yield NOT_NEEDED.finding(
            "keepalive", f"The silent reference connection outlived the wait "
            f"({facts.settings.idle_max:g} s), so there was no timeout for pings to beat.",
            evidence=evidence, resource=resource,
        )
        return
    half = heartbeat_hint(timeout)
    if obs.survived:
        if obs.schedule == "fixed":
            detail = (f"A connection pinging every {obs.ping_interval_s:g} s was still open "
                      f"{obs.open_s:.1f} s after its upgrade, past the {timeout:.1f} s idle "
                      "timeout that closed the silent one.")
        else:
            detail = (f"A connection pinging {tried} (gaps up to {obs.longest_gap_s:g} s) was "
                      f"still open at {obs.open_s:.1f} s, past the {timeout:.1f} s idle timeout "
                      f"that closed the silent one: a heartbeat shorter than {timeout:.0f} s "
                      f"(e.g. every {half:g} s) keeps connections open.")
        yield WORKS.finding("keepalive", detail, evidence=evidence, resource=resource,
                            title=f"Heartbeats {tried} keep connections open past the "
                            f"{timeout:.1f} s idle timeout")
        return
    fix = Fix(summary=f"Send a heartbeat (ping) at most every {half:g} s — half the "
              f"{timeout:.1f} s idle timeout — or raise the idle timeout (see the idle check).")
    if obs.schedule == "fixed" and obs.ping_interval_s is not None \
            and obs.ping_interval_s >= timeout:
        yield TOO_SLOW.finding(
            "keepalive", f"The heartbeat every {obs.ping_interval_s:g} s is longer than the "
            f"{timeout:.1f} s idle timeout: the connection was closed after {obs.open_s:.1f} s, "
            "before the first ping could keep it open.",
            evidence=evidence, resource=resource, fix=fix,
            title=f"Heartbeat every {obs.ping_interval_s:g} s is longer than the "
            f"{timeout:.1f} s idle timeout",
        )
        return
    if obs.ending == "close_frame":
        yield INEFFECTIVE.finding(
            "keepalive", f"A connection pinging {tried} was closed by the application with a "
            f"close frame after {obs.open_s:.1f} s, like the silent one ({timeout:.1f} s): its "
            "own idle timeout does not count pings as activity.",
            evidence=evidence, resource=resource,
            title="The application closes connections that only send pings",
            fix=Fix(summary="Send application messages as the heartbeat (or make the server "
                    "count pings as activity), more often than its idle timeout."))
        return
    yield INEFFECTIVE.finding(
        "keepalive", f"A connection pinging {tried} was closed after {obs.open_s:.1f} s, like "
        f"the silent one ({timeout:.1f} s): the limit counts total lifetime or requests, not "
        "idle time, so heartbeats cannot help (GCP backend-service timeout: 30 s; plain Envoy "
        "route timeout: 15 s).",
        evidence=evidence, resource=resource,
        fix=Fix(summary="Raise the per-request or lifetime limit: GKE BackendConfig "
                "spec.timeoutSec, Envoy route 'timeout: 0s'; clients must reconnect anyway."),
    )


def summarize_keepalive(obs: Observation) -> str:
    """``pings every 1 s outlive the 2.0 s timeout``."""
    assert isinstance(obs, KeepaliveObservation)
    tried = f"pings every {obs.ping_interval_s:g} s" if obs.schedule == "fixed" else \
        "doubling pings"
    if obs.unanswered_ping:
        return f"{tried}: a ping went unanswered after {obs.open_s:.1f} s"
    if obs.reference_timeout_s is None:
        return f"{tried}; no idle timeout to beat"
    verdict = "outlive" if obs.survived else "do not outlive"
    return f"{tried} {verdict} the {obs.reference_timeout_s:.1f} s idle timeout"


CHECK = Check(
    id="keepalive",
    title="Heartbeats",
    hop=Hop.IDLE,
    probe=probe_keepalive,
    needs=("tcp",),
    rules=(rule(judge_keepalive),),
    codes=(WORKS, TOO_SLOW, INEFFECTIVE, UNANSWERED, NOT_NEEDED),
    default=False,
    time_limit=lambda s: idle_time_limit(s.idle_max, s.timeout) + 2.0,
    summarize=summarize_keepalive,
)
