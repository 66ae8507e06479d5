"""The exporter's watch module: targets whose module has a ``watch:`` block are not probed on
an interval; their connections are held for as long as the exporter runs (the engine of
``wsdoctor watch``), each drop is attributed to its cause once its evidence has settled, and
the counts are exported:

- ``wsdoctor_watch_drops_total{cause}``: drops by cause (every cause present from the start,
  at 0, so ``increase(...{cause="pod_terminated"}[1h]) > 0`` alerts work at once);
- ``wsdoctor_watch_connection_age_seconds``: a histogram of the age of connections at their
  drop; ``wsdoctor_watch_reconnect_seconds``: of the time to reconnect;
- ``wsdoctor_watch_connections_open``, ``wsdoctor_watch_reconnect_failures_total``,
  ``wsdoctor_watch_cluster_watched``.

Memory is bounded: only a window of recent drops and events is kept for the attribution.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import field
from datetime import UTC, datetime

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from wsdoctor.exporter.config import ExporterConfig, ProbeSpec
from wsdoctor.records import dataclass
from wsdoctor.watch.attribution import CAUSES, PathContext, attribute
from wsdoctor.watch.holder import AttemptFailed, ConnectionHolder, Ended, HolderEvent, Opened
from wsdoctor.watch.recorder import Recorder

#: Age buckets: the timeouts that matter (15 s Envoy, 30 s GCP, 60 s nginx/ALB, 100 s
#: Cloudflare, 240 s Azure, 350 s NLB, 1 h HAProxy tunnel) and the long lives beyond.
AGE_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 100.0, 240.0, 350.0, 600.0, 1800.0, 3600.0,
               7200.0, 21600.0, 86400.0)
RECONNECT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
#: Recent drops kept for the attribution (a timeout is recognised by its repeats).
WINDOW = 2_000
#: A drop is counted once this long has passed (evidence that comes late has arrived).
SETTLE_S = 3.0
TICK_S = 1.0
#: A target whose upgrade fails is tried again this often.
RETRY_S = 30.0


class Histogram:
    """Cumulative bucket counts, a sum and a count (a Prometheus histogram, by hand)."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        index = next((i for i, b in enumerate(self.buckets) if value <= b), len(self.buckets))
        self.counts[index] += 1
        self.sum += value

    def samples(self) -> list[tuple[str, float]]:
        """(le, cumulative count) pairs, +Inf last."""
        out, total = [], 0
        for bound, count in zip([*map(str, self.buckets), "+Inf"], self.counts, strict=True):
            total += count
            out.append((bound, float(total)))
        return out


@dataclass
class WatchedTarget:
    """One held target and its counters."""

    spec: ProbeSpec
    drops: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CAUSES, 0))
    ages: Histogram = field(default_factory=lambda: Histogram(AGE_BUCKETS))
    reconnects: Histogram = field(default_factory=lambda: Histogram(RECONNECT_BUCKETS))
    failures: int = 0
    recorder: Recorder | None = None
    task: asyncio.Task[None] | None = None
    counted: set[int] = field(default_factory=set)
    path: PathContext = field(default_factory=PathContext)

    @property
    def open(self) -> int:
        return len(self.recorder.open) if self.recorder is not None else 0

    def on_holder(self, event: HolderEvent) -> None:
        recorder = self.recorder
        assert recorder is not None
        if isinstance(event, Ended) and len(recorder.ended) == recorder.ended.maxlen and \
                recorder.ended[0].id not in self.counted:
            self.tick(event.held.ended_at or 0.0, settled=False)  # count it before it leaves
        recorder.on_holder(event)
        if isinstance(event, AttemptFailed):
            self.failures += 1
        elif isinstance(event, Opened) and event.held.reconnect_s is not None:
            self.reconnects.observe(event.held.reconnect_s)

    def tick(self, now: float, settled: bool = True) -> None:
        """Count every drop whose evidence has settled (every pending one with
        ``settled=False``: the window is about to lose it), by cause."""
        recorder = self.recorder
        if recorder is None:
            return
        pending = [r for r in recorder.ended if r.id not in self.counted
                   and (not settled or (r.ended_at or 0.0) <= now - SETTLE_S)]
        if not pending:
            return
        causes = attribute(recorder.observation(now), self.path)
        for record in pending:
            cause = causes.get(record.id)
            self.drops[cause.kind if cause else "unexplained"] += 1
            self.ages.observe(record.age_s or 0.0)
            self.counted.add(record.id)
        live = {r.id for r in recorder.ended}
        self.counted &= live  # bounded: ids that left the window are forgotten


