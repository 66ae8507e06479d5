"""What real API servers do, injected into the fake one, and what the cluster check makes of
it: 429 with Retry-After recovers on every kind, a 500 or a slow answer on one kind names
that kind while the rest is judged, odd answers are findings (never tracebacks), and the
report is always written."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_cli
from wsdoctor.checks.cluster import ClusterObservation
from wsdoctor.lab.kubeapi import BUILTIN, CRDS, FakeKubeAPI, Fault, Rule, RunningAPI, serve
from wsdoctor.models import CheckStatus
from wsdoctor.report import Report
from wsdoctor.runner import diagnose
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

CLUSTER = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "cluster"
#: Every resource the cluster check lists for chat.example.com (route kinds, classes,
#: controllers, the route's namespace, the backend's slices and pods).
LISTED = (
    "ingresses",
    "ingressclasses",
    "httproutes",
    "gateways",
    "gatewayclasses",
    "ingressroutes",
    "virtualservices",
    "destinationrules",
    "namespaces",
    "deployments",
    "daemonsets",
    "statefulsets",
    "pods",
    "services",
    "endpointslices",
    "horizontalpodautoscalers",
    "poddisruptionbudgets",
    "networkpolicies",
    "middlewares",
)


@pytest.fixture
def running() -> Iterator[RunningAPI]:
    api = FakeKubeAPI()
    api.load(*sorted(CLUSTER.glob("*.yaml")))
    with serve(api) as server:
        yield server


def run(running: RunningAPI, tmp_path: Path, url: str, timeout: float = 5.0) -> Report:
    settings = Settings(
        kubeconfig=str(running.kubeconfig(tmp_path / "kc")), timeout=timeout, only=["cluster"]
    )
    return asyncio.run(diagnose(parse_target(url), settings))


def observation(report: Report) -> ClusterObservation:
    check = report.check("cluster")
    assert check is not None and isinstance(check.observation, ClusterObservation), check
    return check.observation


def codes(report: Report) -> list[str]:
    return [f.code for f in report.findings]


def test_503_with_retry_after_recovers_and_without_it_fails_at_once(
    running: RunningAPI, tmp_path: Path
) -> None:
    """As client-go: a 5xx that says when to come back is retried; one that does not is the
    kind's failure at once (no blind retries eating the time limit)."""
    retried = running.api.inject("*/services", Fault.error(503, retry_after=1), times=2)
    assert observation(run(running, tmp_path, "wss://chat.example.com/ws")).read_failures == []
    assert retried.hits == 2
    running.api.inject("*/daemonsets", Fault.error(503))
    failures = observation(run(running, tmp_path, "wss://chat.example.com/ws")).read_failures
    assert [(f.kind, f.cause, f.status) for f in failures] == [
        ("DaemonSet", "server-error", 503)
    ]
    assert "tried" not in failures[0].message


def test_429_with_retry_after_on_every_kind_recovers(running: RunningAPI, tmp_path: Path) -> None:
    """Discovery and the first list of each kind answer 429 Retry-After: 1 (API Priority and
    Fairness); every one is retried after the second asked for and the diagnosis is whole."""
    api = running.api
    injected = [api.inject("/apis", Fault.throttle(1), times=1)]
    injected += [api.inject(f"*/{plural}", Fault.throttle(1), times=1) for plural in LISTED]
    report = run(running, tmp_path, "wss://chat.example.com/ws")
    obs = observation(report)
    assert [i.path for i in injected if i.hits != 1] == []
    assert obs.access_failure is None and obs.read_failures == []
    assert obs.routes[0].name == "chat" and obs.routes[0].backends[0].endpoints["ready"] == 2
    assert "WSD-K8S-READ-FAILED" not in codes(report)


def test_500_on_one_kind_is_named_and_the_rest_is_judged(
    running: RunningAPI, tmp_path: Path
) -> None:
    """EndpointSlices answer 500: a warning names the kind and the error; the route, the
    Service, the controller's timeouts are still judged, and no endpoint verdict is made."""
    running.api.inject("*/endpointslices", Fault.error(500))
    report = run(running, tmp_path, "wss://down.example.com/")
    obs = observation(report)
    assert obs.routes[0].name == "down" and obs.routes[0].backends[0].exists
    assert {t.setting for t in obs.timeouts} >= {"proxy-read-timeout"}
    failed = next(f for f in report.findings if f.code == "WSD-K8S-READ-FAILED")
    assert failed.title.startswith("EndpointSlice could not be read")
    assert "injected fault: HTTP 500" in failed.detail and failed.evidence["status"] == 500
    assert "WSD-K8S-NO-READY-ENDPOINTS" not in codes(report)  # unknown, not called missing


def test_500_on_ingresses_leaves_the_other_route_kinds(running: RunningAPI, tmp_path: Path) -> None:
    """Ingresses failing does not hide an HTTPRoute, and a host only an Ingress could serve is
    not called unrouted."""
    running.api.inject("*/ingresses", Fault.error(500))
    gw = run(running, tmp_path, "wss://gw.example.com/")
    assert observation(gw).routes[0].kind == "HTTPRoute"
    chat = run(running, tmp_path, "wss://chat.example.com/ws")
    assert "WSD-K8S-NO-ROUTE" not in codes(chat)
    assert any(f.title.startswith("Ingress could not be read") for f in chat.findings)


