"""Child server processes for the lab: a scratch directory each, started on loopback, waited
for until they listen, and stopped with everything they started (their process group)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class LabError(RuntimeError):
    """A lab server could not be started; the message says which and why."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def find_binary(name: str) -> str:
    """Path of a server binary (also looked up in /usr/sbin, which may not be on PATH)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")
    if not found:
        raise LabError(f"{name} is not installed (Debian: apt-get install {_PACKAGES[name]})")
    return found


_PACKAGES = {"nginx": "nginx-light", "haproxy": "haproxy", "dnsmasq": "dnsmasq-base",
             "squid": "squid", "microsocks": "microsocks"}


def wait_for_port(host: str, port: int, proc: subprocess.Popen[bytes], what: str,
                  log: Path, timeout: float = 10) -> None:
    """Wait until ``proc`` listens on ``host:port``; its log's tail when it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"{what} exited at start: {log.read_text(errors='replace')[-800:]}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise LabError(f"{what} did not listen on {host}:{port} within {timeout} s")


class LabProcess:
    """A child server process with its own scratch directory."""

    name = "server"

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"wsdoctor-{self.name}-"))
        os.chmod(self.dir, 0o755)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "log.txt"

    def _spawn(self, argv: list[str], wait_for: tuple[str, int] | None) -> None:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        if wait_for is not None:
            wait_for_port(*wait_for, self.proc, self.name, self.log)

    def stop(self) -> None:
        """Stop the process group and remove the scratch directory."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LabProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
