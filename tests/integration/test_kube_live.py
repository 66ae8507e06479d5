"""Live discovery against the in-process fake Kubernetes API (HTTPS, bearer tokens, RBAC),
driven by the real ``kubernetes`` client through the cluster check."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from wsdoctor.checks.cluster import ClusterObservation
from wsdoctor.cli import Environment, main
from wsdoctor.exit import ExitStatus
from wsdoctor.lab.kubeapi import FakeKubeAPI, Rule, RunningAPI, serve
from wsdoctor.models import CheckStatus
from wsdoctor.report import Report
from wsdoctor.runner import diagnose
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

CLUSTER = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "cluster"

#: Reads everything except EndpointSlices.
NO_SLICES = (
    Rule(resources=("services", "pods", "namespaces", "ingresses", "ingressclasses")),
    Rule(resources=("deployments", "statefulsets", "daemonsets", "configmaps")),
    Rule(resources=("networkpolicies", "poddisruptionbudgets", "horizontalpodautoscalers")),
    Rule(resources=("*.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io")),
)
#: Reads only Pods and Services: no route kind at all.
NO_ROUTES = (Rule(resources=("pods", "services")),)


@pytest.fixture(scope="module")
def fake_cluster() -> Iterator[RunningAPI]:
    api = FakeKubeAPI(
        tokens={
            "admin-token": (Rule(),),
            "no-slices": NO_SLICES,
            "no-routes": NO_ROUTES,
            "chat-only": (
                Rule(namespaces=("chat", "ingress-nginx")),
                Rule(resources=("ingressclasses",)),
            ),
        }
    )
    api.load(*sorted(CLUSTER.glob("*.yaml")))
    with serve(api) as running:
        yield running


def diagnose_cluster(settings: Settings, url: str) -> Report:
    return asyncio.run(
        diagnose(parse_target(url), settings.model_copy(update={"only": ["cluster"]}))
    )


def observation(report: Report) -> ClusterObservation:
    check = report.check("cluster")
    assert check is not None and check.status is not CheckStatus.ERROR, check
    assert isinstance(check.observation, ClusterObservation), check
    return check.observation


@pytest.mark.parametrize(
    ("url", "kind", "name", "controller"),
    [
        ("wss://chat.example.com/ws", "Ingress", "chat", "ingress-nginx"),
        ("wss://gw.example.com/", "HTTPRoute", "chat-gw", "envoy-gateway"),
        ("wss://tr.example.com/ws/room", "IngressRoute", "chat-tr", "traefik"),
        ("wss://old.example.com/", "IngressRoute", "chat-old", "traefik"),
        ("wss://mesh.example.com/", "VirtualService", "chat-vs", "istio"),
    ],
)
def test_discovery_finds_the_route_its_endpoints_and_controller(
    fake_cluster: RunningAPI, tmp_path: Path, url: str, kind: str, name: str, controller: str
) -> None:
    """Given a host served by one route kind, the cluster check names the route, its
    controller and the backend's endpoints."""
    settings = Settings(kubeconfig=str(fake_cluster.kubeconfig(tmp_path / "kc")))
    obs = observation(diagnose_cluster(settings, url))
    route = obs.routes[0]
    assert (route.kind, route.namespace, route.name, route.controller) == (
        kind,
        "chat",
        name,
        controller,
    )
    assert route.backends[0].endpoints["ready"] >= 1
    assert route.backends[0].exists


def test_effective_timeouts_and_load_balancer_are_reported(
    fake_cluster: RunningAPI, tmp_path: Path
) -> None:
    """The ingress-nginx timeouts come from annotation, ConfigMap (via --configmap) or
    default; the controller's LoadBalancer gives addresses and its cloud idle timeout."""
    settings = Settings(kubeconfig=str(fake_cluster.kubeconfig(tmp_path / "kc")))
    obs = observation(diagnose_cluster(settings, "wss://down.example.com/"))
    timeouts = {t.setting: t for t in obs.timeouts}
    assert timeouts["proxy-read-timeout"].seconds == 120  # from the controller ConfigMap
    assert timeouts["proxy-read-timeout"].resource is not None
    assert timeouts["proxy-read-timeout"].resource.kind == "ConfigMap"
    assert timeouts["proxy-send-timeout"].seconds == 60 and timeouts["proxy-send-timeout"].default
    assert (
        timeouts["service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout"].seconds
        == 400
    )
    assert obs.lb_addresses == ["127.0.0.1"]


