"""Connection lifetime against real nginx, HAProxy and websockets replicas on loopback:
idle timeouts, silent drops, heartbeats, session affinity and packet capture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LAB_HOST, pinned_args, run_cli
from wsdoctor.checks.capture import capture_unavailable
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.faults import SilentDropProxy
from wsdoctor.lab.proxies import HAProxy, HAProxySite, Nginx, NginxLocation, NginxSite

pytestmark = pytest.mark.lab


def diagnose_json(url: str, *args: str) -> tuple[dict[str, Any], float, int]:
    """Run ``wsdoctor URL ARGS --format json``; the report, the wall time and the status."""
    start = time.monotonic()
    result = run_cli(url, "--format", "json", *args)
    wall = time.monotonic() - start
    assert result.stdout, result.stderr
    return json.loads(result.stdout), wall, result.status


def check(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    found = next(c for c in report["checks"] if c["id"] == check_id)
    assert isinstance(found, dict)
    return found


def findings(report: dict[str, Any], check_id: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["check"] == check_id]


def in_parallel(*calls: Callable[[], Any]) -> list[Any]:
    """Run blocking calls concurrently (each CLI run has its own event loop)."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(c) for c in calls]]


@pytest.fixture
def timeout_labs(
    start_nginx: Callable[[NginxSite], Nginx], start_haproxy: Callable[[HAProxySite], HAProxy],
    replicas: list[Backend], lab_ca: LabCA,
) -> dict[str, tuple[str, list[str], float]]:
    """nginx 2 s (ws), nginx 5 s (wss, pinned name) and HAProxy 3 s tunnel timeouts."""
    r1 = replicas[0].port
    nginx2 = start_nginx(NginxSite(locations=[NginxLocation("/ws", [r1], read_timeout=2)]))
    nginx5 = start_nginx(NginxSite(host=LAB_HOST, tls=lab_ca.issue([LAB_HOST]), locations=[
        NginxLocation("/ws", [r1], read_timeout=5, send_timeout=5)]))
    haproxy3 = start_haproxy(HAProxySite(backends=[("r1", r1)], tunnel_timeout=3))
    return {
        "nginx-2s": (f"ws://127.0.0.1:{nginx2.port}/ws", [], 2.0),
        "nginx-5s": (f"wss://{LAB_HOST}:{nginx5.port}/ws", pinned_args(nginx5.port), 5.0),
        "haproxy-3s": (f"ws://127.0.0.1:{haproxy3.port}/ws", [], 3.0),
    }


def test_idle_timeouts_are_measured_within_100_ms_and_the_proxy_closed(
    timeout_labs: dict[str, tuple[str, list[str], float]], lab_ca_file: Path,
) -> None:
    """Acceptance 1: 2 s, 5 s and 3 s timeouts within 0.1 s, closed by a proxy with a bare
    FIN, and each run (idle, keepalive and the default checks) takes at most T + 1 s."""
    runs = in_parallel(*(
        (lambda url=url, extra=extra: diagnose_json(url, "--idle", "--cacert",
                                                     str(lab_ca_file), *extra))
        for url, extra, _ in timeout_labs.values()
    ))
    for (name, (_, _, configured)), (report, wall, status) in zip(
            timeout_labs.items(), runs, strict=True):
        idle = check(report, "idle")
        obs = idle["observation"]
        assert idle["status"] == "ok", (name, idle)
        assert abs(obs["timeout_s"] - configured) <= 0.1, (name, obs)
        assert obs["ending"] == "fin" and obs["closed_by"] == "proxy", (name, obs)
        assert obs["close_code"] is None and not obs["silent_drop"]
        [finding] = findings(report, "idle")
        assert finding["code"] == "WSD-IDLE-TIMEOUT"
        assert "without a close frame: the proxy closed it" in finding["detail"]
        assert wall <= configured + 1.0, (name, wall)
        assert report["duration_s"] <= configured + 1.0
        keepalive = check(report, "keepalive")["observation"]
        assert keepalive["survived"] and keepalive["schedule"] == "doubling", (name, keepalive)
        assert status == 0


def test_silent_drop_is_reported_as_such(
    replicas: list[Backend], start_silent_drop: Callable[[int, float], SilentDropProxy],
) -> None:
    """Acceptance 2: a hop that stops forwarding after 1 s is a silent drop, not 'no timeout'."""
    proxy = start_silent_drop(replicas[0].port, 1.0)
    report, wall, _ = diagnose_json(f"ws://127.0.0.1:{proxy.port}/ws", "--idle-max", "2",
                                    "--timeout", "1.5", "--skip", "affinity")
    obs = check(report, "idle")["observation"]
    assert obs["silent_drop"] and obs["cap_ping"] == "no_pong" and obs["timeout_s"] is None
    codes = [f["code"] for f in findings(report, "idle")]
    assert codes == ["WSD-IDLE-SILENT-DROP"]
    assert proxy.dropped >= 2  # the idle connection and keepalive's two
    assert wall < 2 + 1.5 + 1.0


