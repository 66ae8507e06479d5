"""The live run's worker: a diagnosis on its own loop that the UI can cancel at any time."""

from __future__ import annotations

import asyncio
import threading
import time

from tests.tui.scenarios import TARGET, Gate
from wsdoctor.checks.base import Check, Hop, Observation, ProbeContext
from wsdoctor.checks.tcp import TcpObservation
from wsdoctor.reports.tui import LiveDiagnosis, LiveRun
from wsdoctor.runner import Event
from wsdoctor.settings import Settings


def start(checks: list[Check], events: list[Event]) -> tuple[LiveDiagnosis, threading.Thread]:
    diagnosis = LiveDiagnosis(LiveRun(TARGET, Settings(), checks=checks), events.append)
    thread = threading.Thread(target=diagnosis.run)
    thread.start()
    return diagnosis, thread


def test_cancel_beats_a_probe_whose_cleanup_waits_on_the_peer() -> None:
    """A probe whose finally-block waits 5 s (like a TLS close the peer never answers) does not
    hold up a cancelled run: the run's loop is closed within 0.5 s."""
    gate = Gate()
    cleaned = threading.Event()

    async def stubborn(ctx: ProbeContext) -> Observation:
        try:
            await gate.wait()
        finally:
            await asyncio.sleep(5)  # interrupted by the second cancellation
            cleaned.set()
        return TcpObservation(attempts=[])

    events: list[Event] = []
    diagnosis, thread = start([Check(id="idle", title="t", hop=Hop.IDLE, probe=stubborn)], events)
    assert gate.entered.wait(5)
    started = time.perf_counter()
    diagnosis.cancel()
    thread.join(2)
    assert not thread.is_alive() and diagnosis.finished.is_set()
    assert time.perf_counter() - started < 0.5
    assert gate.cancelled.is_set() and not cleaned.is_set()


def test_cancel_before_the_run_starts_runs_nothing() -> None:
    """Cancelled before its thread starts, the run returns None without probing."""
    gate = Gate()

    async def probe(ctx: ProbeContext) -> Observation:
        await gate.wait()
        return TcpObservation(attempts=[])

    diagnosis = LiveDiagnosis(
        LiveRun(
            TARGET, Settings(), checks=[Check(id="idle", title="t", hop=Hop.IDLE, probe=probe)]
        ),
        lambda event: None,
    )
    diagnosis.cancel()
    assert diagnosis.run() is None
    assert not gate.entered.is_set() and diagnosis.finished.is_set()


def test_a_finished_run_returns_its_report_and_every_event() -> None:
    """Uncancelled, the run returns the runner's report; the sink saw it finish."""
    from wsdoctor.runner import RunFinished

    async def quick(ctx: ProbeContext) -> Observation:
        return TcpObservation(attempts=[])

    events: list[Event] = []
    diagnosis = LiveDiagnosis(
        LiveRun(
            TARGET, Settings(), checks=[Check(id="tcp", title="t", hop=Hop.NETWORK, probe=quick)]
        ),
        events.append,
    )
    report = diagnosis.run()
    assert report is not None and [c.id for c in report.checks] == ["tcp"]
    assert isinstance(events[-1], RunFinished) and events[-1].report is report
