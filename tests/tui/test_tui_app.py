"""The TUI driven by Pilot: navigation, keys, live updates, saving, copying and quitting."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from textual import events
from textual.pilot import Pilot
from textual.widgets import ProgressBar, Static

from tests.tui.scenarios import (
    IDLE_SNIPPET,
    TARGET,
    ConnectionCounter,
    Gate,
    checks_of,
    failing_report,
    fake_checks,
    replay,
)
from wsdoctor.checks.base import Check, Hop, Observation, ProbeContext
from wsdoctor.checks.tcp import TcpObservation
from wsdoctor.cli import Environment, main
from wsdoctor.reports.tui import DoctorApp, LiveRun, make_app
from wsdoctor.reports.tui.screens.help import HelpScreen
from wsdoctor.reports.tui.state import Phase, Selection
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target


def text_of(app: DoctorApp, selector: str) -> str:
    """The plain text a Static shows."""
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(app.query_one(selector, Static).content)
    return console.export_text()


async def wait_until(
    pilot: Pilot[object], condition: Callable[[], bool], timeout: float = 5
) -> None:
    """Let the app run until ``condition`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the app"
        await pilot.pause(0.01)


def live(checks: list[Check]) -> DoctorApp:
    return make_app(LiveRun(TARGET, Settings(), checks=checks))


async def test_saved_report_opens_on_the_first_failure_with_its_fix() -> None:
    """Given a saved report, the first failure (root cause order) is selected and its fix shown."""
    app = make_app(failing_report(), animate=False)
    async with app.run_test(size=(80, 24)):
        assert app.checks.selection == Selection("idle", 0)
        details = text_of(app, "#detail-body")
        assert "WSD-IDLE-TIMEOUT-SHORT" in details
        assert 'nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"' in details
        assert "first failure selected" in text_of(app, "#status")
        assert "problems found" in text_of(app, "#header")


async def test_arrows_move_and_expand() -> None:
    """Up/down move between rows; left goes from a finding to its check and collapses it."""
    app = make_app(failing_report(), animate=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("left")
        assert app.checks.selection == Selection("idle")
        await pilot.press("left")
        assert app.checks.cursor_node is not None and not app.checks.cursor_node.is_expanded
        await pilot.press("down")
        assert app.checks.selection == Selection("affinity")
        await pilot.press("up", "right", "right")
        assert app.checks.selection == Selection("idle", 0)
        await pilot.press("up", "up")
        assert app.checks.selection == Selection("messages")
        assert "WSD-MSG-SLOW-ECHO" in text_of(app, "#detail-body")


async def test_mouse_click_selects_a_check() -> None:
    """Clicking a row selects it and shows its details."""
    app = make_app(failing_report(), animate=False)
    async with app.run_test(size=(120, 36)) as pilot:
        line = app.checks._check_nodes["dns"].line
        await pilot.click("#checklist", offset=(10, line + 1))  # + the top border
        assert app.checks.selection == Selection("dns")
        assert "chat.example.test" in text_of(app, "#detail-body")


async def test_next_failure_visits_every_failure_and_wraps() -> None:
    """n walks failing findings and broken checks in path order, N goes back."""
    app = make_app(failing_report(), animate=False)
    async with app.run_test(size=(80, 24)) as pilot:
        seen = []
        for _ in range(4):
            await pilot.press("n")
            seen.append(app.checks.selection)
        assert seen == [
            Selection("affinity", 0),
            Selection("cluster"),
            Selection("idle", 0),
            Selection("affinity", 0),
        ]
        await pilot.press("N")
        assert app.checks.selection == Selection("idle", 0)
        assert "failure 1 of 3" in text_of(app, "#status")


async def test_failures_only_toggle() -> None:
    """f shows only failed or broken checks, and f again shows everything."""
    app = make_app(failing_report(), animate=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f")
        shown = [n.data.check_id for n in app.checks.root.children if n.data]
        assert shown == ["idle", "affinity", "cluster"]
        assert app.checks.selection == Selection("idle", 0)
        await pilot.press("f")
        assert len(app.checks.root.children) == len(failing_report().checks)


async def test_copy_emits_the_fix_as_osc52() -> None:
    """c puts the selected fix on the clipboard with an OSC 52 escape sequence."""
    app = make_app(failing_report(), animate=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app._driver is not None
        written: list[str] = []
        original = app._driver.write
        app._driver.write = lambda data: (written.append(data), original(data))[1]  # type: ignore[method-assign]
        await pilot.press("c")
        encoded = base64.b64encode(IDLE_SNIPPET.encode()).decode()
        assert f"\x1b]52;c;{encoded}\a" in "".join(written)
        assert app.clipboard == IDLE_SNIPPET
        assert "copied the fix of WSD-IDLE-TIMEOUT-SHORT" in text_of(app, "#status")


async def test_save_writes_the_report_exactly_as_format_json(tmp_path: Path) -> None:
    """s + enter writes the report byte for byte as `--format json` prints it; the CLI run of the
    same target gives the same report apart from its timings."""
    target = parse_target("ws://127.0.0.1:1/")
    app = make_app(LiveRun(target, Settings(), options={}), save_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.report is not None)
        await pilot.press("s")
        await pilot.press("enter")
        saved = sorted(os.listdir(tmp_path))
        assert len(saved) == 1 and saved[0].startswith("wsdoctor-127.0.0.1-")
        assert str(tmp_path / saved[0]) in text_of(app, "#status")
    assert app.report is not None
    data = (tmp_path / saved[0]).read_text(encoding="utf-8")
    assert data == app.report.model_dump_json(indent=2) + "\n"

    out = io.StringIO()
    env = Environment(stdout=out, stderr=io.StringIO(), environ={}, stdout_isatty=False)
    await asyncio.to_thread(main, ["ws://127.0.0.1:1/", "--format", "json"], env)
    timing = {"started_at", "duration_s"}

    def untimed(value: object) -> object:
        if isinstance(value, dict):
            return {k: untimed(v) for k, v in value.items() if k not in timing | {"connect_s"}}
        if isinstance(value, list):
            return [untimed(v) for v in value]
        return value

    from_tui, from_cli = json.loads(data), json.loads(out.getvalue())
    assert from_tui["options"] == {}  # the CLI records its options; compare the rest
    from_cli["options"] = {}
    assert untimed(from_tui) == untimed(from_cli)


async def test_rows_change_live_from_running_to_verdicts() -> None:
    """While a probe runs its row spins; when it ends the row shows its mark and verdict."""
    gate = Gate()
    app = live(fake_checks(gate))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: gate.entered.is_set())
        await wait_until(pilot, lambda: app.checklist.rows["tcp"].phase is Phase.DONE)
        idle = app.checklist.rows["idle"]
        assert idle.phase is Phase.RUNNING
        label = str(app.checks._check_nodes["idle"].label)
        assert "Idle timeout…" in label
        assert "×" in str(app.checks._check_nodes["tcp"].label)
        assert "running" in text_of(app, "#header")
        gate.opened.set()
        await wait_until(pilot, lambda: app.report is not None)
        assert idle.phase is Phase.DONE
        assert not app.progress.display
        assert app.checks.selection == Selection("tcp", 0)  # the first failure, once finished
        assert "problems found" in text_of(app, "#header")


async def test_idle_progress_shows_a_bar_and_the_defaults_passed() -> None:
    """A progress event fills the row's bar and the details' progress bar, with its message."""
    report = failing_report()
    message = "60 s — ingress-nginx default"
    runner = replay(report, stop_before="idle", progress=message, fraction=0.5)
    app = make_app(LiveRun(TARGET, Settings(), checks=checks_of(report), runner=runner))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.checklist.rows["idle"].progress_fraction == 0.5)
        assert message in str(app.checks._check_nodes["idle"].label)
        label = str(app.checks._check_nodes["idle"].label)
        assert "▕██████      ▏ 60 s" in label
        app.checks.select(Selection("idle"))
        await pilot.pause()
        bar = app.query_one("#detail-progress", ProgressBar)
        assert bar.display and bar.progress == 0.5
        assert message in text_of(app, "#detail-progress-text")
        assert app.progress.display  # the strip under the checklist, whatever is selected
        assert "idle ▕██████      ▏ 50% 60 s — ingress-nginx default" in text_of(
            app, "#progress"
        )
        app.checks.select(Selection("dns"))
        await pilot.pause()
        assert app.progress.display and not bar.display


async def test_key_press_during_a_long_probe_is_handled_within_100_ms() -> None:
    """While an idle-like probe streams progress, each key press is handled in under 100 ms."""
    app = live(fake_checks(idle_steps=3000, step_s=0.01))  # 30 s; quitting cancels it
    handled: list[float] = []
    toggle = app.action_toggle_failures

    def timed_toggle() -> None:
        handled.append(time.perf_counter())
        toggle()

    app.action_toggle_failures = timed_toggle  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.checklist.rows["idle"].progress_fraction is not None)
        latencies = []
        for press in range(12):
            count = len(handled)
            pressed = time.perf_counter()
            app.post_message(events.Key("f", "f"))  # as the terminal driver delivers it
            await wait_until(pilot, lambda: len(handled) > count, timeout=1)  # noqa: B023
            if press >= 2:  # the first presses warm Textual's key handling up (caches, imports)
                latencies.append(handled[-1] - pressed)
            await pilot.pause(0.05)
        assert app.checklist.rows["idle"].phase is Phase.RUNNING, "the probe ended too early"
    assert max(latencies) < 0.1, latencies


async def test_quit_mid_run_cancels_probes_closes_connections_within_1_s() -> None:
    """q during a probe that holds a connection: the app exits in under 1 s, the probe is
    cancelled, its connection is closed and the run's event loop is closed."""
    server = ConnectionCounter()
    gate = Gate()

    async def probe_hold(ctx: ProbeContext) -> Observation:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            await gate.wait()
        finally:
            writer.close()
        return TcpObservation(attempts=[])

    hold = Check(id="idle", title="Idle timeout", hop=Hop.IDLE, probe=probe_hold)
    app = live([hold])
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: gate.entered.is_set() and server.open == 1)
            start = time.perf_counter()
            await pilot.press("q")
        elapsed = time.perf_counter() - start
        assert elapsed < 1.0
        assert gate.cancelled.is_set()
        assert app.diagnosis is not None and app.diagnosis.finished.wait(1)
        for _ in range(100):
            if server.open == 0:
                break
            await asyncio.sleep(0.01)
        assert server.open == 0
        assert app.return_value is None  # quit before the run finished: no report
    finally:
        server.close()


async def test_rerun_starts_a_fresh_run() -> None:
    """r runs everything again: rows go back to pending/running and finish anew."""
    app = live(fake_checks())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.report is not None)
        first, generation = app.report, app.generation
        await pilot.press("r")
        # A new generation (the old run's thread may still be finishing: cancelling it takes
        # a generation of its own); the new run ends with a report of its own.
        assert app.generation > generation
        await wait_until(pilot, lambda: app.report is not None)
        assert app.report is not first


async def test_saved_report_cannot_rerun_and_help_lists_keys() -> None:
    """A saved report offers no rerun (no network); ? opens the key help, escape closes it."""
    app = make_app(failing_report(), animate=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.check_action("rerun", ()) is False
        await pilot.press("r")
        assert app.generation == 0
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_saved_report_makes_no_network_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening and using a saved report never connects anywhere (even when r is pressed)."""
    import socket

    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("no network in show")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    app = make_app(failing_report(), animate=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "c", "f", "f", "r", "down", "enter")
        await pilot.pause(0.1)
    assert attempts == [] and app.diagnosis is None
