"""The real ``wsdoctor`` command in a real terminal (tmux): what a person sees and presses."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tui.scenarios import AFFINITY_SNIPPET, failing_report, save_report
from tests.tui.tmux import WSDOCTOR, Tmux, have_tmux

pytestmark = pytest.mark.skipif(not have_tmux(), reason="tmux is not installed (./dev test)")


@pytest.fixture
def tmux(request: pytest.FixtureRequest) -> Iterator[Tmux]:
    session = Tmux(re.sub(r"\W", "-", request.node.name)[-40:])
    yield session
    session.close()


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_report(failing_report(), tmp_path)


def test_show_displays_failures_and_the_first_fix_then_quits(tmux: Tmux, saved: Path) -> None:
    """`wsdoctor show` at 80×24: failures marked, the first failure's fix on screen; n moves to
    the next failure, c copies its fix through OSC 52, q exits at once with status 1."""
    tmux.start([WSDOCTOR, "show", str(saved)])
    tmux.wait_for("first failure selected")
    tmux.wait_for('nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"')
    # The check list (nine rows at 80x24) settles scrolled from the top down to the selected
    # finding; a capture before that may still show it scrolled to the end.
    screen = tmux.wait_for("√ dns")
    assert re.search(r"× idle\s+1m00s", screen), screen
    assert "└ × WSD-IDLE-TIMEOUT-SHORT" in screen and "‼ messages" in screen
    assert "× WSD-IDLE-TIMEOUT-SHORT" in screen
    assert "Raise proxy-read-timeout and proxy-send-timeout" in screen
    assert 'nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"' in screen
    assert all(len(line) <= 80 for line in screen.splitlines())

    tmux.send("n")
    tmux.wait_for("failure 2 of 3: WSD-AFFINITY-NONE")
    screen = tmux.wait_for("└ × WSD-AFFINITY-NONE")
    assert re.search(r"× affinity\s+350 ms", screen), screen
    tmux.send("c")
    tmux.wait_for("copied the fix of WSD-AFFINITY-NONE")
    assert tmux.clipboard() == AFFINITY_SNIPPET

    tmux.send("q")
    status, waited = tmux.wait_exit()
    assert status == 1  # the report has failures (--fail-on fail)
    assert waited < 1.0
    assert "chat.example.test/ws: problems found (2 failed" in tmux.history()  # the verdict stays


def _sgr_colours(screen: str) -> list[str]:
    """The colour parameters of every SGR escape on a captured screen."""
    colours = []
    for params in re.findall(r"\x1b\[([0-9;]*)m", screen):
        codes = [int(p) if p else 0 for p in params.split(";")]
        i = 0
        while i < len(codes):
            code = codes[i]
            if code in (38, 48) and i + 1 < len(codes):
                width = 5 if codes[i + 1] == 2 else 3
                colours.append(";".join(map(str, codes[i : i + width])))
                i += width
                continue
            if 30 <= code <= 37 or 40 <= code <= 47 or 90 <= code <= 97 or 100 <= code <= 107:
                colours.append(str(code))
            i += 1
    return colours


def _is_grey(colour: str) -> bool:
    parts = [int(p) for p in colour.split(";")]
    if parts[:2] in ([38, 2], [48, 2]):
        return parts[2] == parts[3] == parts[4]
    if parts[:2] in ([38, 5], [48, 5]):
        return parts[2] in (0, 7, 8, 15, 16, 231) or 232 <= parts[2] <= 255
    return parts[0] in (30, 37, 40, 47, 90, 97, 100, 107)


@pytest.mark.parametrize("how", ["NO_COLOR=1", "--no-color"])
def test_no_color_renders_in_shades_of_grey(tmux: Tmux, saved: Path, how: str) -> None:
    """With NO_COLOR (or --no-color) every colour on screen is a grey; without, there is
    colour (so this test can fail)."""
    control = Tmux(tmux.session + "-c")
    try:
        control.start([WSDOCTOR, "show", str(saved)], env={"COLORTERM": "truecolor"})
        control.wait_for("first failure selected")
        control.wait_for("proxy-read-timeout")
        assert not all(_is_grey(c) for c in _sgr_colours(control.screen(escapes=True)))
    finally:
        control.close()

    env = {"COLORTERM": "truecolor"} | ({"NO_COLOR": "1"} if how == "NO_COLOR=1" else {})
    argv = [WSDOCTOR, "show", str(saved)] + (["--no-color"] if how == "--no-color" else [])
    tmux.start(argv, env=env)
    tmux.wait_for("first failure selected")
    tmux.wait_for("proxy-read-timeout")
    colours = _sgr_colours(tmux.screen(escapes=True))
    assert colours, "expected shades of grey, found no SGR at all"
    assert [c for c in colours if not _is_grey(c)] == []


def test_live_run_shows_running_rows_and_quits_at_once(tmux: Tmux) -> None:
    """`wsdoctor TARGET` on a terminal is the TUI: a row runs (DNS server that never answers),
    q quits in under a second, and the exit says the run did not finish."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    try:
        tmux.start(
            [WSDOCTOR, "ws://chat.test:1/", "--dns-server", f"127.0.0.1:{port}", "--timeout", "5"]
        )
        tmux.wait_for("running ·")
        screen = tmux.wait_for("DNS resolution…")  # the row is running
        assert re.search(r"name\s+\S dns\s+\d+ ms", screen), screen
        assert "· tcp" in screen  # waiting for dns
        tmux.send("q")
        status, waited = tmux.wait_exit()
        assert status == 3 and waited < 1.0
        assert "quit before the diagnosis finished" in tmux.history()
    finally:
        silent.close()