def test_zero_ready_endpoints_is_a_fail_naming_the_service(
    fake_cluster: RunningAPI, tmp_path: Path
) -> None:
    """A Service whose endpoints are all unready gives WSD-K8S-NO-READY-ENDPOINTS for it."""
    settings = Settings(kubeconfig=str(fake_cluster.kubeconfig(tmp_path / "kc")))
    report = diagnose_cluster(settings, "wss://down.example.com/")
    first = next(f for f in report.findings if f.status.value == "fail")
    assert first.code == "WSD-K8S-NO-READY-ENDPOINTS"
    assert "Service down/down" in first.title
    assert first.resource is not None and (first.resource.namespace, first.resource.name) == (
        "down",
        "down",
    )


def test_reads_only_and_never_secrets(fake_cluster: RunningAPI, tmp_path: Path) -> None:
    """Every request is a GET and none touches Secrets; ConfigMaps are fetched by name."""
    settings = Settings(kubeconfig=str(fake_cluster.kubeconfig(tmp_path / "kc")))
    before = len(fake_cluster.api.requests)
    diagnose_cluster(settings, "wss://chat.example.com/ws")
    requests = fake_cluster.api.requests[before:]
    assert requests and all(method == "GET" for method, _ in requests)
    assert not [p for _, p in requests if "/secrets" in p]
    assert [p for _, p in requests if "/configmaps" in p] == [
        "/api/v1/namespaces/ingress-nginx/configmaps/ingress-nginx-controller"
    ]


def test_namespace_option_lists_only_that_namespace(
    fake_cluster: RunningAPI, tmp_path: Path
) -> None:
    """-n chat lists namespaced kinds inside chat only."""
    settings = Settings(kubeconfig=str(fake_cluster.kubeconfig(tmp_path / "kc")), namespace="chat")
    before = len(fake_cluster.api.requests)
    obs = observation(diagnose_cluster(settings, "wss://chat.example.com/ws"))
    paths = [p.split("?")[0] for _, p in fake_cluster.api.requests[before:]]
    assert "/apis/networking.k8s.io/v1/namespaces/chat/ingresses" in paths
    assert "/apis/networking.k8s.io/v1/ingresses" not in paths
    assert obs.routes[0].name == "chat"


def test_forbidden_resource_skips_only_what_needs_it(
    fake_cluster: RunningAPI, tmp_path: Path
) -> None:
    """Without list on EndpointSlices the check still runs; no endpoint verdict is made, and
    the gap in the target's own backend namespace is a warning naming verb, resource and
    namespace (with the Role that grants it), not an informational footnote."""
    settings = Settings(kubeconfig=str(fake_cluster.kubeconfig(tmp_path / "kc", token="no-slices")))
    report = diagnose_cluster(settings, "wss://down.example.com/")
    obs = observation(report)
    assert any(
        str(g).startswith("list endpointslices.discovery.k8s.io")
        for g in obs.snapshot.permission_gaps
    )
    codes = [f.code for f in report.findings]
    assert "WSD-K8S-NO-READY-ENDPOINTS" not in codes
    forbidden = next(f for f in report.findings if f.code == "WSD-K8S-BACKEND-FORBIDDEN")
    assert forbidden.status.value == "warn"
    assert forbidden.title == "Forbidden: list endpointslices.discovery.k8s.io in namespace down"
    assert "Service down/down" in forbidden.detail
    assert forbidden.fix is not None and "resources: [endpointslices]" in str(
        forbidden.fix.snippet
    )
    assert "discovery.k8s.io" in str(forbidden.fix.snippet)
    others = next(f for f in report.findings if f.code == "WSD-K8S-FORBIDDEN")
    assert others.status.value == "info" and "endpointslices" not in others.detail


def test_no_route_permission_is_a_visible_finding_naming_the_permission(
    fake_cluster: RunningAPI, tmp_path: Path
) -> None:
    """When no route kind may be listed, the cluster half of the diagnosis cannot be made: a
    warning names what is missing, and the run still completes."""
    kubeconfig = fake_cluster.kubeconfig(tmp_path / "kc", token="no-routes")
    out, err = io.StringIO(), io.StringIO()
    status = main(
        [
            "wss://chat.example.com/ws",
            "--only",
            "cluster",
            "--kubeconfig",
            str(kubeconfig),
            "--format",
            "json",
        ],
        Environment(stdout=out, stderr=err, environ={}, stdout_isatty=False),
    )
    assert status == ExitStatus.OK, err.getvalue()
    report = Report.model_validate_json(out.getvalue())
    check = report.check("cluster")
    assert check is not None and check.status is CheckStatus.WARN
    finding = next(f for f in report.findings if f.code == "WSD-K8S-UNREADABLE")
    assert "list ingresses.networking.k8s.io" in finding.detail
    assert finding.evidence["cause"] == "forbidden"


