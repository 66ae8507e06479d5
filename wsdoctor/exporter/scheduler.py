"""Running every target on its interval.

One asyncio task per target: it sleeps until the target is due (its phase plus random
jitter), takes a slot in its pool, runs the diagnosis within the target's time limit and keeps
the last report. So a slow or dead target only ever delays itself; long runs (idle, affinity)
take slots in a pool of their own and never hold up quick probes; a run of a target never
overlaps the next one (a run still going when the next is due counts as an overrun).
"""

from __future__ import annotations

import asyncio
import collections
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import field
from datetime import UTC, datetime

from wsdoctor.exporter.config import ExporterConfig, ProbeSpec
from wsdoctor.exporter.metrics import probe_succeeded
from wsdoctor.models import CheckStatus, Finding
from wsdoctor.records import dataclass
from wsdoctor.report import CheckReport, Report, report_status


class Pool:
    """A resizable concurrency bound with FIFO waiters; release is synchronous, so a cancelled
    run can never leak a slot."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def waiting(self) -> int:
        """Runs waiting for a slot."""
        return sum(1 for w in self._waiters if not w.done())

    async def acquire(self) -> None:
        """Wait for a slot."""
        if self.running < self.limit and not self._waiters:
            self.running += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was granted just as we were cancelled
            elif waiter in self._waiters:  # else _wake already dropped it as cancelled
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give a slot back and wake the next waiter."""
        self.running -= 1
        self._wake()

    def resize(self, limit: int) -> None:
        """Change the bound (on reload); running runs are not interrupted."""
        self.limit = limit
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.running < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.running += 1
                waiter.set_result(None)


ProbeFn = Callable[[ProbeSpec, float], Awaitable[Report]]


async def run_probe(spec: ProbeSpec, time_limit: float) -> Report:
    """Diagnose ``spec`` once within ``time_limit``. Past the limit (or on a crash) the report
    holds what finished; every other check is an ``error`` saying why, so probe_success is 0."""
    from wsdoctor.commands.options import report_options
    from wsdoctor.runner import CheckFinished, Event, FindingFound, diagnose

    finished: dict[str, CheckReport] = {}
    findings: list[Finding] = []

    def sink(event: Event) -> None:
        if isinstance(event, CheckFinished):
            finished[event.check.id] = event.result
        elif isinstance(event, FindingFound):
            findings.append(event.finding)

    options = report_options(spec.settings)
    started_at = datetime.now(UTC)
    start = time.perf_counter()
    try:
        async with asyncio.timeout(time_limit):
            return await diagnose(spec.target, spec.settings, sink=sink, options=options)
    except TimeoutError:
        reason = f"not finished within the exporter's time limit of {time_limit:g} s"
    except Exception as exc:  # a bug must not stop the exporter: it becomes a failed run
        reason = f"the run failed: {type(exc).__name__}: {exc}"
    return cut_report(spec, reason, started_at, time.perf_counter() - start, finished,
                      findings)


def cut_report(spec: ProbeSpec, reason: str, started_at: datetime, duration_s: float,
               finished: dict[str, CheckReport] | None = None,
               findings: list[Finding] | None = None) -> Report:
    """The report of a run that was cut (or never started): what finished, and every other
    check ``error`` with ``reason`` (so probe_success is 0)."""
    from wsdoctor.commands.options import report_options
    from wsdoctor.runner import order_findings, select_checks

    checks = select_checks(spec.settings)
    reports = [
        (finished or {}).get(c.id)
        or CheckReport(id=c.id, title=c.title, hop=c.hop.label, status=CheckStatus.ERROR,
                       reason=reason)
        for c in checks
    ]
    ordered = order_findings(
        findings or [], {c.id: (int(c.hop), index) for index, c in enumerate(checks)})
    redact = spec.settings.redactor()  # the reason may quote an exception's text
    return redact(Report(
        target=spec.target,
        started_at=started_at,
        duration_s=round(duration_s, 6),
        status=report_status(ordered, reports),
        options=report_options(spec.settings),
        checks=reports,
        findings=ordered,
    ))


@dataclass
class TargetState:
    """What the exporter keeps of one target between runs: only the last report and counters,
    so memory does not grow with the number of runs."""

    spec: ProbeSpec
    report: Report | None = None
    success: bool | None = None
    runs: dict[str, int] = field(default_factory=lambda: {"success": 0, "failure": 0})
    overruns: int = 0
    last_delay_s: float = 0.0
    """How late the last run started after it was due (waiting for a slot included)."""
    last_finished: float | None = None
    """``time.time()`` when the last run finished."""
    task: asyncio.Task[None] | None = None
    previous_success: bool | None = None
    """The outcome of the run before, to log only changes."""


@dataclass(frozen=True)
class RunRecord:
    """One finished run, for observers (logs, the bench)."""

    name: str
    due: float
    started: float
    finished: float
    success: bool
    report: Report


class Scheduler:
    """Runs the configured targets until stopped; :meth:`apply` swaps the configuration in
    place, keeping the last report of every target that stays."""

    def __init__(
        self,
        config: ExporterConfig,
        *,
        probe: ProbeFn = run_probe,
        rng: random.Random | None = None,
        on_run: Callable[[RunRecord], None] | None = None,
    ) -> None:
        self.config = config
        self.probe = probe
        self.rng = rng or random.Random()
        self.on_run = on_run
        self.quick = Pool(config.concurrency)
        self.long = Pool(config.long_concurrency)
        self.targets: dict[str, TargetState] = {}

    def start(self) -> None:
        """Start a task for every target (call inside the running loop)."""
        self.apply(self.config)

    def apply(self, config: ExporterConfig) -> None:
        """Use a new configuration: stop removed targets, start new ones, update the rest."""
        self.config = config
        self.quick.resize(config.concurrency)
        self.long.resize(config.long_concurrency)
        wanted = {spec.name: spec for spec in config.targets if spec.watch is None}
        for name in list(self.targets):
            if name not in wanted:
                state = self.targets.pop(name)
                if state.task is not None:
                    state.task.cancel()
        for name, spec in wanted.items():
            state = self.targets.setdefault(name, TargetState(spec=spec))
            state.spec = spec
            if state.task is None or state.task.done():
                state.task = asyncio.get_running_loop().create_task(
                    self._loop(state), name=f"wsdoctor-probe:{name}"
                )

    async def stop(self) -> None:
        """Cancel every target's task and wait for them to end."""
        tasks = [s.task for s in self.targets.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self, state: TargetState) -> None:
        loop = asyncio.get_running_loop()
        base = loop.time()
        due = base + self.rng.uniform(0, state.spec.interval * self.config.jitter)
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            spec = state.spec
            pool = self.long if spec.long else self.quick
            await pool.acquire()
            try:
                started = loop.time()
                report = await self.probe(spec, spec.time_limit)
            finally:
                pool.release()
            finished = loop.time()
            success = probe_succeeded(report, spec.settings.fail_on)
            state.report, state.success = report, success
            state.runs["success" if success else "failure"] += 1
            state.last_delay_s = max(0.0, started - due)
            state.last_finished = time.time()
            if self.on_run is not None:
                self.on_run(RunRecord(spec.name, due, started, finished, success, report))
            interval = state.spec.interval
            base += interval
            if base < finished:
                state.overruns += 1
                base += math.ceil((finished - base) / interval) * interval
            due = base + self.rng.uniform(0, interval * self.config.jitter)
