"""`wsdoctor bisect` on the lab chain — websockets pods ← nginx (the ingress controller pod)
← HAProxy in TCP mode (the cloud load balancer) — with the fake API's port-forward reaching
the pods, and a fault at one hop at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli
from wsdoctor.lab.backend import LabLoop
from wsdoctor.lab.chain import AUTH_HEADER, Chain, Fault, bisect_chain

pytestmark = pytest.mark.lab


def bisect(chain: Chain, *args: str, readonly: bool = False) -> tuple[dict[str, Any], int]:
    result = run_cli("bisect", *chain.argv("--format", "json", *args, readonly=readonly))
    assert result.stdout, result.stderr
    return json.loads(result.stdout), result.status


def rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    hops = next(c for c in report["checks"] if c["id"] == "hops")
    assert hops["status"] not in ("skipped", "error"), hops["reason"]
    return {row["hop"]: row for row in hops["observation"]["table"]}


def first_fail(report: dict[str, Any]) -> dict[str, Any]:
    return next(f for f in report["findings"] if f["status"] == "fail")


def run_chain(lab_loop: LabLoop, fault: Fault, *args: str, readonly: bool = False,
              **options: float) -> tuple[dict[str, Any], int]:
    with bisect_chain(fault, loop=lab_loop, **options) as chain:
        return bisect(chain, *args, readonly=readonly)


@pytest.mark.slow
def test_balancer_in_front_cuts_idle_connections(lab_loop: LabLoop, tmp_path: Path) -> None:
    """Given HAProxy in front cutting idle tunnels at 4 s and nginx holding them an hour,
    when bisected with --idle, then the pod and controller hops outlive 4 s, the public hop is
    cut at 4.0 s by the proxy, and the first fail names what is in front of the controller
    with the cloud load balancers' settings."""
    saved = tmp_path / "report.json"
    report, status = run_chain(lab_loop, "front-idle", "--idle", "--idle-max", "5.5",
                               "-o", str(saved))
    assert status == 1
    table = rows(report)
    for hop in ("pod", "controller"):
        assert table[hop]["upgrade"] == "101"
        assert table[hop]["idle_timeout_s"] is None, table[hop]
        assert table[hop]["idle"] == "none within 5.5 s"
    public = table["public"]
    assert public["idle_timeout_s"] == pytest.approx(4.0, abs=0.1)
    assert public["closed_by"] == "proxy (FIN)"
    fail = first_fail(report)
    assert fail["code"] == "WSD-HOPS-FAULT-IN-FRONT"
    assert fail["resource"] == {"kind": "Service", "namespace": "ingress-nginx",
                                "name": "ingress-nginx-controller",
                                "field": "metadata.annotations"}
    assert "load balancer in front" in fail["title"]
    for setting in ("aws-load-balancer-connection-idle-timeout",
                    "azure-load-balancer-tcp-idle-timeout", "BackendConfig"):
        assert setting in fail["fix"]["snippet"]
    assert {"WSD-IDLE-TIMEOUT", "WSD-K8S-IDLE-OUTSIDE"} <= set(fail["explains"])
    shown = run_cli("show", str(saved), "--format", "text")
    [table_line] = [line.split() for line in shown.stdout.splitlines()
                    if line.split()[1:2] == ["public"]]
    assert table_line[:3] == ["[FAIL]", "public", "101"]
    assert float(table_line[5]) == pytest.approx(public["idle_timeout_s"], abs=0.05)
    assert table_line[6:9] == ["s", "proxy", "(FIN)"]
    assert "via port-forward" in shown.stdout
    markdown = run_cli("show", str(saved), "--format", "markdown").stdout
    [row] = [line for line in markdown.splitlines() if line.startswith("| ❌ | public |")]
    assert "| proxy (FIN) |" in row


def test_controller_that_drops_the_upgrade(lab_loop: LabLoop) -> None:
    """Given nginx not forwarding Upgrade (an Ingress configuration-snippet resetting
    Connection), when bisected, then the pod upgrades, the controller refuses, and the
    finding names the controller, the annotation and its removal."""
    report, status = run_chain(lab_loop, "controller-upgrade")
    assert status == 1
    table = rows(report)
    assert table["pod"]["upgrade"] == "101"
    assert table["controller"]["upgrade"] == "HTTP 426"
    assert table["public"]["upgrade"] == "HTTP 426"
    fail = first_fail(report)
    assert fail["code"] == "WSD-HOPS-FAULT-AT-CONTROLLER"
    assert "ingress-nginx" in fail["title"]
    assert fail["resource"]["kind"] == "Ingress"
    assert "configuration-snippet" in fail["resource"]["field"]
    assert fail["fix"]["snippet"] == ("kubectl -n chat annotate ingress chat "
                                      "nginx.ingress.kubernetes.io/configuration-snippet-")
    assert "WSD-HANDSHAKE-UPGRADE-NOT-FORWARDED" in fail["explains"]


@pytest.mark.slow
def test_application_that_closes_idle_connections(lab_loop: LabLoop) -> None:
    """Given an application closing connections idle for 1 s, when bisected with --idle,
    then the pod hop already fails and the finding says it is the application's."""
    report, status = run_chain(lab_loop, "pod-idle", "--idle", "--idle-max", "3",
                               app_idle=1.0)
    assert status == 1
    table = rows(report)
    for hop in ("pod", "controller", "public"):
        assert table[hop]["idle_timeout_s"] == pytest.approx(1.0, abs=0.2), hop
    assert table["pod"]["closed_by"] == "application (close 1000)"
    fail = first_fail(report)
    assert fail["code"] == "WSD-HOPS-FAULT-AT-POD"
    assert "application" in fail["title"]
    assert fail["resource"] == {"kind": "Pod", "namespace": "chat", "name": "chat-5f7d-aaaaa",
                                "field": None}
    assert "raise its own idle/read timeout" in fail["fix"]["summary"]
    # the cluster check no longer blames 'a component outside the cluster' for it
    assert "WSD-K8S-IDLE-OUTSIDE" not in [f["code"] for f in report["findings"]]