def test_a_slow_kind_is_named_as_slow(running: RunningAPI, tmp_path: Path) -> None:
    """Services answering after the per-request limit: named as slow (the request and the
    limit), not as an unreachable server; the route is still found."""
    running.api.inject("*/services", Fault.slow(3.0))
    report = run(running, tmp_path, "wss://chat.example.com/ws", timeout=1.0)
    obs = observation(report)
    assert obs.routes[0].name == "chat"
    failure = next(f for f in obs.read_failures if f.kind == "Service")
    assert failure.cause == "timeout"
    assert "no answer within 2 s" in failure.message and "is slow" in failure.message
    assert "cannot connect" not in failure.message


def test_a_list_still_arriving_at_the_time_limit_is_named_and_the_check_ends_in_time(
    running: RunningAPI, tmp_path: Path
) -> None:
    """Pods trickle in a few bytes at a time (every read gets bytes, so no read timeout
    fires): the check is not an error "did not finish", it ends at its limit and names the
    list that was still arriving; the rest is judged."""
    running.api.inject("*/pods", Fault.trickling(0.8))  # 80 B/s: the pod list needs > 20 s
    start = time.monotonic()
    report = run(running, tmp_path, "wss://chat.example.com/ws", timeout=1.0)
    limit = 15.0  # the cluster check's limit at --timeout 1
    assert time.monotonic() - start < limit + 1
    check = report.check("cluster")
    assert check is not None and check.status is not CheckStatus.ERROR, check.reason
    obs = observation(report)
    assert obs.routes[0].name == "chat"
    pods = next(f for f in obs.read_failures if f.kind == "Pod")
    assert pods.cause == "deadline" and pods.namespace == "chat"
    assert "still arriving when the check's time limit ran out" in pods.message
    finding = next(f for f in report.findings if f.title.startswith("Pod could not be read"))
    assert "/namespaces/chat/pods" in finding.detail


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(status=999), "unexpected HTTP 999"),
        (Fault(status=200, body=b"<html>maintenance</html>"), "not JSON"),
        (Fault(status=418), "unexpected HTTP 418"),
    ],
)
def test_odd_answers_on_one_kind_are_findings(
    running: RunningAPI, tmp_path: Path, fault: Fault, expected: str
) -> None:
    """A status no API server sends, or a body that is not JSON: a finding for that kind."""
    running.api.inject("*/pods", fault)
    report = run(running, tmp_path, "wss://chat.example.com/ws")
    check = report.check("cluster")
    assert check is not None and check.status is not CheckStatus.ERROR, check.traceback
    failure = next(f for f in observation(report).read_failures if f.kind == "Pod")
    assert expected in failure.message and failure.cause == "bad-response"


def test_odd_status_on_discovery_is_an_unreadable_cluster(
    running: RunningAPI, tmp_path: Path
) -> None:
    """HTTP 999 on /apis: the cluster is unreadable, said in one line; no traceback."""
    running.api.inject("/apis", Fault(status=999))
    report = run(running, tmp_path, "wss://chat.example.com/ws")
    check = report.check("cluster")
    assert check is not None and check.status is CheckStatus.WARN and check.traceback is None
    finding = next(f for f in report.findings if f.code == "WSD-K8S-UNREADABLE")
    assert "unexpected HTTP 999" in finding.detail


def test_a_reset_connection_is_retried_and_a_persistent_one_named(
    running: RunningAPI, tmp_path: Path
) -> None:
    """One reset on a kind is retried (as client-go does for GETs); resets every time name
    the kind."""
    once = running.api.inject("*/services", Fault.connection_reset(), times=1)
    assert observation(run(running, tmp_path, "wss://chat.example.com/ws")).read_failures == []
    assert once.hits == 1
    running.api.inject("*/gatewayclasses", Fault.connection_reset())
    failures = observation(run(running, tmp_path, "wss://chat.example.com/ws")).read_failures
    assert [(f.kind, f.cause) for f in failures] == [("GatewayClass", "reset")]


def test_throttled_beyond_the_time_left_fails_fast(running: RunningAPI, tmp_path: Path) -> None:
    """A Retry-After longer than the check has left is not waited for: the kind is named as
    throttled at once, with what the server asked."""
    running.api.inject("*/httproutes", Fault.throttle(3600))
    start = time.monotonic()
    failures = observation(run(running, tmp_path, "wss://chat.example.com/ws")).read_failures
    assert time.monotonic() - start < 5
    failure = next(f for f in failures if f.kind == "HTTPRoute")
    assert failure.cause == "throttled" and "asked to wait 3600 s" in failure.message


