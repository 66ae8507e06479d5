"""``wsdoctor load`` against the lab's caps, each a real server: nginx ``limit_conn`` 20,
HAProxy ``maxconn`` 30, nginx ``worker_connections`` 64, an application limit of 40, and a
healthy target that takes every connection. Each cap is found within one connection and
described by its refusal; with the fake cluster describing the Ingress, the finding names
the annotation and its value."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LAB_HOST, pinned_args, run_cli
from tests.integration.test_proxy_lab import start_squid
from wsdoctor.lab.backend import Backend, LabLoop
from wsdoctor.lab.forward_proxies import Squid, SquidSite
from wsdoctor.lab.kubeapi import FakeKubeAPI, RunningAPI, serve
from wsdoctor.lab.lean import LeanServer
from wsdoctor.lab.proxies import HAProxy, HAProxySite, Nginx, NginxLocation, NginxSite

CLUSTER = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "load"
pytestmark = pytest.mark.lab
__all__ = ["start_squid"]  # the fixture, shared with the proxy tests


def load(port: int, *extra: str, connections: int = 100) -> tuple[dict[str, Any], int]:
    """(report, exit status) of a fast load run on loopback: 200 new connections a second,
    no hold, a 1 s step time limit, no cluster unless ``extra`` gives one."""
    args = ["load", f"ws://{LAB_HOST}:{port}/ws", *pinned_args(port), "-c", str(connections),
            "--rate", "200", "--hold", "0", "--timeout", "1", "--format", "json", *extra]
    if "--kubeconfig" not in extra:
        args.append("--no-kubernetes")
    result = run_cli(*args)
    assert result.stdout, result.stderr
    return json.loads(result.stdout), result.status


def observation(report: dict[str, Any]) -> dict[str, Any]:
    check = next(c for c in report["checks"] if c["id"] == "load")
    assert check["observation"] is not None, check
    return dict(check["observation"])


def finding(report: dict[str, Any], code: str) -> dict[str, Any]:
    found = [f for f in report["findings"] if f["code"] == code]
    assert found, [f["code"] for f in report["findings"]]
    return dict(found[0])


def cap_cause(obs: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in obs["causes"] if c["cause"] == obs["cap_cause"])


@pytest.fixture
def lean(lab_loop: LabLoop) -> Iterator[Callable[..., LeanServer]]:
    started: list[LeanServer] = []

    def start(**options: Any) -> LeanServer:
        server = lab_loop.run(LeanServer(**options).start())
        started.append(server)
        return server

    yield start
    for server in started:
        lab_loop.run(server.stop())


def test_nginx_limit_conn_20_is_found_and_described_by_its_503(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend]
) -> None:
    """Given nginx with limit_conn 20 per address (as ingress-nginx renders
    limit-connections), the cap is 20 ± 1, refused with nginx's 503 page, and the finding
    points at limit-connections."""
    nginx = start_nginx(NginxSite(host=LAB_HOST, locations=[NginxLocation(
        path="/ws", upstreams=[r.port for r in replicas], limit_conn=20)]))
    report, status = load(nginx.port)
    obs = observation(report)
    assert abs(obs["cap"] - 20) <= 1, obs["cap"]
    assert obs["stopped"] == "steady_refusals" and obs["attempted"] < 100
    cause = cap_cause(obs)
    assert cause["cause"] == "HTTP 503" and cause["response"]["status_code"] == 503
    assert any(h["name"].lower() == "server" and h["value"].startswith("nginx")
               for h in cause["response"]["headers"])
    cap = finding(report, "WSD-LOAD-CAP")
    assert "503 Service Temporarily Unavailable" in cap["detail"]
    assert "limit-connections" in cap["detail"] and cap["evidence"]["cap"] == obs["cap"]
    assert {r["name"] for r in obs["replicas"]} == {"r1", "r2"}
    assert status == 1


def test_haproxy_maxconn_30_is_found_and_described_by_its_silence(
    start_haproxy: Callable[[HAProxySite], HAProxy], replicas: list[Backend]
) -> None:
    """Given HAProxy with maxconn 30, the cap is 30 ± 1: the next connections get no answer
    (they wait in the accept queue), and the finding points at HAProxy maxconn."""
    haproxy = start_haproxy(HAProxySite(backends=[(r.name, r.port) for r in replicas],
                                        maxconn=30))
    report, _ = load(haproxy.port)
    obs = observation(report)
    assert abs(obs["cap"] - 30) <= 1, obs["cap"]
    assert obs["cap_cause"].startswith("no "), obs["causes"]
    assert "HAProxy maxconn" in finding(report, "WSD-LOAD-CAP")["detail"]


def test_nginx_worker_connections_64_is_found_and_described_by_its_resets(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend]
) -> None:
    """Given nginx with worker_connections 64 (one listener, two connections per proxied
    WebSocket), the cap is (64 - 1) // 2 = 31 ± 1; the next connections are reset or closed
    before any response, and the finding points at max-worker-connections."""
    nginx = start_nginx(NginxSite(host=LAB_HOST, worker_connections=64, locations=[
        NginxLocation(path="/ws", upstreams=[r.port for r in replicas])]))
    report, _ = load(nginx.port)
    obs = observation(report)
    assert abs(obs["cap"] - (64 - 1) // 2) <= 1, obs["cap"]
    assert obs["cap_cause"].endswith("before a response"), obs["causes"]
    assert "max-worker-connections" in finding(report, "WSD-LOAD-CAP")["detail"]


def test_application_limit_40_is_found_and_described_by_its_close_code(
    start_backend: Callable[..., Backend]
) -> None:
    """Given the lab backend limited to 40 connections (it accepts, then closes with 1013),
    the cap is 40 ± 1 and the refusal quotes the close code, its reason and the replica."""
    app = start_backend(name="app-1", max_connections=40)
    report, _ = load(app.port)
    obs = observation(report)
    assert abs(obs["cap"] - 40) <= 1, obs["cap"]
    cause = cap_cause(obs)
    assert cause["close_code"] == 1013 and cause["close_reason"] == "server at capacity"
    assert cause["replica"] == "app-1"
    detail = finding(report, "WSD-LOAD-CAP")["detail"]
    assert "1013" in detail and "server at capacity" in detail and "application" in detail


def test_healthy_target_takes_every_connection_with_round_trips(
    lean: Callable[..., LeanServer], lab_loop: LabLoop
) -> None:
    """Given a lean echo server, 300 connections are all held for a second with messages
    echoed, the run says so, and every connection is closed at the end."""
    server = lean(name="healthy")
    report, status = load(server.port, "--hold", "1", "--message-rate", "2",
                          connections=300)
    obs = observation(report)
    assert obs["stopped"] == "completed" and obs["held_at_end"] == 300, obs["causes"]
    assert obs["refused"] == 0 and obs["cap"] is None
    assert obs["round_trip"]["count"] > 0 and obs["echoes"] == obs["round_trip"]["count"]
    assert obs["replicas"] == [{"name": "healthy", "upgraded": 300, "held": 300, "refused": 0}]
    assert obs["client"]["rss_per_connection_kib"] is not None
    assert finding(report, "WSD-LOAD-HELD")["status"] == "ok" and status == 0
    assert lab_loop.run(_count(server)) == 0


async def _count(server: LeanServer) -> int:
    return server.open


@pytest.fixture
def load_cluster() -> Iterator[RunningAPI]:
    api = FakeKubeAPI()
    api.load(CLUSTER / "ingress-nginx-limit-connections.yaml")
    with serve(api) as running:
        yield running


def test_the_fake_cluster_names_the_limit_connections_annotation_and_its_value(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend],
    load_cluster: RunningAPI, tmp_path: Path,
) -> None:
    """Given nginx with limit_conn 20 and the cluster's Ingress for the host annotated
    limit-connections "20", the first failure is WSD-LOAD-LIMIT naming that annotation on
    Ingress chat/chat and its value, as the cause of WSD-LOAD-CAP."""
    nginx = start_nginx(NginxSite(host=LAB_HOST, locations=[NginxLocation(
        path="/ws", upstreams=[r.port for r in replicas], limit_conn=20)]))
    kubeconfig = load_cluster.kubeconfig(tmp_path / "kubeconfig")
    report, _ = load(nginx.port, "--kubeconfig", str(kubeconfig))

    fails = [f for f in report["findings"] if f["status"] == "fail"]
    first = fails[0]
    assert first["code"] == "WSD-LOAD-LIMIT", [f["code"] for f in fails]
    assert first["resource"] == {
        "kind": "Ingress", "name": "chat", "namespace": "chat",
        "field": 'metadata.annotations["nginx.ingress.kubernetes.io/limit-connections"]'}
    assert first["evidence"]["setting"] == "limit-connections"
    assert first["evidence"]["value"] == 20 and "limit-connections: 20" in first["title"]
    assert first["explains"] == ["WSD-LOAD-CAP", "WSD-NGINX-RATE-LIMIT"]
    assert 'limit-connections: "' in first["fix"]["snippet"]
    # 20 connections are too few to tell their memory from the cluster read's
    assert observation(report)["client"]["rss_per_connection_kib"] is None
    # the cluster check's warning on the same annotation is explained by the measured cap
    assert "WSD-NGINX-RATE-LIMIT" in [f["code"] for f in report["findings"]]


def test_text_report_draws_the_ramp(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend]
) -> None:
    """The text report shows the run's summary and the ramp plot under the load check."""
    nginx = start_nginx(NginxSite(host=LAB_HOST, locations=[NginxLocation(
        path="/ws", upstreams=[r.port for r in replicas], limit_conn=20)]))
    result = run_cli("load", f"ws://{LAB_HOST}:{nginx.port}/ws", *pinned_args(nginx.port),
                     "-c", "60", "--rate", "200", "--hold", "0", "--no-kubernetes",
                     "--format", "text", "--ascii")
    out = result.stdout
    assert "open connections over" in out and "(cap 20)" in out and "<- cap" in out
    assert "refused  " in out and "handshake.......: avg=" in out
    assert "WSD-LOAD-CAP" in out