def test_without_the_port_forward_permission(lab_loop: LabLoop) -> None:
    """Given a user with the read-only role only, when bisected with --port-forward, then
    the pod and controller hops are skipped naming create on pods/portforward, and the
    public address and every other check still run."""
    report, status = run_chain(lab_loop, "none", readonly=True)
    assert status == 0
    table = rows(report)
    for hop in ("pod", "controller"):
        assert table[hop]["status"] == "skipped"
        assert 'cannot create resource "pods/portforward"' in table[hop]["note"]
    assert table["public"]["status"] == "ok" and table["public"]["upgrade"] == "101"
    [skipped] = [f for f in report["findings"] if f["code"] == "WSD-HOPS-SKIPPED"]
    assert skipped["status"] == "warn"
    assert skipped["title"] == "2 hops could not be tested: create pods/portforward is forbidden"
    assert "rbac-portforward.yaml" in skipped["fix"]["snippet"]
    ran = {c["id"]: c["status"] for c in report["checks"]}
    assert ran["handshake"] == ran["messages"] == ran["cluster"] == "ok"


def test_healthy_path_and_the_opt_in(lab_loop: LabLoop) -> None:
    """Given the chain without a fault, when bisected, then every hop upgrades and the
    verdict is that they agree; without --port-forward the hops say how to opt in."""
    with bisect_chain("none", loop=lab_loop) as chain:
        report, status = bisect(chain, "--affinity-cookie", "INGRESSCOOKIE")
        assert status == 0
        table = rows(report)
        assert [table[h]["upgrade"] for h in ("pod", "controller", "public")] == ["101"] * 3
        assert table["controller"]["affinity"] == "none (2 replicas reached)"
        assert any(f["code"] == "WSD-HOPS-ALIKE" for f in report["findings"])
        argv = [a for a in chain.argv("--format", "json") if a != "--port-forward"]
        quiet = json.loads(run_cli("bisect", *argv).stdout)
    hops = next(c for c in quiet["checks"] if c["id"] == "hops")
    notes = [r["note"] for r in hops["observation"]["table"] if r["hop"] != "public"]
    assert all("--port-forward" in note for note in notes)


def test_pod_network_as_inside_the_cluster(lab_loop: LabLoop) -> None:
    """Given pod IPs a client can reach (inside the cluster; loopback here), when bisected
    with --pod-network, then the hops are reached by IP without any port-forward (a
    read-only user is enough) and the faulty hop is still named."""
    with bisect_chain("controller-upgrade", loop=lab_loop, pod_network=True) as chain:
        argv = [a for a in chain.argv("--format", "json", "--pod-network", readonly=True)
                if a != "--port-forward"]
        result = run_cli("bisect", *argv)
        requests = list(chain.api.requests)
    report = json.loads(result.stdout)
    table = rows(report)
    assert table["pod"]["endpoint"] == f"127.0.0.1:{chain.replicas[0].port}"
    assert table["controller"]["endpoint"] == f"127.0.0.1:{chain.controller_port}"
    assert (table["pod"]["upgrade"], table["controller"]["upgrade"]) == ("101", "HTTP 426")
    assert first_fail(report)["code"] == "WSD-HOPS-FAULT-AT-CONTROLLER"
    assert not [p for _, p in requests if p.endswith("/portforward")]


def test_pod_that_needs_what_the_controller_adds(lab_loop: LabLoop) -> None:
    """Given pods that answer 401 without the X-Auth-Request-User header nginx adds (ingress-
    nginx auth-url with auth-response-headers on the Ingress), when bisected, then the pod
    hop's 401 is reported as credentials the controller adds, on the auth annotation, with a
    -H to pass; given that header with -H, the pod hop gets it too and upgrades."""
    with bisect_chain("pod-auth", loop=lab_loop) as chain:
        report, _ = bisect(chain)
        with_header, _ = bisect(chain, "-H", f"{AUTH_HEADER[0]}: {AUTH_HEADER[1]}")
    table = rows(report)
    assert [table[h]["upgrade"] for h in ("pod", "controller", "public")] == [
        "HTTP 401", "101", "101"]
    [finding] = [f for f in report["findings"] if f["check"] == "hops"]
    assert finding["code"] == "WSD-HOPS-CREDENTIALS" and finding["status"] == "warn"
    assert finding["title"].startswith("The pod answers 401 where the ingress controller pod")
    assert finding["resource"]["field"] == (
        'metadata.annotations["nginx.ingress.kubernetes.io/auth-url"]')
    assert 'WWW-Authenticate: Bearer realm="chat"' in finding["detail"]
    assert "no -H headers (none were given)" in finding["detail"]
    assert f"-H '{AUTH_HEADER[0]}: ...'" in finding["fix"]["snippet"]
    table = rows(with_header)
    assert [table[h]["upgrade"] for h in ("pod", "controller", "public")] == ["101"] * 3
    hop_codes = [f["code"] for f in with_header["findings"] if f["check"] == "hops"]
    assert hop_codes == ["WSD-HOPS-ALIKE"]
    assert AUTH_HEADER[1] not in json.dumps(with_header)  # a -H value is never printed
