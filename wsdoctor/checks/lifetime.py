"""Watching an open WebSocket without sending anything: the measurement under the idle,
keepalive and capture checks.

Nothing is sent (nginx re-arms its timer on bytes in either direction), so the end of the
connection shows the idle timeout in force. Server pings are answered by the protocol (that
is traffic, and is recorded). At the cap, one ping tells a live connection from state that
was dropped silently (Azure LB, AWS NLB): no pong within a few seconds means dropped.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import field
from typing import Literal

from websockets.frames import Frame, Opcode

from wsdoctor import engineio
from wsdoctor.checks.base import ProbeContext, Skip
from wsdoctor.checks.past_certificate import upgrade_past_certificate
from wsdoctor.checks.tcp import TcpObservation
from wsdoctor.knowledge import describe_components, next_default
from wsdoctor.records import dataclass
from wsdoctor.wsconn import Closed, Ending, Message, WsConnection
from wsdoctor.wsconnection import AT_ONCE_S

ProbeAnswer = Literal["pong", "no_pong", "reset", "closed"]
ClosedBy = Literal["application", "proxy"]

PROBE_PAYLOAD = b"wsdoctor-idle-probe"


def pong_wait(timeout: float) -> float:
    """How long to wait for the pong of the ping sent at the cap: 'a few seconds'."""
    return min(timeout, 5.0)


@dataclass
class SilentWatch:
    """What one silent connection did. Times are monotonic seconds."""

    opened_at: float
    """When the 101 had arrived."""
    cap: float
    last_traffic_at: float = 0.0
    closed: Closed | None = None
    server_pings: list[float] = field(default_factory=list)
    """Arrival of each server ping, seconds after the 101."""
    messages: int = 0
    first_message: bytes | None = None
    probe_answer: ProbeAnswer | None = None
    """Answer to the ping sent at the cap (None when the connection ended before it)."""
    probe_rtt: float | None = None
    ended_at: float = 0.0
    engine: engineio.EngineIOClient = field(default_factory=engineio.EngineIOClient)
    """socket.io's heartbeat, kept as its clients keep it (answered, or sent for protocol 3)."""

    @property
    def open_s(self) -> float:
        """How long the connection stayed open after the 101 (to its end or to the cap)."""
        end = self.closed.at if self.closed is not None else self.ended_at
        return end - self.opened_at

    @property
    def timeout_s(self) -> float | None:
        """Idle seconds before the close: since the last traffic in either direction (None
        when the connection outlived the wait, or ended only on the ping at the cap)."""
        if self.closed is None or self.probe_answer is not None:
            return None
        return self.closed.at - max(self.opened_at, self.last_traffic_at)

    @property
    def closed_by(self) -> ClosedBy | None:
        """A close frame (or a frame breaking the protocol) comes from the application's
        WebSocket layer; a bare TCP close without one from a proxy (proxies cut the TCP
        connections, they do not speak WS)."""
        if self.closed is None or self.probe_answer is not None:
            return None
        return "application" if self.closed.ending in (Ending.CLOSE_FRAME,
                                                       Ending.PROTOCOL_ERROR) else "proxy"

    @property
    def silent_drop(self) -> bool:
        """Open for the whole wait, but the ping at the end went unanswered or was reset."""
        return self.probe_answer in ("no_pong", "reset")

    @property
    def server_ping_interval(self) -> float | None:
        """Median gap between server pings (the first gap counts from the 101)."""
        if not self.server_pings:
            return None
        times = [0.0, *self.server_pings]
        gaps = sorted(b - a for a, b in itertools.pairwise(times))
        return gaps[len(gaps) // 2]


def heartbeat_hint(timeout: float) -> float:
    """A heartbeat interval that keeps a connection with this idle timeout open: about half,
    rounded down to a readable number (whole seconds from 10 s up)."""
    half = timeout / 2
    if half >= 10:
        return float(int(half))
    return max(round(half - 0.05, 1), 0.1)


def progress_text(elapsed: float, cap: float) -> str:
    """``12 s idle of 90 s — next: 15 s (Envoy route timeout)``."""
    nxt = next_default(elapsed)
    text = f"{elapsed:.0f} s idle of {cap:g} s"
    if nxt and nxt[0].seconds <= cap:
        text += f" — next: {nxt[0].seconds:g} s ({describe_components(nxt)})"
    return text


async def watch_silently(
    conn: WsConnection,
    opened_at: float,
    cap: float,
    wait_for_pong: float,
    *,
    progress: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SilentWatch:
    """Send nothing until the connection ends or ``cap`` seconds pass; then one ping.

    ``progress`` is called about once a second with the elapsed time; ``clock`` is the
    connection's clock (monotonic; tests pass a fake one).
    """
    watch = SilentWatch(opened_at=opened_at, cap=cap, last_traffic_at=opened_at)
    while True:
        elapsed = clock() - opened_at
        if elapsed >= cap:
            break
        if (beat := watch.engine.due(clock())) is not None:  # socket.io 2: the client pings
            await conn.send_text(beat)
        event = await conn.next_event(min(1.0, cap - elapsed))
        if event is None:
            if progress is not None:
                progress(clock() - opened_at)
            continue
        if isinstance(event, Closed):
            watch.closed = event
            watch.ended_at = event.at
            return watch
        _record_traffic(watch, event, clock())
        if isinstance(event, Message):  # socket.io: its heartbeat is the server's ping
            reply = watch.engine.on_message(event.data, event.text, clock())
            if reply == engineio.PONG:
                watch.server_pings.append(clock() - watch.opened_at)
            if reply is not None:
                await conn.send_text(reply)
    watch.ended_at = clock()
    await _probe_with_ping(conn, watch, wait_for_pong, clock)
    return watch


def _record_traffic(watch: SilentWatch, event: Message | Frame, now: float) -> None:
    if isinstance(event, Message):
        watch.messages += 1
        watch.last_traffic_at = event.at
        if watch.first_message is None:
            watch.first_message = event.data[:512]
        return
    if event.opcode is Opcode.CLOSE:
        return  # the close itself, not traffic before it (its Closed event follows)
    watch.last_traffic_at = now
    if event.opcode is Opcode.PING:
        watch.server_pings.append(now - watch.opened_at)


async def _probe_with_ping(conn: WsConnection, watch: SilentWatch, wait_for_pong: float,
                           clock: Callable[[], float]) -> None:
    """One ping at the cap: a pong proves the path still holds the connection."""
    sent = clock()
    await conn.ping(PROBE_PAYLOAD)
    deadline = sent + wait_for_pong
    while (remaining := deadline - clock()) > 0:
        event = await conn.next_event(remaining)
        if event is None:
            break
        if isinstance(event, Closed):
            watch.probe_answer = "reset" if event.ending is Ending.RESET else "closed"
            watch.closed = event
            return
        if isinstance(event, Frame) and event.opcode is Opcode.PONG and \
                bytes(event.data) == PROBE_PAYLOAD:
            watch.probe_answer = "pong"
            watch.probe_rtt = clock() - sent
            return
        _record_traffic(watch, event, clock())
    watch.probe_answer = "no_pong"


def skip_closed_at_once(closed: Closed | None, opened_at: float) -> None:
    """Skip a lifetime measurement whose connection the server ended right after its 101:
    there was no idle time to measure (the messages check names the refusal)."""
    if closed is None or closed.at - opened_at >= AT_ONCE_S:
        return
    how = f"close {closed.code} {closed.reason!r}" if closed.code else f"a {closed.ending.value}"
    raise Skip(f"the server ended the connection right after its 101 ({how}): there is no "
               "idle time to measure (see the messages check)")


def reachable_address(ctx: ProbeContext) -> str:
    """The first address that accepted TCP, or Skip."""
    tcp = ctx.get(TcpObservation)
    reachable = tcp.reachable if tcp is not None else []
    if not reachable:
        raise Skip("no address accepted a TCP connection (see the tcp check)")
    return reachable[0].address


async def open_websocket(ctx: ProbeContext, address: str) -> tuple[WsConnection, float]:
    """Upgrade to ``address``; return the connection and when its 101 arrived, or Skip."""
    attempt, conn, _ = await upgrade_past_certificate(ctx, address)
    opened_at = attempt.received_at or time.monotonic()
    if conn is None:
        status = f"HTTP {attempt.status_code}" if attempt.status_code else attempt.outcome.value
        raise Skip(
            f"the upgrade failed ({status}: {attempt.error or attempt.status_line or ''}); "
            "the handshake check says why"
        )
    return conn, opened_at


def idle_time_limit(idle_max: float, timeout: float) -> float:
    """A lifetime probe's time limit: the cap, the ping at the cap, the upgrades and a margin."""
    return idle_max + pong_wait(timeout) + 3 * timeout + 5.0


def local_port(conn: WsConnection) -> int | None:
    """The client's port of the connection, for matching captured packets (while open)."""
    try:
        sockname = conn.writer.get_extra_info("sockname")
    except AttributeError:  # a TLS transport that is already closed
        return None
    return int(sockname[1]) if sockname else None