def test_rejected_token_is_a_finding_with_one_clear_reason(
    fake_cluster: RunningAPI, tmp_path: Path
) -> None:
    """An unknown token (401 Status) is a warning saying the credentials were rejected."""
    settings = Settings(kubeconfig=str(fake_cluster.kubeconfig(tmp_path / "kc", token="wrong")))
    report = diagnose_cluster(settings, "wss://chat.example.com/ws")
    finding = next(f for f in report.findings if f.code == "WSD-K8S-UNREADABLE")
    assert "401" in finding.detail and "rejected the credentials (token)" in finding.detail
    assert finding.evidence["cause"] == "unauthorized"


def test_uninstalled_crd_groups_are_absent_not_errors(tmp_path: Path) -> None:
    """With no Gateway API, Traefik, Istio or Linkerd CRDs, discovery still finds the Ingress."""
    api = FakeKubeAPI(crds=())
    api.load(*sorted(CLUSTER.glob("*.yaml")))
    with serve(api) as running:
        settings = Settings(kubeconfig=str(running.kubeconfig(tmp_path / "kc")))
        obs = observation(diagnose_cluster(settings, "wss://chat.example.com/ws"))
    assert obs.routes[0].kind == "Ingress"
    assert {"traefik.io", "networking.istio.io", "gateway.networking.k8s.io"} <= set(
        obs.snapshot.absent_groups
    )


def test_no_kubeconfig_skips_cluster_and_network_checks_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No kubeconfig anywhere: the cluster check is skipped with one line, tcp still runs, and
    the exit code reflects only the real (tcp) findings."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out, err = io.StringIO(), io.StringIO()
    status = main(
        [f"ws://127.0.0.1:{port}/", "--only", "tcp,cluster", "--format", "json"],
        Environment(stdout=out, stderr=err, environ={}, stdout_isatty=False),
    )
    report = Report.model_validate_json(out.getvalue())
    cluster, tcp = report.check("cluster"), report.check("tcp")
    assert cluster is not None and cluster.status is CheckStatus.SKIPPED
    assert cluster.reason is not None and "no kubeconfig found" in cluster.reason
    assert "\n" not in cluster.reason
    assert tcp is not None and tcp.status is CheckStatus.FAIL
    assert status == ExitStatus.FINDINGS


def test_no_kubernetes_flag_skips(tmp_path: Path) -> None:
    """--no-kubernetes skips the cluster check and says so."""
    out = io.StringIO()
    main(
        ["wss://chat.example.com/", "--only", "cluster", "--no-kubernetes", "--format", "json"],
        Environment(stdout=out, stderr=io.StringIO(), environ={}, stdout_isatty=False),
    )
    check = Report.model_validate_json(out.getvalue()).check("cluster")
    assert (
        check is not None
        and check.status is CheckStatus.SKIPPED
        and check.reason == "--no-kubernetes"
    )


def test_kubeconfig_environment_variable_and_context(
    fake_cluster: RunningAPI, tmp_path: Path
) -> None:
    """KUBECONFIG is honoured like kubectl, and --context picks a named context."""
    kubeconfig = fake_cluster.kubeconfig(tmp_path / "kc", context="staging")
    out, err = io.StringIO(), io.StringIO()
    main(
        [
            "wss://chat.example.com/ws",
            "--only",
            "cluster",
            "--context",
            "staging",
            "--format",
            "json",
        ],
        Environment(
            stdout=out, stderr=err, environ={"KUBECONFIG": str(kubeconfig)}, stdout_isatty=False
        ),
    )
    obs = observation(Report.model_validate_json(out.getvalue()))
    assert obs.context == "staging" and obs.routes[0].name == "chat"


