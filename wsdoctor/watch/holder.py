"""The connection holder: keeps N WebSocket connections open to a target for as long as asked,
and records how each one ends. A reusable engine (``wsdoctor watch``, the exporter's watch
module; a bisecting or load run can hold connections the same way).

- Connections are spread over the given addresses (slot *i* prefers address *i mod n*) and
  opened ``open_interval`` apart, so that their ages differ.
- Each connection pings every ``heartbeat`` seconds (the application's heartbeat), or, without
  one, after ``echo`` quiet seconds (to find silent deaths while letting idle timeouts show).
  A ping unanswered for ``pong_timeout`` ends the connection as *silent*.
- Every end is recorded: a close frame (code, reason), a FIN without one, a reset, or silence;
  with the replica (a response header such as ``X-Pod-Name``, or a first message naming it),
  the address, the age and the quiet time before it.
- A dropped slot reconnects after ``backoff_initial`` seconds, doubling after each failed
  attempt (up to ``backoff_max``, with a little jitter); the reconnect records how long it
  took, how many attempts, and which replica it reached.

Everything is reported to one callback as :data:`HolderEvent` values; the holder keeps no
history itself (memory stays flat however long it runs).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import field

from websockets.frames import Frame, Opcode

from wsdoctor import engineio
from wsdoctor.checks.affinity_probe import replica_header, replica_in_message
from wsdoctor.models import Target, endpoint
from wsdoctor.records import dataclass
from wsdoctor.settings import Settings
from wsdoctor.watch.model import ConnectionRecord, Ending, FailedAttempt, WatchOptions
from wsdoctor.wsconn import Closed, Message, WsConnection, upgrade
from wsdoctor.wsconn import Ending as WsEnding

#: Largest message accepted from the server while holding (the watch reads, never keeps, them).
MAX_MESSAGE = 4 * 1024 * 1024
_ENDINGS: dict[WsEnding, Ending] = {WsEnding.CLOSE_FRAME: "close_frame", WsEnding.FIN: "fin",
                                    WsEnding.RESET: "reset"}
#: How long closing the held connections at the end may take.
CLOSE_WAIT_S = 1.0


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass
class Held:
    """The live state of one held connection (times in seconds since the holder started)."""

    id: int
    slot: int
    address: str
    opened_at: float
    replica: str | None = None
    upgrade_s: float | None = None
    reconnect_s: float | None = None
    attempts: int = 1
    ended_at: float | None = None
    ending: Ending | None = None
    close_code: int | None = None
    close_reason: str | None = None
    last_traffic_at: float = 0.0
    last_alive_at: float | None = None
    pending_ping_at: float | None = None
    pings_sent: int = 0
    pongs: int = 0
    server_pings: int = 0
    messages: int = 0
    engine: engineio.EngineIOClient = field(default_factory=engineio.EngineIOClient)
    """When the server opens with engine.io's open packet, the holder joins its main
    namespace and keeps its heartbeat (answered, or sent for protocol 3), as its clients do."""
    connection: WsConnection | None = field(default=None, repr=False)

    def record(self) -> ConnectionRecord:
        """The connection as the report keeps it (times to the millisecond)."""
        return ConnectionRecord(
            id=self.id, slot=self.slot, address=self.address, replica=self.replica,
            opened_at=round(self.opened_at, 3), upgrade_s=_ms(self.upgrade_s),
            reconnect_s=_ms(self.reconnect_s), attempts=self.attempts,
            ended_at=_ms(self.ended_at), ending=self.ending, close_code=self.close_code,
            close_reason=self.close_reason, last_traffic_at=_ms(self.last_traffic_at),
            last_alive_at=_ms(self.last_alive_at), pending_ping_at=_ms(self.pending_ping_at),
            pings_sent=self.pings_sent, pongs=self.pongs, server_pings=self.server_pings,
            messages=self.messages,
        )


@dataclass(frozen=True)
class Opened:
    """A connection was upgraded (the first of its slot, or a reconnect)."""

    held: Held


@dataclass(frozen=True)
class Named:
    """A connection's first message named its replica (no response header did)."""

    held: Held


@dataclass(frozen=True)
class Ended:
    """A held connection ended (a drop: the holder never ends one before it is stopped)."""

    held: Held


@dataclass(frozen=True)
class AttemptFailed:
    """An upgrade attempt gave no connection; the slot backs off and tries again."""

    attempt: FailedAttempt


HolderEvent = Opened | Named | Ended | AttemptFailed


def backoff_delay(options: WatchOptions, failures: int, rng: random.Random) -> float:
    """Seconds before the next attempt after ``failures`` failed ones in a row: doubling from
    ``backoff_initial`` up to ``backoff_max``, plus up to 25 % jitter (never a storm)."""
    base = min(options.backoff_max, options.backoff_initial * 2.0 ** min(failures, 30))
    return base * (1 + 0.25 * rng.random())


