"""One watch from start to end: a short diagnosis first (the addresses that upgrade, and the
cluster objects behind the route), then the holder and the cluster's watch streams side by
side, the report rebuilt and written as things happen, and events for whoever renders.

The report file (``report_path``) is replaced atomically within about a second of every
change, so a watch killed at any moment (even ``kill -9``) leaves a valid report holding
everything but the last second or so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from wsdoctor.checks.handshake import HandshakeObservation
from wsdoctor.models import Target
from wsdoctor.records import dataclass
from wsdoctor.report import Report
from wsdoctor.settings import Settings
from wsdoctor.watch.attribution import Cause, PathContext, attribute
from wsdoctor.watch.holder import AttemptFailed, ConnectionHolder, Ended, HolderEvent, Opened
from wsdoctor.watch.model import (
    ClusterEvent,
    ConnectionRecord,
    FailedAttempt,
    WatchObservation,
    WatchOptions,
)
from wsdoctor.watch.recorder import Recorder, watch_report

if TYPE_CHECKING:
    from wsdoctor.redact import Redactor
    from wsdoctor.watch.kubewatch import ClusterWatch

#: How often the report is rebuilt (and written when something changed).
TICK_S = 1.0
#: Longest pause between rebuilds while things change (a report on disk is at most this old).
MAX_TICK_S = 4.0
#: Rebuilt and written at least this often even when nothing happened (the duration moves).
IDLE_WRITE_S = 15.0
#: A drop is explained once this long has passed (evidence that comes late has arrived).
SETTLE_S = 3.0


@dataclass(frozen=True)
class Started:
    """The preflight is done; holding starts (``addresses`` empty: nothing upgraded)."""

    preflight: Report
    started_at: datetime
    """Wall-clock time of t = 0 (event times are seconds since then)."""
    addresses: list[str]
    cluster: str
    cluster_note: str | None
    watched: list[str]
    interrupted: bool = False
    """Ctrl-C (or SIGTERM) came before anything was held."""


@dataclass(frozen=True)
class ConnectionOpened:
    record: ConnectionRecord


@dataclass(frozen=True)
class ConnectionDropped:
    record: ConnectionRecord


@dataclass(frozen=True)
class AttemptFailedEvent:
    attempt: FailedAttempt


@dataclass(frozen=True)
class ClusterChanged:
    event: ClusterEvent


@dataclass(frozen=True)
class DropExplained:
    """A settled drop's cause (once per drop; the final report may refine it)."""

    record: ConnectionRecord
    cause: Cause
    at: float
    """When it was explained (seconds since the start)."""


@dataclass(frozen=True)
class Tick:
    """The report so far (about once a second while something changes)."""

    report: Report


@dataclass(frozen=True)
class Finished:
    report: Report


WatchEvent = (Started | ConnectionOpened | ConnectionDropped | AttemptFailedEvent
              | ClusterChanged | DropExplained | Tick | Finished)