def test_heartbeat_below_the_timeout_outlives_it_and_above_fails(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend],
) -> None:
    """Acceptance 4: pings every 0.5 s outlive nginx's 2 s timeout; every 3 s fails, quoting
    3 s and 2.0 s."""
    nginx = start_nginx(NginxSite(locations=[
        NginxLocation("/ws", [replicas[0].port], read_timeout=2)]))
    url = f"ws://127.0.0.1:{nginx.port}/ws"
    (fast, _, fast_status), (slow, _, slow_status) = in_parallel(
        lambda: diagnose_json(url, "--ping-interval", "0.5", "--skip", "affinity"),
        lambda: diagnose_json(url, "--ping-interval", "3", "--skip", "affinity"),
    )
    obs = check(fast, "keepalive")["observation"]
    assert obs["survived"] and obs["open_s"] > obs["reference_timeout_s"] + 0.25
    assert obs["pongs"] >= 4 and obs["ending"] is None
    assert [f["code"] for f in findings(fast, "keepalive")] == ["WSD-KEEPALIVE-WORKS"]
    assert fast_status == 0
    [finding] = findings(slow, "keepalive")
    assert finding["code"] == "WSD-KEEPALIVE-TOO-SLOW" and finding["status"] == "fail"
    assert "every 3 s" in finding["title"] and "2.0 s" in finding["title"]
    assert check(slow, "keepalive")["observation"]["survived"] is False
    assert slow_status == 1


def test_server_heartbeat_keeps_the_connection_past_nginx_timeout(
    start_nginx: Callable[[NginxSite], Nginx], start_backend: Callable[..., Backend],
) -> None:
    """A replica pinging every second keeps a silent client past nginx's 2 s timeout."""
    pinger = start_backend(name="pinger", ping_interval=1)
    nginx = start_nginx(NginxSite(locations=[NginxLocation("/ws", [pinger.port],
                                                           read_timeout=2)]))
    report, _, _ = diagnose_json(f"ws://127.0.0.1:{nginx.port}/ws", "--idle-max", "3",
                                 "--only", "idle")
    obs = check(report, "idle")["observation"]
    assert obs["timeout_s"] is None and obs["cap_ping"] == "pong"
    assert obs["server_pings"] >= 2 and abs(obs["server_ping_interval_s"] - 1.0) < 0.1
    assert "WSD-IDLE-SERVER-HEARTBEAT" in [f["code"] for f in findings(report, "idle")]


def test_application_close_frame_is_told_apart(start_backend: Callable[..., Backend]) -> None:
    """A replica that closes idle connections itself: close frame 1000, the application."""
    app = start_backend(name="closer", close_after=1)
    report, _, _ = diagnose_json(f"ws://127.0.0.1:{app.port}/ws", "--only", "idle")
    obs = check(report, "idle")["observation"]
    assert obs["ending"] == "close_frame" and obs["close_code"] == 1000
    assert obs["closed_by"] == "application" and abs(obs["timeout_s"] - 1.0) < 0.1
    assert [f["code"] for f in findings(report, "idle")] == ["WSD-IDLE-APP-CLOSE"]


def test_haproxy_cookie_is_found_on_the_101_and_pins_the_replica(
    start_haproxy: Callable[[HAProxySite], HAProxy], replicas: list[Backend],
) -> None:
    """Acceptance 5: HAProxy's inserted cookie (default name, and a custom one named with
    --affinity-cookie) is on the 101, its attributes reported, and replays stay put."""
    backends = [(b.name, b.port) for b in replicas]
    known = start_haproxy(HAProxySite(backends=backends, cookie="SERVERID"))
    custom = start_haproxy(HAProxySite(backends=backends, cookie="SRV"))
    for port, extra, name in ((known.port, [], "SERVERID"),
                              (custom.port, ["--affinity-cookie", "SRV"], "SRV")):
        report, _, status = diagnose_json(f"ws://127.0.0.1:{port}/ws", *extra)
        obs = check(report, "affinity")["observation"]
        assert obs["affinity_cookie"] == name
        [cookie] = [c for c in obs["cookies_upgrade"] if c["name"] == name]
        assert cookie["value"].startswith("sha256:") and cookie["path"] == "/"
        assert obs["replay_pinned"] is True and obs["replica_source"] == "header"
        assert len(obs["connections"]) == 6 and obs["distinct_replicas"] == 1
        [finding] = findings(report, "affinity")
        assert finding["code"] == "WSD-AFFINITY-PINNED" and finding["status"] == "ok"
        assert "Path=/" in finding["detail"] and "not HttpOnly" in finding["detail"]
        assert status == 0