class ConnectionHolder:
    """Holds ``options.connections`` WebSocket connections to ``target`` until stopped."""

    def __init__(
        self,
        target: Target,
        settings: Settings,
        addresses: Sequence[str],
        options: WatchOptions,
        sink: Callable[[HolderEvent], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        started: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not addresses:
            raise ValueError("no address to hold connections to")
        self.target = target
        self.settings = settings
        self.addresses = list(addresses)
        self.options = options
        self.sink = sink
        self.clock = clock
        self.t0 = clock() if started is None else started
        self.rng = rng or random.Random()
        self.open: dict[int, Held] = {}
        """The connections open right now, by id."""
        self._next_id = 0

    def now(self) -> float:
        """Seconds since the holder started."""
        return self.clock() - self.t0

    async def run(self, stop: asyncio.Event) -> None:
        """Hold the connections until ``stop`` is set; then close them (1000, no drop)."""
        slots = [asyncio.create_task(self._slot(i), name=f"wsdoctor-hold:{i}")
                 for i in range(self.options.connections)]
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([*slots, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*slots, stopper):
                task.cancel()
            await asyncio.gather(*slots, stopper, return_exceptions=True)
            await self.close_all()
        for task in done:  # a slot only returns by a bug: surface it
            if task is not stopper and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def close_all(self) -> None:
        """Close every open connection with a close frame, briefly waiting for the peer's."""
        held = list(self.open.values())
        self.open.clear()
        closing = [h.connection.close(1000, "wsdoctor: watch ended", wait=CLOSE_WAIT_S)
                   for h in held if h.connection is not None]
        await asyncio.gather(*closing, return_exceptions=True)

    def _address(self, slot: int, failures: int) -> str:
        return self.addresses[(slot + failures) % len(self.addresses)]

    async def _slot(self, slot: int) -> None:
        """Open, hold until the end, reconnect with backoff; forever (until cancelled)."""
        await asyncio.sleep(slot * self.options.open_interval)
        dropped_at: float | None = None
        failures = 0
        while True:
            address = self._address(slot, failures)
            attempt, conn = await upgrade(self.target, address, self.settings,
                                          max_size=MAX_MESSAGE, compress=False)
            now = self.now()
            if conn is None:
                self.sink(AttemptFailed(FailedAttempt(
                    slot=slot, at=round(now, 3), address=endpoint(address, self.target.port),
                    outcome=attempt.outcome.value, status_code=attempt.status_code,
                    error=attempt.error)))
                await asyncio.sleep(backoff_delay(self.options, failures, self.rng))
                failures += 1
                continue
            self._next_id += 1
            named = replica_header(attempt, self.settings.backend_header)
            held = Held(
                id=self._next_id, slot=slot, address=endpoint(address, self.target.port),
                opened_at=now, replica=named[1][:120] if named else None,
                upgrade_s=attempt.upgrade_s, attempts=failures + 1,
                reconnect_s=None if dropped_at is None else now - dropped_at,
                last_traffic_at=now, connection=conn,
            )
            self.open[held.id] = held
            self.sink(Opened(held))
            try:
                await self._hold(held, conn)
            finally:
                self.open.pop(held.id, None)
            held.connection = None
            self.sink(Ended(held))
            dropped_at, failures = held.ended_at, 0
            await asyncio.sleep(backoff_delay(self.options, 0, self.rng))

    def _next_ping(self, held: Held, last_ping: float) -> float:
        """When the next ping is due: on the heartbeat's schedule, or after ``echo`` quiet
        seconds; never (inf) with neither."""
        if self.options.heartbeat is not None:
            return last_ping + self.options.heartbeat
        if self.options.echo is not None:
            return held.last_traffic_at + self.options.echo
        return math.inf

    async def _hold(self, held: Held, conn: WsConnection) -> None:
        """Read, ping and watch for the end of one connection; fill in how it ended."""
        pong_timeout = self.options.pong_timeout
        last_ping = held.opened_at
        payload = b""
        while True:
            now = self.now()
            if (beat := held.engine.due(now)) is not None:  # socket.io 2: the client pings
                await conn.send_text(beat)
            wake = held.pending_ping_at + pong_timeout if held.pending_ping_at is not None \
                else self._next_ping(held, last_ping)
            wake = min(wake, held.engine.next_ping_at)
            event = await conn.next_event(None if wake == math.inf else max(0.0, wake - now))
            now = self.now()
            if event is None:
                if held.pending_ping_at is not None:
                    if now >= held.pending_ping_at + pong_timeout:
                        held.ended_at, held.ending = now, "silent"
                        conn.abort()
                        return
                elif now >= self._next_ping(held, last_ping):
                    held.pings_sent += 1
                    payload = b"wsdoctor-watch:%d:%d" % (held.id, held.pings_sent)
                    held.pending_ping_at = last_ping = now
                    await conn.ping(payload)
                continue
            if isinstance(event, Closed):
                held.ended_at, held.ending = now, _ENDINGS[event.ending]
                held.close_code, held.close_reason = event.code, event.reason
                conn.abort()  # the peer is gone: free the socket now
                return
            if isinstance(event, Message):
                held.messages += 1
                # As socket.io clients do (else socket.io cuts every connection after 45 s).
                reply = held.engine.on_message(event.data, event.text, now)
                if reply is not None:
                    await conn.send_text(reply)
                if held.replica is None and held.messages == 1:
                    name = replica_in_message(event.data)
                    if name:
                        held.replica = name
                        self.sink(Named(held))
            elif isinstance(event, Frame):
                if event.opcode is Opcode.CLOSE:
                    continue  # the Closed event follows
                if event.opcode is Opcode.PING:
                    held.server_pings += 1
                elif event.opcode is Opcode.PONG and bytes(event.data) == payload:
                    held.pongs += 1
                    held.pending_ping_at = None
            held.last_traffic_at = held.last_alive_at = now