def test_read_tls_secret_reads_only_the_named_secret(tmp_path: Path) -> None:
    """--read-tls-secret GETs only the Secret the route's TLS section names and keeps only
    the fingerprint and subject of its tls.crt."""
    import base64

    import trustme

    cert = trustme.CA().issue_cert("chat.example.com")
    api = FakeKubeAPI()
    api.load(*sorted(CLUSTER.glob("*.yaml")))
    api.add(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": "chat-tls", "namespace": "chat"},
            "data": {
                "tls.crt": base64.b64encode(cert.cert_chain_pems[0].bytes()).decode(),
                "tls.key": base64.b64encode(cert.private_key_pem.bytes()).decode(),
            },
        }
    )
    with serve(api) as running:
        settings = Settings(
            kubeconfig=str(running.kubeconfig(tmp_path / "kc")), read_tls_secret=True
        )
        report = diagnose_cluster(settings, "wss://chat.example.com/ws")
    obs = observation(report)
    secrets = [p for _, p in api.requests if "/secrets" in p]
    assert secrets == ["/api/v1/namespaces/chat/secrets/chat-tls"]
    entry = obs.tls[0]
    assert entry.secret_exists is True
    assert entry.secret_cert_subject is not None and entry.secret_cert_sha256
    assert "PRIVATE KEY" not in report.model_dump_json()
    assert "tls.key" not in report.model_dump_json()


def test_namespace_run_still_finds_the_controller_elsewhere(
    fake_cluster: RunningAPI, tmp_path: Path
) -> None:
    """-n down: the ingress-nginx controller (namespace ingress-nginx) is found by its labels,
    so its ConfigMap timeout and load balancer still count."""
    settings = Settings(kubeconfig=str(fake_cluster.kubeconfig(tmp_path / "kc")), namespace="down")
    obs = observation(diagnose_cluster(settings, "wss://down.example.com/"))
    timeouts = {t.setting: t.seconds for t in obs.timeouts}
    assert timeouts["proxy-read-timeout"] == 120
    assert obs.lb_addresses == ["127.0.0.1"]


def test_unreachable_api_server_is_a_finding_naming_the_server(tmp_path: Path) -> None:
    """A kubeconfig pointing at a closed port is a warning naming the server."""
    api = FakeKubeAPI()
    with serve(api) as running:
        kubeconfig = running.kubeconfig(tmp_path / "kc")
        url = running.url
    settings = Settings(kubeconfig=str(kubeconfig), timeout=1.0)
    report = diagnose_cluster(settings, "wss://chat.example.com/ws")
    finding = next(f for f in report.findings if f.code == "WSD-K8S-UNREADABLE")
    assert f"cannot connect to {url}" in finding.detail and "refused" in finding.detail
    assert finding.evidence["cause"] == "unreachable"


def test_namespaced_role_reads_the_context_namespace(
    fake_cluster: RunningAPI, tmp_path: Path
) -> None:
    """A Role for one namespace only: cluster-wide lists are forbidden, the context's namespace
    is read instead, the route is found and the gap says what was read."""
    kubeconfig = fake_cluster.kubeconfig(tmp_path / "kc", token="chat-only", namespace="chat")
    report = diagnose_cluster(Settings(kubeconfig=str(kubeconfig)), "wss://chat.example.com/ws")
    obs = observation(report)
    assert obs.routes[0].name == "chat" and obs.routes[0].backends[0].endpoints["ready"] == 2
    gap = next(
        g for g in obs.snapshot.permission_gaps if g.resource == "ingresses.networking.k8s.io"
    )
    assert gap.namespace is None and "only namespace chat was read" in gap.affects


@pytest.mark.parametrize(
    "content",
    ["garbage: [\n", "apiVersion: v1\nkind: Config\ncontexts: 7\n", "\x00\x01 not yaml at all"],
)
def test_malformed_kubeconfig_is_a_finding_in_one_line(tmp_path: Path, content: str) -> None:
    """A kubeconfig that is not valid is a warning naming the file, in one line, not an
    error and no traceback."""
    path = tmp_path / "kubeconfig"
    path.write_text(content)
    out, err = io.StringIO(), io.StringIO()
    status = main(
        ["ws://127.0.0.1:9/", "--only", "cluster", "--kubeconfig", str(path), "--format", "json"],
        Environment(stdout=out, stderr=err, environ={}, stdout_isatty=False),
    )
    report = Report.model_validate_json(out.getvalue())
    cluster = report.check("cluster")
    assert cluster is not None and cluster.status is CheckStatus.WARN, cluster
    finding = next(f for f in report.findings if f.code == "WSD-K8S-UNREADABLE")
    assert str(path) in finding.detail and "\n" not in finding.detail
    assert "Traceback" not in out.getvalue()
    assert status == ExitStatus.OK and err.getvalue() == ""
