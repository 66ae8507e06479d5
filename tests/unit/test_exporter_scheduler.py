"""Scheduling: pools bound concurrency, a slow target delays no other, long runs never hold up
quick ones, runs of one target never overlap, jitter stays in its bounds."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import UTC, datetime
from pathlib import Path

from tests.exporter_support import wait_for, write_config
from wsdoctor.exporter.config import ExporterConfig, ProbeSpec, load_config
from wsdoctor.exporter.scheduler import Pool, RunRecord, Scheduler
from wsdoctor.report import Report


def config_of(tmp_path: Path, text: str) -> ExporterConfig:
    return load_config(write_config(tmp_path, text), {})


def make_probe(durations: dict[str, float], active: dict[str, int], peak: dict[str, int]):  # type: ignore[no-untyped-def]
    """A probe that takes ``durations[name]`` seconds and records overlapping runs."""

    async def probe(spec: ProbeSpec, time_limit: float) -> Report:
        active[spec.name] = active.get(spec.name, 0) + 1
        peak[spec.name] = max(peak.get(spec.name, 0), active[spec.name])
        try:
            await asyncio.sleep(durations.get(spec.name, 0.0))
        finally:
            active[spec.name] -= 1
        return Report(target=spec.target, started_at=datetime.now(UTC), duration_s=0.0,
                      status="ok", checks=[], findings=[])

    return probe


def targets(*entries: tuple[str, str]) -> str:
    return "targets:\n" + "".join(
        f"  - {{name: {name}, url: 'ws://127.0.0.1:1/', module: {module}}}\n"
        for name, module in entries
    )


MODULES = """\
interval: 0.05s
jitter: 0.2
concurrency: 2
long_concurrency: 1
modules:
  q: {checks: [tcp], time_limit: 10s}
  l: {checks: [tcp], time_limit: 10s, long: true}
"""


async def test_pool_bounds_concurrency_and_never_leaks_a_slot() -> None:
    """At most ``limit`` holders; a waiter cancelled while waiting leaves no slot behind;
    growing the pool wakes waiters."""
    pool = Pool(1)
    await pool.acquire()
    waiter = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0.01)
    assert pool.waiting == 1
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert pool.waiting == 0 and pool.running == 1
    second = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0.01)
    assert not second.done()
    pool.resize(2)
    await asyncio.wait_for(second, 1)
    assert pool.running == 2
    pool.release()
    pool.release()
    assert pool.running == 0


async def test_a_slow_target_delays_no_other(tmp_path: Path) -> None:
    """While one target's run takes 1 s, the others keep their 50 ms interval."""
    active: dict[str, int] = {}
    peak: dict[str, int] = {}
    config = config_of(tmp_path, MODULES + targets(("slow", "q"), ("a", "q"), ("b", "q")))
    scheduler = Scheduler(config, probe=make_probe({"slow": 1.0}, active, peak))
    scheduler.start()
    await asyncio.sleep(0.6)
    await scheduler.stop()
    runs = {name: sum(s.runs.values()) for name, s in scheduler.targets.items()}
    assert runs["slow"] == 0
    assert runs["a"] >= 6 and runs["b"] >= 6, runs


async def test_long_runs_never_hold_up_quick_probes(tmp_path: Path) -> None:
    """Two long runs (idle-style) fill their own pool of one; quick probes run meanwhile."""
    active: dict[str, int] = {}
    peak: dict[str, int] = {}
    config = config_of(tmp_path, MODULES + targets(("idle1", "l"), ("idle2", "l"), ("q", "q")))
    scheduler = Scheduler(config, probe=make_probe({"idle1": 5, "idle2": 5}, active, peak))
    scheduler.start()
    await asyncio.sleep(0.5)
    assert scheduler.long.running == 1 and scheduler.long.waiting == 1
    await scheduler.stop()
    assert sum(scheduler.targets["q"].runs.values()) >= 5
    assert scheduler.long.running == 0 and scheduler.quick.running == 0


async def test_runs_of_a_target_never_overlap_and_overruns_are_counted(tmp_path: Path) -> None:
    """A run longer than the interval makes the next one wait (an overrun), never run twice."""
    active: dict[str, int] = {}
    peak: dict[str, int] = {}
    config = config_of(tmp_path, MODULES + targets(("t", "q")))
    scheduler = Scheduler(config, probe=make_probe({"t": 0.12}, active, peak))
    scheduler.start()
    await wait_for(lambda: sum(scheduler.targets["t"].runs.values()) >= 3)
    await scheduler.stop()
    assert peak["t"] == 1
    assert scheduler.targets["t"].overruns >= 2


async def test_jitter_stays_within_its_fraction_of_the_interval(tmp_path: Path) -> None:
    """The first run is due within interval × jitter; later ones keep the interval's phase."""
    records: list[RunRecord] = []
    config = config_of(tmp_path, MODULES.replace("0.05s", "0.1s") + targets(("t", "q")))
    loop = asyncio.get_running_loop()
    start = loop.time()
    scheduler = Scheduler(config, probe=make_probe({}, {}, {}), rng=random.Random(7),
                          on_run=records.append)
    scheduler.start()
    await wait_for(lambda: len(records) >= 6)
    await scheduler.stop()
    assert 0 <= records[0].due - start <= 0.1 * 0.2 + 0.005
    for previous, current in itertools.pairwise(records):
        assert 0.1 * 0.8 - 0.005 <= current.due - previous.due <= 0.1 * 1.2 + 0.005


async def test_apply_keeps_state_of_targets_that_stay(tmp_path: Path) -> None:
    """A new configuration stops removed targets, starts new ones and keeps the last report
    of those that stay."""
    probe = make_probe({}, {}, {})
    scheduler = Scheduler(config_of(tmp_path, MODULES + targets(("a", "q"), ("b", "q"))),
                          probe=probe)
    scheduler.start()
    await wait_for(lambda: all(s.report is not None for s in scheduler.targets.values()))
    kept = scheduler.targets["a"]
    removed_task = scheduler.targets["b"].task
    scheduler.apply(config_of(tmp_path, MODULES + targets(("a", "q"), ("c", "q"))))
    await asyncio.sleep(0.01)
    assert set(scheduler.targets) == {"a", "c"}
    assert scheduler.targets["a"] is kept and kept.report is not None
    assert removed_task is not None and removed_task.cancelled()
    await scheduler.stop()
