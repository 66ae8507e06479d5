"""Drive the real ``wsdoctor`` command in a detached tmux session: send keys, read the screen.

Each instance runs its own tmux server (``-L``), so tests never touch a user's sessions, and
the server accepts OSC 52 (``set-clipboard on``) so a copied fix lands in a tmux buffer."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

EXIT_MARK = "wsdoctor-test-exit="
WSDOCTOR = str(Path(sys.executable).parent / "wsdoctor")


def have_tmux() -> bool:
    """Whether tmux is installed (./dev installs it)."""
    return shutil.which("tmux") is not None


class Tmux:
    """One detached session of a fixed size running one command."""

    def __init__(self, name: str, width: int = 80, height: int = 24) -> None:
        self.socket = f"wsdoctor-test-{os.getpid()}-{name}"
        self.session = name
        self.width, self.height = width, height

    def tmux(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def start(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        """Start ``argv`` in a new session. A shell around it prints its exit status when it
        ends (tmux itself may notice a dead pane late)."""
        command = " ".join(_quote(a) for a in argv) + f"; s=$?; echo; echo {EXIT_MARK}$s"
        env_args = [a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")]
        self.tmux(
            "-f", "/dev/null",
            "new-session", "-d", "-s", self.session,
            "-x", str(self.width), "-y", str(self.height),
            *env_args, command,
            ";", "set-option", "-t", self.session, "remain-on-exit", "on",
            ";", "set-option", "-s", "set-clipboard", "on",
        )  # fmt: skip

    def screen(self, escapes: bool = False) -> str:
        """What the pane shows now (with SGR escapes when asked)."""
        return self.tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", self.session)

    def history(self) -> str:
        """The pane with its scrollback (what a command printed after the TUI ended)."""
        return self.tmux("capture-pane", "-p", "-S", "-200", "-t", self.session)

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        """Wait until ``text`` is on screen; return the screen."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear; the screen is:\n{screen}")
            time.sleep(0.05)

    def send(self, *keys: str) -> None:
        """Press keys (tmux key names: q, Enter, Escape, Down...)."""
        self.tmux("send-keys", "-t", self.session, *keys)

    def exit_status(self) -> int | None:
        """The command's exit status once it has ended, else None."""
        found = re.search(rf"^{EXIT_MARK}(\d+)$", self.history(), re.MULTILINE)
        return int(found.group(1)) if found else None

    def wait_exit(self, timeout: float = 5.0) -> tuple[int, float]:
        """Wait for the command to end: (exit status, seconds waited)."""
        start = time.monotonic()
        while (status := self.exit_status()) is None:
            if time.monotonic() - start > timeout:
                raise AssertionError(f"still running after {timeout} s:\n{self.screen()}")
            time.sleep(0.02)
        return status, time.monotonic() - start

    def clipboard(self) -> str:
        """The newest tmux paste buffer (set by OSC 52 from the app)."""
        return self.tmux("show-buffer")

    def close(self) -> None:
        """Stop the session's tmux server and remove its socket file."""
        path = self.tmux("display-message", "-p", "#{socket_path}", check=False).strip()
        self.tmux("kill-server", check=False)
        if path:
            Path(path).unlink(missing_ok=True)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
