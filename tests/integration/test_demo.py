"""`wsdoctor demo`: a real diagnosis of the built-in deployment, and nothing left running."""

import json
import os
import subprocess
import sys
from pathlib import Path


def _processes_using(directory: Path) -> list[str]:
    """Command lines of running processes that mention ``directory``."""
    out = subprocess.run(["pgrep", "-af", str(directory)], capture_output=True, text=True)
    return out.stdout.splitlines()


def test_demo_shows_failures_with_fixes_and_stops_everything(tmp_path: Path) -> None:
    """The demo's JSON report has fail findings with fixes; exit 0; no server outlives it."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # every scratch dir of the demo lands here
    proc = subprocess.run([sys.executable, "-m", "wsdoctor", "demo", "--format", "json"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    failures = [f for f in report["findings"] if f["status"] == "fail"]
    assert {f["code"] for f in failures} >= {
        "WSD-K8S-IDLE-BINDS-SHORT", "WSD-IDLE-TIMEOUT-SHORT", "WSD-AFFINITY-NONE"}
    assert all(f["fix"] and f["fix"]["summary"] for f in failures)
    assert report["findings"][0]["status"] == "fail"
    checks = {c["id"]: c["status"] for c in report["checks"]}
    assert checks["handshake"] == "ok" and checks["messages"] == "ok"
    # The fake cluster behind the demo: the configured 3 s timeout is the root cause, first.
    first = report["findings"][0]
    assert first["code"] == "WSD-K8S-IDLE-BINDS-SHORT"
    assert first["explains"] == ["WSD-IDLE-TIMEOUT-SHORT"]
    assert first["resource"]["kind"] == "Ingress" and first["resource"]["name"] == "chat"
    assert "proxy-read-timeout" in first["resource"]["field"]
    assert 'proxy-read-timeout: "60"' in first["fix"]["snippet"]
    assert _processes_using(tmp_path) == [], "the demo left a server running"
    assert list(tmp_path.iterdir()) == [], "the demo left scratch files behind"


def test_demo_text_names_the_command_it_runs() -> None:
    """The text demo prints the exact wsdoctor command, so it can be repeated by hand."""
    proc = subprocess.run([sys.executable, "-m", "wsdoctor", "demo", "--short"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "running  wsdoctor wss://chat.demo.test:" in proc.stderr
    assert "WSD-IDLE-TIMEOUT-SHORT" in proc.stdout


def test_demo_serve_stopped_by_sigterm_stops_everything(tmp_path: Path) -> None:
    """`wsdoctor demo --serve` killed with SIGTERM stops nginx and removes its scratch files."""
    import signal
    import time

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "wsdoctor", "demo", "--serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        assert "diagnose it with" in proc.stdout.readline()
        deadline = time.monotonic() + 10
        while not _processes_using(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_using(tmp_path), "nginx should be running while serving"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    finally:
        proc.kill()
    assert _processes_using(tmp_path) == [], "SIGTERM left a server running"
    assert list(tmp_path.iterdir()) == [], "SIGTERM left scratch files behind"
