"""The load engine: one process holding thousands of WebSocket connections.

Each attempt is an ordinary :func:`wsdoctor.wsconn.upgrade` (so a load run connects exactly
as every other check does: ``--resolve``, proxies, client certificates, headers, and a
refused upgrade is recorded with its status, headers and body). Once upgraded, the
connection leaves its streams and task behind: its transport is handed to a
:class:`~wsdoctor.load.held.Held` protocol that feeds websockets' sans-I/O
``ClientProtocol`` directly, so a held connection costs a few KiB and no task.

The ramp opens attempts ``1/rate`` apart; an attempt that gives no connection, or whose
connection the target closes within ``refusal_window_s``, is refused. The ramp stops once
``steady_refusals`` attempts in a row were refused (the cap is the number held when that
streak began), on the client's own limits (open files, local ports), or on ``stop``.
Everything open is closed at the end: a close frame each, then the socket, within
:data:`CLOSE_BUDGET_S` however many there are.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence

from wsdoctor.checks.affinity_probe import replica_header, replica_in_message
from wsdoctor.checks.handshake import record
from wsdoctor.load.causes import ended_cause, failed_attempt_cause
from wsdoctor.load.client import ClientMeter
from wsdoctor.load.held import Held
from wsdoctor.load.messages import Messenger
from wsdoctor.load.model import CauseKind, LoadCause, RampPoint, StopReason
from wsdoctor.load.stats import Reservoir, Timeline
from wsdoctor.load.tally import Tally
from wsdoctor.models import Target, endpoint
from wsdoctor.settings import LoadPlan, Settings
from wsdoctor.wsconn import (
    Closed,
    Ending,
    HandshakeOutcome,
    Message,
    UpgradeAttempt,
    WsConnection,
    upgrade,
)

#: Largest message accepted from the target while holding (read, counted, dropped).
MAX_MESSAGE = 1024 * 1024
#: Closing everything (close frames, then sockets) takes at most this long.
CLOSE_BUDGET_S = 0.5
#: Attempts in flight at once: a target that stalls handshakes does not pile up sockets.
MAX_IN_FLIGHT = 512
TICK_S = 0.05
#: Once refusals are steady, wait this long and try again: a cap on connections refuses
#: again, a limit on their rate (which refills within a second) lets some through.
RECHECK_AFTER_S = 1.5
RECHECKS = 3
RECHECK_GAP_S = 0.2


class LoadEngine:
    """Runs one :class:`LoadPlan` against ``target`` on ``addresses``."""

    def __init__(self, target: Target, settings: Settings, addresses: Sequence[str],
                 plan: LoadPlan, *, progress: Callable[[LoadEngine], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not addresses:
            raise ValueError("no address to connect to")
        self.target = target
        self.settings = settings
        self.addresses = list(addresses)
        self.plan = plan
        self.progress = progress
        self.clock = clock
        self.t0 = clock()
        self.tally = Tally(plan.connections + RECHECKS, plan.steady_refusals)
        self.open: dict[int, Held] = {}
        self.unconfirmed: deque[Held] = deque()
        self.in_flight: set[asyncio.Task[None]] = set()
        self.held_by: dict[str, dict[str, int]] = {"replica": {}, "address": {}}
        self.held_at_end = 0
        self.replica_source: str | None = None
        self.refusal_cause: dict[int, str] = {}
        self.stop_reason: StopReason | None = None
        self.closing = False
        self.all_closed = asyncio.Event()
        self.wake = asyncio.Event()
        self.connect, self.tls, self.upgrade_time = Reservoir(), Reservoir(), Reservoir()
        self.handshake, self.session = Reservoir(), Reservoir()
        self.messenger = Messenger(plan.message_rate, plan.message_size, self.now)
        self.timeline = Timeline()
        self.ramp_ended_at: float | None = None
        self.open_at_ramp_end = 0
        self.hold_ended_at: float | None = None
        self.meter = ClientMeter()

    def now(self) -> float:
        """Seconds since the engine started."""
        return self.clock() - self.t0

    # -- the run ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Ramp, hold, close: until done, steady refusals, a client limit, or ``stop``."""
        helpers = [asyncio.create_task(self._sample()),
                   asyncio.create_task(self.messenger.run(lambda: list(self.open.values()),
                                                          TICK_S / 2)),
                   asyncio.create_task(self._watch_stop(stop))]
        try:
            await self._ramp(stop)
            if self.stop_reason == "steady_refusals" and not stop.is_set():
                await self._recheck(stop)
            await self._settle(stop)
            self._ramp_ended()
            if self.stop_reason is None and not stop.is_set():
                self.stop_reason = "completed"
                await self._pause(self.plan.hold_s, stop)
        finally:
            if stop.is_set() and self.stop_reason in (None, "completed"):
                self.stop_reason = "interrupted"
            self._ramp_ended()
            self.hold_ended_at = self.now()
            self.meter.hold_ended()
            for task in (*self.in_flight, *helpers):
                task.cancel()
            try:
                await asyncio.gather(*self.in_flight, *helpers, return_exceptions=True)
            finally:  # even when cancelled again (a TUI quitting): close everything
                self._point()
                self.held_at_end = len(self.open)
                self.held_by = {kind: self.tally.held_now(kind) for kind in self.held_by}
                await self.close_all()

    def _ramp_ended(self) -> None:
        if self.ramp_ended_at is None:
            self.ramp_ended_at = self.now()
            self.meter.ramp_ended()
            self.open_at_ramp_end = len(self.open)

    def cap(self) -> int | None:
        """The connections held once the ramp settled, when it ended on steady refusals:
        by then every attempt in flight has been answered and every upgrade has passed the
        refusal window, so this is what the target keeps (the count when the first refusal
        came can miss a 101 still on its way)."""
        return self.open_at_ramp_end if self.tally.capped() else None

    async def _watch_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.wake.set()

    def _stopping(self, stop: asyncio.Event) -> bool:
        return stop.is_set() or self.stop_reason not in (None, "completed")

    async def _pause(self, seconds: float, stop: asyncio.Event) -> None:
        """Sleep ``seconds``, or less if ``stop`` is set or the run must end."""
        if seconds <= 0 or self._stopping(stop):
            return
        self.wake.clear()
        try:
            async with asyncio.timeout(seconds):
                while not self._stopping(stop):
                    await self.wake.wait()
                    self.wake.clear()
        except TimeoutError:
            pass

    async def _ramp(self, stop: asyncio.Event) -> None:
        plan = self.plan
        start = self.now()
        for number in range(plan.connections):
            delay = start + number / plan.rate - self.now()
            if delay > 0:
                await self._pause(delay, stop)
            while len(self.in_flight) >= MAX_IN_FLIGHT and not self._stopping(stop):
                await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)
            if self._stopping(stop):
                return
            self._launch()

    def _launch(self) -> None:
        """Start the next attempt."""
        task = asyncio.create_task(self._attempt(self.tally.started()))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    async def _sleep(self, seconds: float, stop: asyncio.Event) -> None:
        """Sleep ``seconds``, or less if ``stop`` is set (and only then)."""
        if seconds > 0 and not stop.is_set():
            waiter = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait([waiter], timeout=seconds)
            finally:
                waiter.cancel()

    async def _recheck(self, stop: asyncio.Event) -> None:
        """After steady refusals, wait and try a few more: refused again, the cap is one of
        connections; taken, the refusals were a limit on their rate."""
        for delay in (RECHECK_AFTER_S, *[RECHECK_GAP_S] * (RECHECKS - 1)):
            await self._sleep(delay, stop)
            if stop.is_set():
                return
            self._launch()

    async def _settle(self, stop: asyncio.Event) -> None:
        """Let the attempts in flight finish (each is bounded by the step time limit), then
        the last upgrades pass the refusal window."""
        while self.in_flight and not stop.is_set():
            waiter = asyncio.create_task(stop.wait())
            await asyncio.wait([*self.in_flight, waiter], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        if self.unconfirmed and self.stop_reason != "client_limit":
            last = self.unconfirmed[-1].opened_at
            await self._sleep(last + self.plan.refusal_window_s - self.now() + 0.01, stop)
        self._confirm()

    async def _attempt(self, number: int) -> None:
        address = self.addresses[number % len(self.addresses)]
        started = self.now()
        try:
            attempt, conn = await upgrade(self.target, address, self.settings,
                                          max_size=MAX_MESSAGE, compress=False)
        except Exception as exc:  # a bug: counted and quoted, never a lost attempt
            attempt = UpgradeAttempt(address=address, outcome=HandshakeOutcome.GARBAGE,
                                     error=f"wsdoctor error: {type(exc).__name__}: {exc}")
            conn = None
        where = self.tally.name(endpoint(address, self.target.port))
        named = replica_header(attempt, self.settings.backend_header)
        replica = self.tally.name(named[1][:120]) if named else None
        if conn is None:
            self._failed(number, where, replica, attempt)
            return
        if self.closing:  # upgraded while everything is being closed: close it too
            conn.abort()
            return
        now = self.now()
        for reservoir, value in ((self.connect, attempt.connect_s), (self.tls, attempt.tls_s),
                                 (self.upgrade_time, attempt.upgrade_s)):
            if value is not None:
                reservoir.add(value)
        self.handshake.add(now - started)
        if named is not None and self.replica_source is None:
            self.replica_source = f"{named[0]} header"
        held = Held(self, number, conn, where, now, replica)
        self.tally.opened(number, where, replica)
        self.open[number] = held
        self.unconfirmed.append(held)
        await self._adopt(held, conn)

    async def _adopt(self, held: Held, conn: WsConnection) -> None:
        """Hand the transport from the streams to ``held`` and take what already arrived
        (a first message, or a close frame sent with the 101)."""
        reader = conn.reader
        was_eof = reader.at_eof()
        transport = held.transport
        transport.set_protocol(held)
        if not transport.is_closing() and not transport.is_reading():
            transport.resume_reading()
        while (event := await conn.next_event(0)) is not None:  # buffered: never waits
            if isinstance(event, Message):
                self.message(held, event.data)
            elif isinstance(event, Closed):
                self.ended(held, event.ending, event.code, event.reason)
                return
        reader.feed_eof()
        try:
            rest = await reader.read()  # at EOF now: returns what was buffered, never waits
        except (OSError, EOFError):
            self.ended(held, Ending.RESET)
            return
        if rest:
            held.data_received(rest)
        if was_eof:
            held.eof_received()
        held.flush()

    # -- what happened to attempts and connections ------------------------------------------

    def _failed(self, number: int, where: str, replica: str | None,
                attempt: UpgradeAttempt) -> None:
        cause, kind = failed_attempt_cause(attempt, self.settings.timeout)
        if kind == "client":
            self.tally.client_failure(number)
            self.stop_reason = self.stop_reason or "client_limit"
            self.wake.set()
        else:
            self.tally.failed(number, where, replica)
            self._steady()
        self._count(cause, kind, number, where, replica, attempt)

    def ended(self, held: Held, ending: Ending, code: int | None = None,
              reason: str | None = None) -> None:
        """A held connection ended: refused (at once), dropped (later), or closed by us."""
        if held.ended:
            return
        held.ended = True
        self.open.pop(held.number, None)
        if not held.transport.is_closing():
            held.transport.close()
        now = self.now()
        refused = not self.closing and not held.confirmed and \
            now - held.opened_at <= self.plan.refusal_window_s
        if refused:
            self.tally.closed_at_once(held.number, held.address, held.replica)
            self._steady()
        else:
            self.tally.ended(held.address, held.replica, dropped=not self.closing)
            self.session.add(now - held.opened_at)
        if self.closing:
            if not self.open:
                self.all_closed.set()
            return
        self._count(ended_cause(ending, code, reason, refused),
                    "refusal" if refused else "drop", held.number, held.address,
                    held.replica, None, code, reason)

    def message(self, held: Held, data: bytes) -> None:
        """A data message: an echo of ours gives a round trip; a first one may name the
        replica."""
        if not self.messenger.received_message(data) and held.replica is None:
            name = replica_in_message(data)
            if name:
                held.replica = self.tally.name(name)
                self.replica_source = self.replica_source or "first message"
                self.tally.named(held.replica, not held.ended)

    def _steady(self) -> None:
        if self.tally.steady and self.stop_reason is None:
            self.stop_reason = "steady_refusals"
            self.wake.set()

    def _confirm(self) -> None:
        """Upgrades that lasted the refusal window count as taken."""
        limit = self.now() - self.plan.refusal_window_s
        while self.unconfirmed and (self.unconfirmed[0].ended
                                    or self.unconfirmed[0].opened_at <= limit):
            held = self.unconfirmed.popleft()
            if not held.ended:
                held.confirmed = True
                self.tally.confirmed(held.number)

    def _count(self, cause: str, kind: CauseKind, number: int, address: str,
               replica: str | None, attempt: UpgradeAttempt | None, code: int | None = None,
               reason: str | None = None) -> None:
        def first(name: str) -> LoadCause:
            return LoadCause(
                cause=name, kind=kind, count=0, first_attempt=number + 1,
                open_at_first=len(self.open), first_at_s=round(self.now(), 3),
                address=address, replica=replica, close_code=code, close_reason=reason,
                response=None if attempt is None else
                record(attempt, self.target.port, self.settings))

        counted = self.tally.cause(cause, first)
        if kind == "refusal":
            self.refusal_cause[number] = counted

    def cap_cause(self) -> str | None:
        """The cause of the refusal that began the final streak."""
        start = self.tally.streak_start
        return None if start is None else self.refusal_cause.get(start)

    # -- background: ramp points, confirmations, messages, closing --------------------------

    def _point(self) -> None:
        tally = self.tally
        self.timeline.add(RampPoint(t=round(self.now(), 3), attempted=tally.attempted,
                                    open=tally.open, refused=tally.refused,
                                    dropped=tally.dropped))

    async def _sample(self) -> None:
        """Every tick: confirm upgrades, add a ramp point, and measure the client itself
        (how late the event loop wakes, resident memory)."""
        while True:
            self._confirm()
            if self.timeline.due(self.now()):
                self._point()
                self.meter.sample(len(self.open), self.tally.peak_open)
                if self.progress is not None:
                    self.progress(self)
            expected = self.clock() + TICK_S / 2
            await asyncio.sleep(TICK_S / 2)
            self.meter.lag.add(max(0.0, self.clock() - expected))

    async def close_all(self) -> None:
        """Close every held connection: a close frame each, then the socket, within
        :data:`CLOSE_BUDGET_S`; whatever is left then is aborted."""
        self.closing = True
        if not self.open:
            return
        self.all_closed.clear()
        for held in list(self.open.values()):
            held.close("wsdoctor load: done")
        try:
            async with asyncio.timeout(CLOSE_BUDGET_S):
                await self.all_closed.wait()
        except TimeoutError:
            pass
        finally:  # what did not close in time (or when cancelled) is aborted now
            for held in list(self.open.values()):
                held.transport.abort()
                self.ended(held, Ending.RESET)
