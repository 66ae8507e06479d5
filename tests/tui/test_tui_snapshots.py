"""Screenshots of the TUI at fixed sizes (pytest-textual-snapshot): a run in progress, a
finished run with failures, and a saved report with the details of its first failure.

Clocks and spinners stand still (``clock``, ``animate=False``) and the run is a replay of a
report with fixed durations, so the pictures are the same on every machine. After a
deliberate change of the UI: ``pytest tests/tui --snapshot-update`` and review the SVGs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.tui.scenarios import TARGET, checks_of, failing_report, replay
from wsdoctor.reports.tui import DoctorApp, LiveRun, make_app
from wsdoctor.reports.tui.state import Selection
from wsdoctor.settings import Settings

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]
Snap = Callable[..., bool]


def frozen() -> float:
    return 100.0


async def settle(pilot: Pilot[Any], condition: Callable[[], bool]) -> None:
    """Wait for the replayed run to reach the state the picture is of."""
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "the app did not reach the expected state"
        await asyncio.sleep(0.01)
    await pilot.pause()


def replayed(**kwargs: Any) -> DoctorApp:
    report = failing_report()
    run = LiveRun(TARGET, Settings(), checks=checks_of(report), runner=replay(report, **kwargs))
    return make_app(run, clock=frozen, animate=False)


@pytest.mark.parametrize("size", SIZES)
def test_running(snap_compare: Snap, size: tuple[int, int]) -> None:
    """Mid-run: finished rows with marks, the idle row running with its progress, the idle
    details with the progress bar."""
    app = replayed(stop_before="idle", progress="60 s — ingress-nginx default", fraction=0.45)

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: app.checklist.rows["idle"].progress_fraction is not None)
        app.checks.select(Selection("idle"))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_finished_with_failures(snap_compare: Snap, size: tuple[int, int]) -> None:
    """After the run: verdicts, failures expanded, the first failure selected and explained."""
    app = replayed()

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: app.report is not None)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_saved_report_details(snap_compare: Snap, size: tuple[int, int]) -> None:
    """`wsdoctor show`: the saved report, details of the next failure open (after `n`)."""
    app = make_app(failing_report(), saved_from="report.json", clock=frozen, animate=False)
    assert snap_compare(app, terminal_size=size, press=["n"])
