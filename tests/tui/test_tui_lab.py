"""The TUI against the lab: real probes, real nginx, the real command in tmux."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual import events

from tests.helpers import LAB_HOST, pinned_args, run_cli
from tests.tui.scenarios import ConnectionCounter
from tests.tui.tmux import WSDOCTOR, Tmux, have_tmux
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.proxies import Nginx
from wsdoctor.reports.tui import LiveRun, make_app
from wsdoctor.reports.tui.state import Phase
from wsdoctor.settings import ResolvePin, Settings
from wsdoctor.target import parse_target

pytestmark = pytest.mark.lab
needs_tmux = pytest.mark.skipif(not have_tmux(), reason="tmux is not installed (./dev test)")


@pytest.fixture
def tmux(request: pytest.FixtureRequest) -> Iterator[Tmux]:
    session = Tmux(re.sub(r"\W", "-", request.node.name)[-40:], width=100, height=30)
    yield session
    session.close()


def _mark(label: Text) -> str:
    return label.plain[9:10]  # after the hop column


async def test_rows_change_live_against_nginx(healthy_nginx: Nginx, lab_ca_file: Path) -> None:
    """Against real nginx each row is seen running (spinner) and then with its verdict mark;
    the finished view shows the real verdicts."""
    port = healthy_nginx.port
    target = parse_target(f"wss://{LAB_HOST}:{port}/ws")
    settings = Settings(
        resolve=[ResolvePin(host=LAB_HOST, port=port, address="127.0.0.1")],
        cafile=str(lab_ca_file),
    )
    app = make_app(LiveRun(target, settings))
    seen: dict[str, list[str]] = {}
    relabel = app.checks.relabel

    def recording(only: set[str] | None = None) -> None:
        relabel(only)
        for check_id, node in app.checks._check_nodes.items():
            marks = seen.setdefault(check_id, [])
            mark = _mark(node.label) if isinstance(node.label, Text) else ""
            if not marks or marks[-1] != mark:
                marks.append(mark)

    app.checks.relabel = recording  # type: ignore[method-assign]
    async with app.run_test(size=(100, 30)) as pilot:
        deadline = time.monotonic() + 20
        while app.report is None:
            assert time.monotonic() < deadline
            await pilot.pause(0.01)
        assert app.report is not None
        statuses = {c.id: c.status.value for c in app.report.checks}
        finished = {cid: _mark(n.label) for cid, n in app.checks._check_nodes.items()}
        header = app.header.content
    assert statuses["tls"] == "ok" and statuses["tcp"] == "ok"
    assert isinstance(header, Text)
    assert f"→ 127.0.0.1:{port} · nginx\n" in header.plain  # address, what answered
    assert finished["tls"] == "√" and finished["tcp"] == "√"
    for check_id in ("tcp", "tls"):
        marks = seen[check_id]
        assert marks[0] == "·", marks  # pending first
        assert any(m in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏" for m in marks), marks  # then running
        assert marks[-1] in "√‼×!-", marks  # then its verdict


@needs_tmux
def test_real_command_live_run_then_save_matches_format_json(
    tmux: Tmux, healthy_nginx: Nginx, lab_ca_file: Path, tmp_path: Path
) -> None:
    """`wsdoctor wss://…` on a terminal runs the TUI against nginx; s + enter saves a report
    in the form of `--format json` (same fields, verdicts and codes as a JSON run of the same
    target; byte-identity of the serialisation is in test_tui_app); q exits with its status."""
    port = healthy_nginx.port
    url = f"wss://{LAB_HOST}:{port}/ws"
    args = [url, *pinned_args(port, lab_ca_file)]
    tmux.start(["sh", "-c", f'cd "{tmp_path}" && exec "$0" "$@"', WSDOCTOR, *args])
    screen = tmux.wait_for("checks (path order)")
    screen = tmux.wait_for(" √ tls")
    assert re.search(r"network\s+√ tcp", screen), screen
    tmux.wait_for("all checks passed")  # the run has finished
    tmux.send("s")
    tmux.wait_for("Save the JSON report to:")
    tmux.send("Enter")
    tmux.wait_for("saved the JSON report to")
    saved = [p for p in os.listdir(tmp_path) if p.startswith("wsdoctor-") and p.endswith(".json")]
    assert len(saved) == 1
    from_tui = json.loads((tmp_path / saved[0]).read_text(encoding="utf-8"))
    cli = run_cli(*args, "--format", "json")
    from_cli = json.loads(cli.stdout)

    # Two runs differ in timings and in which replica answered; everything else is the same.
    def verdicts(report: dict[str, Any]) -> object:
        return (
            [(c["id"], c["hop"], c["status"]) for c in report["checks"]],
            [(f["code"], f["status"], f["check"]) for f in report["findings"]],
            report["target"],
            report["status"],
        )

    def shape(value: object) -> object:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shape(v) for v in value]
        return type(value).__name__

    assert verdicts(from_tui) == verdicts(from_cli)
    assert shape(from_tui) == shape(from_cli)
    tmux.send("q")
    status, waited = tmux.wait_exit()
    assert status == cli.status and waited < 1.0


@needs_tmux
def test_quit_mid_run_leaves_no_connection_open(tmux: Tmux) -> None:
    """The real command against a server that accepts TCP and never answers TLS: while the
    TLS row runs the server holds the probe's connection; q exits in under 1 s and the
    server then sees no connection open."""
    server = ConnectionCounter()
    try:
        args = [f"wss://{LAB_HOST}:{server.port}/", *pinned_args(server.port), "--timeout", "20"]
        tmux.start([WSDOCTOR, *args])
        tmux.wait_for("TLS handshake")
        assert server.wait_open(1, at_least=True) >= 1, "the probes did not connect"
        time.sleep(0.3)  # let the other probes connect too: quit with several in flight
        screen = tmux.wait_for("running ·")
        assert re.search(r"tls\s+\S tls\s+\d", screen), screen
        tmux.send("q")
        status, waited = tmux.wait_exit()
        assert status == 3 and waited < 1.0
        assert server.wait_open(0, timeout=1.0) == 0
        assert server.accepted >= 1
    finally:
        server.close()


async def test_idle_measurement_keys_within_100_ms_and_quit_closes_the_websocket(
    healthy_nginx: Nginx, replicas: list[Backend], lab_ca_file: Path
) -> None:
    """During the real idle measurement through nginx a key press is handled in under
    100 ms; q then exits in under 1 s and the replicas see no WebSocket left open."""
    port = healthy_nginx.port
    target = parse_target(f"wss://{LAB_HOST}:{port}/ws")
    settings = Settings(
        only=["idle"],
        resolve=[ResolvePin(host=LAB_HOST, port=port, address="127.0.0.1")],
        cafile=str(lab_ca_file),
    )
    app = make_app(LiveRun(target, settings))
    handled: list[float] = []
    toggle = app.action_toggle_failures

    def timed_toggle() -> None:
        handled.append(time.perf_counter())
        toggle()

    app.action_toggle_failures = timed_toggle  # type: ignore[method-assign]

    def open_websockets() -> int:
        return sum(r.open_connections for r in replicas)

    before = open_websockets()
    async with app.run_test(size=(100, 30)) as pilot:
        deadline = time.monotonic() + 10
        while not (
            app.checklist.rows["idle"].phase is Phase.RUNNING and open_websockets() > before
        ):
            assert time.monotonic() < deadline, "the idle probe did not open its WebSocket"
            await pilot.pause(0.01)
        latencies = []
        for press in range(12):
            count = len(handled)
            pressed = time.perf_counter()
            app.post_message(events.Key("f", "f"))
            while len(handled) == count:
                assert time.perf_counter() - pressed < 2
                await pilot.pause(0.001)
            if press >= 2:  # the first presses warm Textual's key handling up (caches, imports)
                latencies.append(handled[-1] - pressed)
            await pilot.pause(0.05)
        assert app.checklist.rows["idle"].phase is Phase.RUNNING
        quit_at = time.perf_counter()
        await pilot.press("q")
    assert time.perf_counter() - quit_at < 1.0
    assert max(latencies) < 0.1, latencies
    deadline = time.monotonic() + 1
    while open_websockets() > before and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    assert open_websockets() == before
