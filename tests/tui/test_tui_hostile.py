"""The real ``wsdoctor`` in a real terminal (tmux) against the echoing server: the escape
sequences it sends never act on the terminal (the pane's title stays, no OSC 52 reaches the
clipboard, the screen is not cleared) and no secret is on screen, in the TUI and in text."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.integration.test_hostile_output import SECRETS, TOKEN
from tests.tui.tmux import WSDOCTOR, Tmux, have_tmux
from wsdoctor.lab.backend import LabLoop
from wsdoctor.lab.echoing import EchoingServer, start_echoing

pytestmark = pytest.mark.skipif(not have_tmux(), reason="tmux is not installed (./dev test)")


@pytest.fixture
def tmux(request: pytest.FixtureRequest) -> Iterator[Tmux]:
    session = Tmux(re.sub(r"\W", "-", request.node.name)[-40:], width=120, height=50)
    yield session
    session.close()


@pytest.fixture
def echoing(lab_loop: LabLoop) -> Iterator[EchoingServer]:
    server = lab_loop.run(start_echoing(upgrade=True))
    yield server
    lab_loop.run(server.stop())


def _terminal_untouched(tmux: Tmux) -> None:
    """Nothing the server sent acted on the terminal, and no secret is in its scrollback."""
    title = tmux.tmux("display-message", "-p", "-t", tmux.session, "#{pane_title}")
    assert "pwned" not in title, title
    assert tmux.tmux("list-buffers", check=False).strip() == ""  # no OSC 52 clipboard write
    history = tmux.history()
    leaked = [form for form in SECRETS.forms if form in history]
    assert not leaked, leaked


@pytest.mark.parametrize("fmt", ["tui", "text"])
def test_a_hostile_server_cannot_drive_the_terminal(
    tmux: Tmux, echoing: EchoingServer, fmt: str
) -> None:
    """Given the echoing server, the TUI (every failure visited) and the text report run in
    tmux leave its title and clipboard alone and show the escapes as text."""
    tmux.start([WSDOCTOR, echoing.url(), "--timeout", "2", "--no-kubernetes", "--format", fmt,
                "-H", f"Authorization: Bearer {TOKEN}"])
    if fmt == "tui":
        tmux.wait_for("first failure selected")  # the messages check's finding
        tmux.send("Up", "Up", "Up")  # past http2 to the http check: it quotes the Server header
        screen = tmux.wait_for("WSD-HTTP-SERVER  Answered by")
        assert "(Server: nginx" in screen  # the header full of escapes is on screen
        _terminal_untouched(tmux)
        tmux.send("q")
    status, _ = tmux.wait_exit(timeout=20)
    assert status == 1
    _terminal_untouched(tmux)
    if fmt == "text":
        screen = tmux.history()
        assert "\\x1b]52;c;cHduZWQ=\\x07" in screen  # the OSC 52 shown, not obeyed
    assert "problems found" in tmux.history() and screen