class WatchManager:
    """Holds the connections of every watch target of the configuration."""

    def __init__(self) -> None:
        self.targets: dict[str, WatchedTarget] = {}

    def apply(self, config: ExporterConfig) -> None:
        """Start new watch targets, stop removed or changed ones (call inside the loop)."""
        wanted = {s.name: s for s in config.targets if s.watch is not None}
        for name in list(self.targets):
            if name not in wanted or wanted[name] != self.targets[name].spec:
                state = self.targets.pop(name)
                if state.task is not None:
                    state.task.cancel()
        for name, spec in wanted.items():
            if name not in self.targets:
                state = self.targets[name] = WatchedTarget(spec=spec)
                state.task = asyncio.get_running_loop().create_task(
                    self._hold(state), name=f"wsdoctor-watch:{name}")

    async def stop(self) -> None:
        """Stop every held target (their connections are closed)."""
        tasks = [s.task for s in self.targets.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _hold(self, state: WatchedTarget) -> None:
        """Preflight, then hold until cancelled; a target that cannot upgrade is retried."""
        from wsdoctor.watch.session import (
            WatchSession,
            start_cluster_watch,
            upgraded_addresses,
        )

        spec = state.spec
        assert spec.watch is not None
        clock = time.monotonic
        while True:
            preflight = await WatchSession(spec.target, spec.settings, spec.watch).preflight()
            addresses = upgraded_addresses(preflight)
            if addresses:
                break
            state.failures += 1
            await asyncio.sleep(RETRY_S)
        from wsdoctor.checks.cluster import ClusterObservation

        cluster = preflight.check("cluster")
        state.path = PathContext.from_cluster(
            cluster.observation if cluster is not None
            and isinstance(cluster.observation, ClusterObservation) else None)
        t0 = clock()
        recorder = state.recorder = Recorder(spec.watch, datetime.now(UTC), max_ended=WINDOW)
        watch = await start_cluster_watch(spec.settings, preflight, recorder,
                                          lambda: clock() - t0)
        holder = ConnectionHolder(spec.target, spec.settings, addresses, spec.watch,
                                  state.on_holder, clock=clock, started=t0)
        stop = asyncio.Event()
        holding = asyncio.create_task(holder.run(stop))
        try:
            while not holding.done():
                await asyncio.sleep(TICK_S)
                state.tick(clock() - t0)
        finally:
            stop.set()
            await asyncio.gather(holding, return_exceptions=True)
            if watch is not None:
                await watch.stop()

    def families(self) -> list[Metric]:
        """The watch metrics of every target (labels: the target's, ``target``, ``module``)."""
        names: list[str] = []
        for state in self.targets.values():
            names.extend(k for k, _ in state.spec.labels if k not in names)
        base = [*names, "target", "module"]
        drops = CounterMetricFamily("wsdoctor_watch_drops", "Held connections that dropped, by "
                                    "the cause wsdoctor attributed.", labels=[*base, "cause"])
        ages = HistogramMetricFamily("wsdoctor_watch_connection_age_seconds", "Age of held "
                                     "connections when they dropped.", labels=base)
        reconnects = HistogramMetricFamily("wsdoctor_watch_reconnect_seconds", "Time from a "
                                           "drop to the next connection's 101.", labels=base)
        opened = GaugeMetricFamily("wsdoctor_watch_connections_open", "Connections held open "
                                   "now.", labels=base)
        failures = CounterMetricFamily("wsdoctor_watch_reconnect_failures", "Upgrade attempts "
                                       "that failed while (re)connecting.", labels=base)
        cluster = GaugeMetricFamily("wsdoctor_watch_cluster_watched", "Whether the cluster "
                                    "behind the target is watched (drops attributed by its "
                                    "events) or not (by their pattern only).", labels=base)
        for name, state in sorted(self.targets.items()):
            labels = dict(state.spec.labels)
            values = [*(labels.get(n, "") for n in names), name, state.spec.module]
            for cause, count in state.drops.items():
                drops.add_metric([*values, cause], count)
            ages.add_metric(values, state.ages.samples(), state.ages.sum)
            reconnects.add_metric(values, state.reconnects.samples(), state.reconnects.sum)
            opened.add_metric(values, state.open)
            failures.add_metric(values, state.failures)
            recorder = state.recorder
            cluster.add_metric(values, 1.0 if recorder and recorder.cluster == "watched" else 0.0)
        families: Iterable[Metric] = (drops, ages, reconnects, opened, failures, cluster)
        return list(families) if self.targets else []