def test_ctrl_c_during_the_ramp_closes_every_connection_within_a_second(
    start_backend: Callable[..., Backend], tmp_path: Path
) -> None:
    """Given a load run ramping towards 400 connections, SIGINT (Ctrl-C) once 60 are open
    closes every one within a second, as the lab server counts them, and the run is still
    reported (interrupted, with what it held)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    app = start_backend(name="counted")
    out = tmp_path / "report.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsdoctor", "load", f"ws://{LAB_HOST}:{app.port}/ws",
         *pinned_args(app.port), "-c", "400", "--rate", "100", "--no-kubernetes",
         "--format", "json", "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 30
        while app.open_connections < 60 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.01)
        assert app.open_connections >= 60
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        while app.open_connections and time.monotonic() - sent < 5:
            time.sleep(0.005)
        closed_in = time.monotonic() - sent
        assert app.open_connections == 0
        assert closed_in < 1.0, f"{closed_in:.2f} s to close every connection"
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    report = json.loads(out.read_text())
    obs = observation(report)
    assert obs["stopped"] == "interrupted" and obs["held_at_end"] >= 60
    assert obs["attempted"] < 400
    assert finding(report, "WSD-LOAD-INTERRUPTED")["evidence"]["held"] == obs["held_at_end"]


def test_the_clients_open_file_limit_is_named_not_blamed_on_the_target(
    lean: Callable[..., LeanServer]
) -> None:
    """Given a shell whose open-file limit is 150 and a target that takes everything, a run
    of 300 warns before it starts, stops on this machine's limit, reports
    WSD-LOAD-CLIENT-LIMIT with the ulimit to set, and finds no cap."""
    import subprocess
    import sys

    server = lean()
    command = " ".join([sys.executable, "-m", "wsdoctor", "load",
                        f"ws://{LAB_HOST}:{server.port}/ws", *pinned_args(server.port),
                        "-c", "300", "--rate", "300", "--hold", "0", "--no-kubernetes",
                        "--format", "json"])
    proc = subprocess.run(["bash", "-c", f"ulimit -n 150 && exec {command}"],
                          capture_output=True, text=True, timeout=60)
    assert "150 open files (hard limit)" in proc.stderr
    report = json.loads(proc.stdout)
    obs = observation(report)
    assert obs["stopped"] == "client_limit" and obs["cap"] is None
    assert obs["client"]["fd_limit"] == 150
    limit = finding(report, "WSD-LOAD-CLIENT-LIMIT")
    assert "too many open files" in limit["detail"] and limit["fix"]["snippet"] == \
        "ulimit -n 364"
    assert "WSD-LOAD-CAP" not in [f["code"] for f in report["findings"]]


def test_a_rate_limit_is_told_from_a_connection_cap_and_named(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend], tmp_path: Path,
) -> None:
    """Given nginx with limit_req 5 r/s (burst 25, as ingress-nginx renders limit-rps 5), the
    refusals stop the ramp, but after a pause attempts are taken again: no cap, an
    intermittent refusal; with the cluster's Ingress annotated limit-rps "5", that annotation
    is named."""
    nginx = start_nginx(NginxSite(host=LAB_HOST, locations=[NginxLocation(
        path="/ws", upstreams=[r.port for r in replicas], limit_rps=5)]))
    manifests = (CLUSTER / "ingress-nginx-limit-connections.yaml").read_text().replace(
        "limit-connections", "limit-rps").replace('"20"', '"5"')
    api = FakeKubeAPI()
    (tmp_path / "cluster.yaml").write_text(manifests)
    api.load(tmp_path / "cluster.yaml")
    with serve(api) as running:
        kubeconfig = running.kubeconfig(tmp_path / "kubeconfig")
        report, _ = load(nginx.port, "--kubeconfig", str(kubeconfig))
    obs = observation(report)
    assert obs["cap"] is None and obs["intermittent"], obs
    assert finding(report, "WSD-LOAD-INTERMITTENT")["evidence"]["cause"] == "HTTP 503"
    limit = finding(report, "WSD-LOAD-LIMIT")
    assert limit["evidence"]["setting"] == "limit-rps" and limit["evidence"]["value"] == 5
    assert limit["explains"] == ["WSD-LOAD-INTERMITTENT", "WSD-NGINX-RATE-LIMIT"]
    assert "WSD-LOAD-CAP" not in [f["code"] for f in report["findings"]]


def test_over_tls_every_connection_is_held_and_tls_is_timed(
    healthy_nginx: Nginx, lab_ca_file: Path
) -> None:
    """Given nginx with the lab's certificate in front of two replicas, 60 wss:// connections
    (verified with --cacert) are all held and closed; the TLS handshake is timed, and both
    replicas took their share."""
    port = healthy_nginx.port
    result = run_cli("load", f"wss://{LAB_HOST}:{port}/ws", *pinned_args(port, lab_ca_file),
                     "-c", "60", "--rate", "200", "--hold", "0.5", "--message-rate", "2",
                     "--no-kubernetes", "--format", "json")
    report = json.loads(result.stdout)
    obs = observation(report)
    assert obs["held_at_end"] == 60 and obs["refused"] == 0 and obs["dropped"] == 0
    assert obs["tls"]["count"] == 60 and obs["echoes"] > 0
    assert sorted(r["name"] for r in obs["replicas"]) == ["r1", "r2"]
    assert result.status == 0


def test_through_a_forward_proxy_like_every_other_check(
    healthy_nginx: Nginx, lab_ca_file: Path, start_squid: Callable[[SquidSite], Squid],
) -> None:
    """Given HTTPS_PROXY naming squid (which resolves the host), a load run opens every
    connection as a CONNECT tunnel, as the other checks do, and holds them all."""
    squid = start_squid(SquidSite(hosts={LAB_HOST: "127.0.0.1"},
                                  connect_ports=[healthy_nginx.port]))
    result = run_cli("load", f"wss://{LAB_HOST}:{healthy_nginx.port}/ws", "--cacert",
                     str(lab_ca_file), "-c", "30", "--rate", "200", "--hold", "0",
                     "--no-kubernetes", "--format", "json",
                     environ={"HTTPS_PROXY": squid.url})
    report = json.loads(result.stdout)
    obs = observation(report)
    assert obs["held_at_end"] == 30 and obs["refused"] == 0, obs["causes"]
    assert [a["name"] for a in obs["addresses"]] == [f"{LAB_HOST}:{healthy_nginx.port}"]
    assert report["options"]["proxy"] == f"{squid.url} (HTTPS_PROXY)"
