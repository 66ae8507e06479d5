"""The watch's live view: the timeline (rows per connection, drops and cluster events as
marks), the running verdict and the log; a saved watch report in the same view; q ends the
watch with its report."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable

import pytest
from rich.console import Console
from textual.widgets import Static

from tests.watch_support import START, conn, watch
from wsdoctor.lab.backend import Backend
from wsdoctor.models import Status
from wsdoctor.report import Report
from wsdoctor.reports.tui.watch import WatchApp
from wsdoctor.reports.tui.widgets.timeline import drop_marks, render_timeline
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target
from wsdoctor.watch.model import ClusterEvent, WatchOptions
from wsdoctor.watch.recorder import watch_report
from wsdoctor.watch.session import WatchSession

TARGET = parse_target("wss://chat.example.com/ws")


def saved_report() -> Report:
    """A finished watch: two connections of pod a cut when it terminated, one of b open."""
    event = ClusterEvent(at=10.0, kind="Pod", namespace="chat", name="chat-a",
                         change="terminating", detail="deletionTimestamp set", pods=["chat-a"])
    obs = watch(conn(1, 0.0, 10.2, replica="chat-a", traffic=10.0),
                conn(2, 1.0, 10.21, replica="chat-a", traffic=10.0),
                conn(3, 2.0, None, replica="chat-b"),
                conn(4, 10.8, None, slot=0, replica="chat-b", reconnect_s=0.6),
                events=(event,), heartbeat=1.0)
    obs = obs.model_copy(update={"finished": True, "duration_s": 20.0})
    return watch_report(TARGET, Settings(), obs, None, START, 20.0, {})


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the app did not get there in time"
        await asyncio.sleep(0.05)


def plain(text: object) -> str:
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(text)
    return console.export_text()


def test_the_timeline_draws_a_row_per_slot_with_drops_marked_by_their_finding() -> None:
    """Given the saved watch, the picture has the cluster row with its event, one row per
    slot, and the drops marked as failures (WSD-WATCH-POD-CUT)."""
    report = saved_report()
    check = report.check("watch")
    assert check is not None and check.observation is not None
    marks = drop_marks(report.findings)
    assert marks == {1: Status.FAIL, 2: Status.FAIL}
    picture = plain(render_timeline(check.observation, marks, 80))  # type: ignore[arg-type]
    rows = picture.splitlines()
    assert rows[1].startswith("cluster events") and "│" in rows[1]
    assert [r.split()[0] for r in rows[2:5]] == ["#1", "#2", "#3"]
    assert rows[2].count("×") == 1 and rows[4].count("×") == 0
    ascii_picture = plain(render_timeline(check.observation, marks, 80,  # type: ignore[arg-type]
                                          ascii_only=True))
    assert "x" in ascii_picture and "×" not in ascii_picture


def test_slot_labels_show_each_rows_replica_or_address_readably() -> None:
    """Given pods whose names share a 15-character prefix, each row's label keeps the end
    that tells them apart (the pod hash suffix, whole when it fits); a slot with no replica
    is labelled by its address, and with several addresses the replica's address is added."""
    names = ["chat-7d9f8c6b5-x2k4q", "chat-7d9f8c6b5-mm8wz", "chat-7d9f8c6b5-a1b2c"]
    obs = watch(*(conn(i + 1, 0.0, None, replica=name, address=f"10.0.0.{i + 1}:443")
                  for i, name in enumerate(names)),
                conn(4, 0.0, None, replica=None, address="10.0.0.9:443"))
    rows = plain(render_timeline(obs, {}, 100)).splitlines()[2:6]
    labels = [row[:row.index("─")].strip() for row in rows]
    assert labels == [f"#{i + 1} {name}" for i, name in enumerate(names)] + ["#4 10.0.0.9:443"]
    several = obs.model_copy(update={"addresses": ["10.0.0.1:443", "10.0.0.2:443"]})
    narrow = plain(render_timeline(several, {}, 60)).splitlines()[2:5]
    shown = [row[:20].strip() for row in narrow]
    assert len(set(shown)) == 3 and all("…" in label for label in shown), shown
    assert all(label.endswith(f"{i + 1}:443") for i, label in enumerate(shown)), shown


def test_a_drop_stays_marked_when_its_reconnect_falls_in_the_same_column() -> None:
    """Given a 45 s watch drawn in 80 columns (0.8 s per column) whose connection dropped and
    reconnected 0.1 s later, the drop's mark is not drawn over by the new connection's line
    (measured: a reload's drops vanished from the live timeline)."""
    obs = watch(conn(1, 0.0, 8.5, traffic=8.0), conn(2, 8.6, None, slot=0, reconnect_s=0.1),
                heartbeat=1.0).model_copy(update={"finished": True, "duration_s": 45.0})
    rows = plain(render_timeline(obs, {1: Status.WARN}, 80)).splitlines()
    assert rows[2].startswith("#1") and rows[2].count("×") == 1, rows[2]


async def test_a_saved_watch_opens_in_the_same_view_and_q_leaves() -> None:
    """Given a saved watch report, the view shows its verdict and timeline; q leaves."""
    app = WatchApp(report=saved_report(), saved_from="drops.json")
    async with app.run_test(size=(120, 40)) as pilot:
        verdict = plain(app.query_one("#verdict", Static).content)
        assert "WSD-WATCH-POD-CUT" in verdict
        assert "×" in plain(app.query_one("#timeline", Static).content)
        assert "finished" in plain(app.query_one("#header", Static).content)
        await pilot.press("q")
    assert app.return_value is not None


@pytest.mark.lab
async def test_a_live_watch_shows_its_connections_and_q_ends_it_with_the_report(
        start_backend: Callable[..., Backend]) -> None:
    """Given a real replica, the live view logs the connections as they open; q ends the
    watch, and the app returns the final report (finished, interrupted)."""
    backend = start_backend(name="pod-a")
    target = parse_target(f"ws://127.0.0.1:{backend.port}/ws")
    session = WatchSession(target, Settings(kubernetes=False), WatchOptions(
        connections=2, duration=60, heartbeat=0.3, open_interval=0.1))
    app = WatchApp(session)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(lambda: "pod-a" in plain(app.query_one("#timeline", Static).content))
        await pilot.press("q")
        await wait_until(lambda: not app.is_running)
    report = app.return_value
    assert report is not None
    check = report.check("watch")
    assert check is not None and check.observation is not None
    assert check.observation.finished and check.observation.interrupted  # type: ignore


async def test_a_forged_saved_watch_puts_no_escape_on_the_screen() -> None:
    """A saved watch whose target URL, cluster note and finding titles carry escape
    sequences (a forged file) is drawn with them escaped: the header showed the URL raw."""
    from tests.hostile_support import RAW
    from tests.integration.test_hostile_output import screen_text

    evil = "\x1b]52;c;cHduZWQ=\x07\x1b[2J\u202e\x9b31m"
    report = saved_report()
    forged = report.model_copy(update={
        "target": report.target.model_copy(update={"url": f"{report.target.url}{evil}"}),
        "findings": [f.model_copy(update={"title": f.title + evil}) for f in report.findings]})
    app = WatchApp(report=forged, saved_from="forged.json")
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        shown = screen_text(app)
        raw = RAW.search(shown)
        assert raw is None, shown[max(0, raw.start() - 80):raw.start() + 5]
        assert "\\x1b]52;c;cHduZWQ=\\x07" in shown  # the URL is on screen, escaped
        await pilot.press("q")
