"""`wsdoctor demo --proxy traefik`: the demo deployment behind the real Traefik, diagnosed down
to a Traefik-specific root cause, and nothing left running."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab


def test_traefik_demo_puts_the_ignored_sticky_annotation_first(tmp_path: Path) -> None:
    """The first finding is Traefik's: the Service's sticky annotation does not apply to the
    IngressRoute, which explains the failed affinity; Traefik's 3 s readTimeout is reported as
    not cutting the idle WebSocket; no server or scratch file outlives the demo."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "wsdoctor", "demo", "--proxy", "traefik",
                           "--format", "json"], capture_output=True, text=True, timeout=60,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    first = report["findings"][0]
    assert first["code"] == "WSD-K8S-TRAEFIK-STICKY-IGNORED", [
        f["code"] for f in report["findings"]]
    assert "WSD-AFFINITY-NONE" in first["explains"]
    assert first["resource"]["kind"] == "Service"
    assert "spec.routes[].services[].sticky.cookie" in first["fix"]["summary"]
    checks = {c["id"]: c["status"] for c in report["checks"]}
    assert checks["tls"] != "fail" and checks["handshake"] == "ok"
    assert checks["messages"] == "ok"
    idle = next(c for c in report["checks"] if c["id"] == "idle")["observation"]
    assert idle["timeout_s"] is None and idle["cap_ping"] == "pong"
    timeouts = next(f for f in report["findings"] if f["code"] == "WSD-K8S-TRAEFIK-TIMEOUTS")
    assert "readTimeout 3 s" in timeouts["detail"]
    leftovers = subprocess.run(["pgrep", "-af", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout == "", "the demo left a server running"
    assert list(tmp_path.iterdir()) == [], "the demo left scratch files behind"
