"""Ctrl-C early in ``wsdoctor watch``: before the first connection is held (the preflight's
upgrade still waiting on a server that never answers), the watch ends at once and still
writes its report and summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wsdoctor.exit import ExitStatus
from wsdoctor.lab.backend import LabLoop
from wsdoctor.lab.hostile import HostileServer, Hostility, start_hostile
from wsdoctor.report import Report


@pytest.fixture
def silent(lab_loop: LabLoop) -> Iterator[HostileServer]:
    """A server that accepts the upgrade request and never answers."""
    server = lab_loop.run(start_hostile(Hostility.NEVER_ANSWERS))
    yield server
    lab_loop.run(server.stop())


def test_ctrl_c_before_the_first_connection_writes_the_report_at_once(
        silent: HostileServer, tmp_path: Path) -> None:
    """Given a watch whose preflight upgrade waits on a silent server (time limit 30 s),
    SIGINT ends it within a few seconds, not at the limit: the report file holds the
    upgrade as interrupted, stdout says so with the summary line, and the exit status is
    4 (incomplete), not a verdict on a server nobody measured."""
    report_path = tmp_path / "watch.json"
    argv = [sys.executable, "-m", "wsdoctor", "watch", silent.url(), "--no-kubernetes",
            "--timeout", "30", "--format", "text", "--no-color", "-o", str(report_path)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 30
        while silent.open_connections < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the upgrade request is sent: the preflight waits for its answer
        assert silent.open_connections >= 1
        interrupted_at = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        took = time.monotonic() - interrupted_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert took < 5, took
    assert proc.returncode == ExitStatus.INCOMPLETE, (out, err)
    text = out.decode()
    assert "interrupted before the first connection was held" in text, text
    assert text.rstrip().splitlines()[-1].startswith(f"! {silent.url()}: diagnosis incomplete")
    assert b"Traceback" not in err
    report = Report.model_validate(json.loads(report_path.read_text()))
    handshake = report.check("handshake")
    assert handshake is not None and handshake.status == "error"
    assert handshake.reason == "interrupted (Ctrl-C or SIGTERM) before it finished"
    assert not [f for f in report.findings if f.code == "WSD-WATCH-NOTHING-HELD"]