def test_round_robin_without_affinity_and_expected_affinity(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend],
) -> None:
    """Acceptance 5: nginx round-robin over two replicas: 2 replicas, no affinity; with
    --expect-affinity a fail whose fix is the ingress-nginx affinity annotations."""
    nginx = start_nginx(NginxSite(locations=[
        NginxLocation("/ws", [b.port for b in replicas])]))
    url = f"ws://127.0.0.1:{nginx.port}/ws"
    plain, _, plain_status = diagnose_json(url)
    obs = check(plain, "affinity")["observation"]
    assert obs["distinct_replicas"] == 2 and obs["affinity_cookie"] is None
    assert obs["replica_header"] == "X-Served-By"
    [info] = findings(plain, "affinity")
    assert info["code"] == "WSD-AFFINITY-SPREAD" and "2 replicas" in info["title"]
    assert plain_status == 0
    strict, _, strict_status = diagnose_json(url, "--expect-affinity")
    [fail] = findings(strict, "affinity")
    assert fail["code"] == "WSD-AFFINITY-NONE" and fail["status"] == "fail"
    assert 'nginx.ingress.kubernetes.io/affinity: "cookie"' in fail["fix"]["snippet"]
    assert 'nginx.ingress.kubernetes.io/session-cookie-path: "/ws"' in fail["fix"]["snippet"]
    assert strict_status == 1


@pytest.mark.skipif(capture_unavailable() is not None,
                    reason=f"packet capture unavailable: {capture_unavailable()}")
def test_capture_identifies_the_fin_origin_for_nginx_and_haproxy(
    start_nginx: Callable[[NginxSite], Nginx], start_haproxy: Callable[[HAProxySite], HAProxy],
    replicas: list[Backend],
) -> None:
    """Acceptance 6 (root): the first FIN comes from the proxy's side, the same hop (TTL) that
    accepted the connection, for nginx (2 s) and HAProxy (3 s)."""
    nginx = start_nginx(NginxSite(locations=[
        NginxLocation("/ws", [replicas[0].port], read_timeout=2)]))
    haproxy = start_haproxy(HAProxySite(backends=[("r1", replicas[0].port)], tunnel_timeout=3))
    runs = in_parallel(*(
        (lambda port=port: diagnose_json(f"ws://127.0.0.1:{port}/ws", "--capture",
                                         "--skip", "affinity,keepalive"))
        for port in (nginx.port, haproxy.port)))
    for (report, _, _), port, timeout in zip(runs, (nginx.port, haproxy.port), (2, 3),
                                             strict=True):
        capture = check(report, "capture")
        obs = capture["observation"]
        assert capture["status"] == "ok", capture
        assert obs["first_close_side"] == "server" and obs["first_close_flag"] == "FIN", obs
        assert obs["port"] == port and obs["closer_is_connect_hop"] is True
        assert obs["connect_ttl"] == obs["first_close_ttl"] == 64
        assert abs(obs["first_close_at_s"] - timeout) < 0.2
        assert obs["duplicates"] > 0 and obs["retransmissions"] == 0  # loopback: seen twice
        [finding] = findings(report, "capture")
        assert finding["code"] == "WSD-CAPTURE-CLOSER"
        assert f"The server side (127.0.0.1:{port}) sent the first FIN" in finding["title"]


def test_capture_without_privilege_is_skipped_with_the_reason(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend],
) -> None:
    """Acceptance 6: without CAP_NET_RAW, --capture is skipped saying how to enable it."""
    nginx = start_nginx(NginxSite(locations=[NginxLocation("/ws", [replicas[0].port])]))
    prefix = ["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw"] \
        if os.geteuid() == 0 else []
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "wsdoctor", f"ws://127.0.0.1:{nginx.port}/ws",
         "--only", "capture", "--capture", "--idle-max", "1", "--format", "json"],
        capture_output=True, text=True, timeout=60, check=False)
    report = json.loads(proc.stdout)
    capture = check(report, "capture")
    assert capture["status"] == "skipped"
    assert "needs root or CAP_NET_RAW" in capture["reason"] and "sudo" in capture["reason"]
    assert check(report, "idle")["status"] == "ok"  # the measurement itself still runs


def test_long_wait_reports_progress(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend],
) -> None:
    """While waiting, idle publishes progress about once a second: elapsed, cap, fraction."""
    import asyncio

    from wsdoctor.runner import CheckProgress, Event, diagnose
    from wsdoctor.settings import Settings
    from wsdoctor.target import parse_target

    nginx = start_nginx(NginxSite(locations=[
        NginxLocation("/ws", [replicas[0].port], read_timeout=2.5)]))
    events: list[Event] = []
    report = asyncio.run(diagnose(parse_target(f"ws://127.0.0.1:{nginx.port}/ws"),
                                  Settings(only=["idle"], idle_max=20), sink=events.append))
    progress = [e for e in events if isinstance(e, CheckProgress) and e.check_id == "idle"]
    assert [p.message for p in progress] == ["1 s idle of 20 s — next: 15 s (Envoy route "
                                             "timeout)", "2 s idle of 20 s — next: 15 s "
                                             "(Envoy route timeout)"]
    assert [round(p.fraction or 0, 2) for p in progress] == [0.05, 0.1]
    idle = report.check("idle")
    assert idle is not None and idle.summary == "closed after 2.5 s idle by the proxy (fin)"
