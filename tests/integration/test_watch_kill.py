"""``kill -9`` of a running ``wsdoctor watch -o FILE`` leaves a report that validates against
the published schema, holds every drop older than 5 s, and ``wsdoctor show`` opens."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from tests.helpers import LAB_HOST, pinned_args, run_cli
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.proxies import Nginx, NginxLocation, NginxSite
from wsdoctor.report import Report, json_schema
from wsdoctor.watch.model import WatchObservation

pytestmark = [pytest.mark.lab, pytest.mark.slow]

DROP = re.compile(r"\+\s*([0-9.]+)s drop +#(\d+) ")


def test_kill_9_leaves_a_valid_report_with_every_drop_older_than_5_s(
        replicas: list[Backend], start_nginx: Callable[[NginxSite], Nginx],
        tmp_path: Path) -> None:
    """Given a watch whose connections are cut every second (proxy_read_timeout 1 s), killed
    with SIGKILL after ~8 s, the report file validates, holds every drop the watch printed
    more than 5 s before the kill, and `wsdoctor show` renders it."""
    nginx = start_nginx(NginxSite(host=LAB_HOST, locations=[NginxLocation(
        upstreams=[b.port for b in replicas], read_timeout=1.0)]))
    report_path, out_path = tmp_path / "watch.json", tmp_path / "stdout.txt"
    argv = [sys.executable, "-m", "wsdoctor", "watch", f"ws://{LAB_HOST}:{nginx.port}/ws",
            *pinned_args(nginx.port), "--no-kubernetes", "-c", "3", "--echo", "none",
            "--backoff", "0.2", "--duration", "60", "-o", str(report_path), "--no-color"]
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and out_path.read_text().count(" drop ") < 18:
                time.sleep(0.2)
            time.sleep(0.3)
            killed_at = time.time()
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    printed = out_path.read_text()
    data = json.loads(report_path.read_text())
    jsonschema.validate(data, json_schema())
    report = Report.model_validate(data)
    check = report.check("watch")
    assert check is not None and isinstance(check.observation, WatchObservation)
    obs = check.observation
    assert not obs.finished
    t_kill = killed_at - obs.started_at.timestamp()
    old = {int(n) for t, n in DROP.findall(printed) if float(t) < t_kill - 5.0}
    assert len(old) >= 3, printed
    saved = {d.id for d in obs.drops()}
    assert old <= saved, (sorted(old - saved), printed)
    shown = run_cli("show", str(report_path), "--format", "text")
    assert "watch timeline (still running when saved" in shown.stdout, shown