@pytest.mark.parametrize("path", ["/apis", "*/ingresses", "*/pods"])
def test_the_report_is_always_written(running: RunningAPI, tmp_path: Path, path: str) -> None:
    """Whatever fails, -o writes a valid report and nothing is printed as a traceback."""
    running.api.inject(path, Fault.error(503))
    out = tmp_path / "report.json"
    result = run_cli(
        "wss://chat.example.com/ws",
        "--only",
        "cluster",
        "--kubeconfig",
        str(running.kubeconfig(tmp_path / "kc")),
        "--timeout",
        "1",
        "--format",
        "text",
        "-o",
        str(out),
    )
    report = Report.model_validate(json.loads(out.read_text()))
    assert report.check("cluster") is not None
    assert "Traceback" not in result.stdout + result.stderr
    assert {"WSD-K8S-UNREADABLE", "WSD-K8S-READ-FAILED"} & set(codes(report))


def test_a_forbidden_route_kind_is_named_when_no_route_is_found(
    running: RunningAPI, tmp_path: Path
) -> None:
    """Other route kinds readable, Ingresses forbidden (403 on every list of them), the host
    served by an Ingress: the warning says listing Ingresses was forbidden and how to allow
    it, not 'check the host spelling' (what it said)."""
    every = [*BUILTIN, *(rt for kinds in CRDS.values() for rt in kinds)]
    running.api.tokens["no-ingresses"] = (Rule(resources=tuple(
        f"{rt.plural}.{rt.group}" if rt.group else rt.plural
        for rt in every if rt.plural != "ingresses")),)
    settings = Settings(kubeconfig=str(running.kubeconfig(tmp_path / "kc", token="no-ingresses")),
                        only=["cluster"])
    report = asyncio.run(diagnose(parse_target("wss://chat.example.com/ws"), settings))
    finding = next(f for f in report.findings if f.code == "WSD-K8S-NO-ROUTE")
    assert finding.status.value == "warn"
    assert "list ingresses.networking.k8s.io cluster-wide" in finding.detail
    assert finding.fix is not None and "docs/rbac.yaml" in finding.fix.summary
    assert "list ingresses.networking.k8s.io cluster-wide" in finding.evidence["forbidden"]


def test_a_server_that_hangs_up_on_discovery_is_one_readable_line(
    running: RunningAPI, tmp_path: Path
) -> None:
    """Every request to /apis reset: the finding says the server closed the connection, in
    words, without the repr of urllib3's exception pair."""
    running.api.inject("/apis", Fault.connection_reset())
    report = run(running, tmp_path, "wss://chat.example.com/ws")
    finding = next(f for f in report.findings if f.code == "WSD-K8S-UNREADABLE")
    assert "closed the connection during GET /apis (" in finding.detail, finding.detail
    assert "RemoteDisconnected(" not in finding.detail and "', " not in finding.detail


def test_pages_that_go_round_in_a_circle_fail_that_kind_at_once(
    running: RunningAPI, tmp_path: Path
) -> None:
    """A server (or a proxy) answering the same continue token for ever: Pods fail at once,
    named, instead of paging until the check's limit and starving every other kind."""
    page = {"kind": "PodList", "apiVersion": "v1", "items": [],
            "metadata": {"continue": "again", "resourceVersion": "5"}}
    running.api.inject("*/pods", Fault(status=200, body=json.dumps(page).encode()))
    start = time.monotonic()
    failures = observation(run(running, tmp_path, "wss://chat.example.com/ws")).read_failures
    assert time.monotonic() - start < 5
    assert [(f.kind, f.cause) for f in failures] == [("Pod", "bad-response")]
    assert "round in a circle" in failures[0].message


@pytest.mark.parametrize("path", ["/apis", "*/pods"])
def test_a_server_echoing_the_token_in_its_error_keeps_it_out_of_the_report(
    running: RunningAPI, tmp_path: Path, path: str
) -> None:
    """An auth proxy or aggregated API answering 500 with the request's credentials in its
    message: the finding quotes the message without the kubeconfig's token."""
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500,
            "message": "upstream rejected Authorization: Bearer admin-token (expired)"}
    running.api.inject(path, Fault(status=500, body=json.dumps(body).encode()))
    report = run(running, tmp_path, "wss://chat.example.com/ws")
    text = report.model_dump_json()
    assert "upstream rejected Authorization: Bearer <redacted> (expired)" in text
    assert "admin-token" not in text


def test_a_url_password_in_an_annotation_stays_out_of_the_report(
    running: RunningAPI, tmp_path: Path
) -> None:
    """An Ingress whose auth-url carries ``user:password@`` (nobody told wsdoctor it is a
    secret): the report keeps the annotation with the password masked."""
    api = running.api
    kind = api.type_of("networking.k8s.io/v1", "Ingress")
    assert kind is not None
    ingress = copy.deepcopy(api.get(kind, "chat", "chat"))
    assert ingress is not None
    ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/auth-url"] = \
        "https://gate:Gz7-Kq2mWv9pXr@auth.example.com/verify"
    api.update(ingress)
    text = run(running, tmp_path, "wss://chat.example.com/ws").model_dump_json()
    assert "Gz7-Kq2mWv9pXr" not in text
    assert "https://<redacted>@auth.example.com/verify" in text