@dataclass
class WatchSession:
    """Watch ``target`` with ``options``; :meth:`run` returns the final report."""

    target: Target
    settings: Settings
    options: WatchOptions
    sink: Callable[[WatchEvent], None] | None = None
    report_path: str | None = None
    report_options: dict[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    write_error: str | None = None
    """Why the report file could not be written (the watch goes on; the command says so)."""

    def _emit(self, event: WatchEvent) -> None:
        """Give ``event`` to the sink with the run's secrets redacted (a cluster event, a note
        or a record may quote one); a Tick's or Finished's report is redacted when built."""
        if self.sink is not None:
            self.sink(event if isinstance(event, Tick | Finished) else self._redact(event))

    @cached_property
    def _redact(self) -> Redactor:
        return self.settings.redactor()

    async def preflight(self, stop: asyncio.Event | None = None) -> Report:
        """dns, tcp, tls, handshake (and cluster, unless --no-kubernetes): what to hold; the
        checks still running when ``stop`` is set end as interrupted."""
        from wsdoctor.runner import diagnose

        only = ["handshake", "cluster"] if self.settings.kubernetes else ["handshake"]
        settings = self.settings.model_copy(update={"only": only, "skip": [], "enable": []})
        return await diagnose(self.target, settings, options=self.report_options, stop=stop)

    async def run(self, stop: asyncio.Event) -> Report:
        """Hold until the duration is over or ``stop`` is set; the final report."""
        started_at = datetime.now(UTC)
        start = self.clock()
        preflight = await self.preflight(stop)
        early = stop.is_set()  # Ctrl-C before anything was held: report what was measured
        addresses = [] if early else upgraded_addresses(preflight)
        t0 = self.clock()
        recorder = Recorder(self.options, datetime.now(UTC))
        from wsdoctor.models import endpoint

        recorder.addresses = [endpoint(a, self.target.port) for a in addresses]
        if early:
            recorder.cluster, recorder.cluster_note = "off", "interrupted before it began"
        cluster_watch = None if early else await start_cluster_watch(
            self.settings, preflight, recorder, lambda: self.clock() - t0,
            on_event=lambda event: self._emit(ClusterChanged(event)))
        self._emit(Started(preflight, recorder.started_at, recorder.addresses,
                           recorder.cluster, recorder.cluster_note, recorder.watched,
                           interrupted=early))

        def build(finished: bool = False, interrupted: bool = False) -> Report:
            obs = recorder.observation(self.clock() - t0, finished=finished,
                                       interrupted=interrupted)
            return watch_report(self.target, self.settings, obs, preflight, started_at,
                                self.clock() - start, self.report_options)

        interrupted = early
        try:
            if addresses:
                interrupted = await self._hold(addresses, recorder, t0, stop, build, preflight)
        finally:
            if cluster_watch is not None:
                await cluster_watch.stop()
        report = build(finished=True, interrupted=interrupted)
        self._write(report)
        self._emit(Finished(report))
        return report

    async def _hold(self, addresses: list[str], recorder: Recorder, t0: float,
                    stop: asyncio.Event, build: Callable[..., Report],
                    preflight: Report) -> bool:
        """Run the holder until the duration ends or ``stop``; True when interrupted."""
        def on_holder(event: HolderEvent) -> None:
            recorder.on_holder(event)
            if isinstance(event, Opened):
                self._emit(ConnectionOpened(event.held.record()))
            elif isinstance(event, Ended):
                self._emit(ConnectionDropped(event.held.record()))
            elif isinstance(event, AttemptFailed):
                self._emit(AttemptFailedEvent(event.attempt))

        holder = ConnectionHolder(self.target, self.settings, addresses, self.options,
                                  on_holder, clock=self.clock, started=t0)
        done = asyncio.Event()
        holding = asyncio.create_task(holder.run(done))
        ticking = asyncio.create_task(self._tick(recorder, build, preflight))
        waiting = asyncio.create_task(stop.wait())
        try:
            limit = self.options.duration
            finished, _ = await asyncio.wait([holding, waiting], timeout=limit,
                                             return_when=asyncio.FIRST_COMPLETED)
            interrupted = waiting in finished
        finally:
            done.set()
            waiting.cancel()
            ticking.cancel()
            await asyncio.gather(ticking, waiting, return_exceptions=True)
            await holding
        return interrupted

    async def _tick(self, recorder: Recorder, build: Callable[..., Report],
                    preflight: Report) -> None:
        """Rebuild the report about once a second: write it, explain settled drops."""
        written = -1
        last_write = 0.0
        explained: set[int] = set()
        path = None
        pause = TICK_S
        while True:
            await asyncio.sleep(pause)
            now = self.clock()
            if recorder.version == written and now - last_write < IDLE_WRITE_S:
                continue
            written, last_write = recorder.version, now
            report = build()
            # A long watch with many drops takes longer to judge: never spend more than about
            # a third of the time on it, nor wait more than MAX_TICK_S (the kill -9 promise).
            pause = min(MAX_TICK_S, max(TICK_S, 3 * (self.clock() - now)))
            self._write(report)
            self._emit(Tick(report))
            watch = report.check("watch")
            if watch is None or not isinstance(watch.observation, WatchObservation) \
                    or self.sink is None:
                continue
            obs = watch.observation
            settled = [d for d in obs.drops() if d.id not in explained
                       and (d.ended_at or 0.0) <= obs.duration_s - SETTLE_S]
            if not settled:
                continue
            if path is None:
                from wsdoctor.checks.cluster import ClusterObservation

                cluster = preflight.check("cluster")
                path = PathContext.from_cluster(
                    cluster.observation if cluster is not None and
                    isinstance(cluster.observation, ClusterObservation) else None)
            causes = attribute(obs, path)
            for drop in settled:
                explained.add(drop.id)
                self._emit(DropExplained(drop, causes[drop.id], obs.duration_s))

    def _write(self, report: Report) -> None:
        if self.report_path is None:
            return
        from wsdoctor.commands.diagnose import write_report_file

        try:
            write_report_file(report, self.report_path)
        except OSError as exc:
            self.write_error = f"cannot write the report to {self.report_path}: " \
                f"{exc.strerror or exc}"


def upgraded_addresses(preflight: Report) -> list[str]:
    """The addresses whose upgrade succeeded in a preflight diagnosis (what to hold)."""
    handshake = preflight.check("handshake")
    obs = handshake.observation if handshake is not None else None
    if not isinstance(obs, HandshakeObservation):
        return []
    return [a.address for a in obs.attempts if a.outcome == "upgraded"]


async def start_cluster_watch(settings: Settings, preflight: Report, recorder: Recorder,
                              now: Callable[[], float],
                              on_event: Callable[[ClusterEvent], None] | None = None
                              ) -> ClusterWatch | None:
    """Open the watch streams on the objects behind the route the preflight's cluster check
    found; changes go to ``recorder`` (and ``on_event``) on this loop. None when there is no
    cluster to watch: ``recorder.cluster`` and ``cluster_note`` say why."""
    from wsdoctor.checks.cluster import ClusterObservation

    check = preflight.check("cluster")
    if check is None or not isinstance(check.observation, ClusterObservation):
        recorder.cluster = "off" if check is None or check.status == "skipped" \
            else "unavailable"
        recorder.cluster_note = "--no-kubernetes" if check is None else (
            check.reason or f"the cluster check's status is {check.status}")
        return None
    loop = asyncio.get_running_loop()

    def deliver(event: ClusterEvent) -> None:
        def take() -> None:
            recorder.on_cluster(event)
            if on_event is not None:
                on_event(event)

        loop.call_soon_threadsafe(take)

    def note(text: str) -> None:
        def take() -> None:
            if text not in recorder.unwatched:
                recorder.unwatched.append(text)
                recorder.version += 1

        loop.call_soon_threadsafe(take)

    from wsdoctor.watch.kubeplan import ClusterWatchError
    from wsdoctor.watch.kubewatch import ClusterWatch

    watch = ClusterWatch(settings, check.observation, deliver, now=now, note=note)
    try:
        opened = await watch.start()
    except ClusterWatchError as exc:
        recorder.cluster, recorder.cluster_note = "unavailable", str(exc)
        await watch.stop()
        return None
    recorder.watched = [text for text in opened if not text.startswith("not watched: ")]
    recorder.cluster = "watched"
    recorder.cluster_note = f"{len(recorder.watched)} watch streams"
    return watch
