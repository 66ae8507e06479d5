"""`wsdoctor watch` on the command line: its help (fast, with the main command's connection
and kubernetes options), one line and exit 2 for every wrong option, and a target that never
upgrades ending at once with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli
from wsdoctor.commands.netoptions import add_connection_options, add_kubernetes_options
from wsdoctor.commands.options import build_parser
from wsdoctor.commands.watch import build_watch_parser
from wsdoctor.lab.listeners import closed_port


def _options(parser: object, group: str) -> set[str]:
    groups = {g.title: g for g in parser._action_groups}  # type: ignore[attr-defined]
    return {s for a in groups[group]._group_actions for s in a.option_strings}


@pytest.mark.parametrize("group", ["connection", "kubernetes (read-only)"])
def test_watch_has_every_connection_and_kubernetes_option_of_the_main_command(
        group: str) -> None:
    """The watch takes the main command's connection and kubernetes options, all of them
    (both parsers are built from the same functions)."""
    assert add_connection_options and add_kubernetes_options
    assert _options(build_watch_parser(), group) == _options(build_parser(), group)


@pytest.mark.parametrize(("argv", "message"), [
    (["--duration", "soon"], "'soon' is not a duration"),
    (["-c", "0"], "--connections must be between 1 and 10000"),
    (["--heartbeat", "-1"], "must be a positive duration"),
    (["--pong-timeout", "0"], "must be a positive duration"),
    (["--resolve", "x"], "expected HOST:PORT:ADDR"),
    (["--format", "markdown"], "invalid choice"),
])
def test_a_wrong_option_is_one_line_and_exit_2(argv: list[str], message: str) -> None:
    """Each wrong option: exit 2, one line naming it, pointing at the watch's help."""
    result = run_cli("watch", "ws://127.0.0.1:9/ws", *argv)
    assert result.status == 2, result
    assert message in result.stderr and "wsdoctor watch --help" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_report_that_cannot_be_written_stops_before_watching(tmp_path: Path) -> None:
    """-o into a directory that does not exist: exit 3 at once, nothing watched."""
    result = run_cli("watch", "ws://127.0.0.1:9/ws", "-o", str(tmp_path / "no" / "r.json"))
    assert result.status == 3 and "cannot write the report" in result.stderr


def test_a_target_that_never_upgrades_ends_at_once_with_the_reason(tmp_path: Path) -> None:
    """Given a closed port, the watch does not hold anything: it prints why (the handshake's
    diagnosis) and WSD-WATCH-NOTHING-HELD, exits 1, and the report says so."""
    out = tmp_path / "r.json"
    result = run_cli("watch", f"ws://127.0.0.1:{closed_port()}/ws", "--no-kubernetes",
                     "-o", str(out))
    assert result.status == 1, result
    assert "no address upgraded; nothing to hold" in result.stdout
    assert "WSD-WATCH-NOTHING-HELD" in result.stdout
    assert "WSD-WATCH-NOTHING-HELD" in out.read_text()
