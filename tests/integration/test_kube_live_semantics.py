"""The controller semantics of issue 9 give the same verdict live as offline: each
controller's fixture (taken from a public manifest) is served by the fake Kubernetes API,
the cluster check judges the route that serves the target, and the finding under test is
reported live exactly when ``wsdoctor lint`` reports it on the same file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from wsdoctor.kube.lint import lint
from wsdoctor.kube.rulebase import RuleOptions
from wsdoctor.lab.kubeapi import FakeKubeAPI, serve
from wsdoctor.runner import diagnose
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

RULES = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "rules"

#: A route (and what it sends to) for fixtures that hold only the policy under test.
AUTHORS_ROUTE = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: authors, namespace: booksapp}
spec:
  ingressClassName: nginx
  rules:
  - host: authors.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: authors, port: {number: 7001}}}}
---
apiVersion: v1
kind: Service
metadata: {name: authors, namespace: booksapp}
spec:
  selector: {app: authors, project: booksapp}
  ports: [{name: service, port: 7001}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: authors, namespace: booksapp}
spec:
  replicas: 2
  selector: {matchLabels: {app: authors, project: booksapp}}
  template:
    metadata:
      labels: {app: authors, project: booksapp}
      annotations: {linkerd.io/inject: enabled}
    spec:
      containers:
      - name: service
        image: buoyantio/booksapp:v0.0.5
        ports: [{name: service, containerPort: 7001}]
"""

CASES = [
    # (controller, fixture case ("FAILED case|PASSED case" when they differ), target URL,
    #  ("FAILED URL|PASSED URL" when they differ), codes under test, extra manifests)
    (
        "ingress-nginx",
        "nginx-passthrough-disabled",
        "wss://argocd.example.com/",
        ("WSD-NGINX-PASSTHROUGH-DISABLED",),
        "",
    ),
    (
        "traefik",
        "traefik-service-affinity",
        "ws://chat.example.com/wsk",
        ("WSD-K8S-SERVICE-AFFINITY",),
        "",
    ),
    (
        "traefik",
        "traefik-sticky-secure-http",
        "ws://chat.example.com/wsk",
        ("WSD-TRAEFIK-STICKY-SECURE-HTTP",),
        "",
    ),
    (
        "haproxy",
        "haproxy-prefix-com",
        "ws://echo.haproxy.local/",
        ("WSD-HAPROXY-INGRESS-IGNORED",),
        "",
    ),
    ("istio", "istio-port-level-h2", "ws://tornado.example.com/", ("WSD-ISTIO-H2-UPGRADE",), ""),
    # The fake API serves Linkerd's Server at v1beta3 only and no policy.linkerd.io HTTPRoute:
    # a v1beta3 Server with no authorization, and one whose accessPolicy admits everyone.
    (
        "linkerd",
        "linkerd-route-authorization|linkerd-access-policy",
        "wss://authors.example.com/",
        ("WSD-LINKERD-SERVER-DENIES",),
        AUTHORS_ROUTE,
    ),
    ("aws-alb", "alb-without-class", "wss://echo.example.com/", ("WSD-LB-IDLE-SHORT",), ""),
    (
        "nginx-inc",
        "nginx-inc-websocket-services",
        "ws://cafe.example.com/ws",
        ("WSD-NGINXINC-WEBSOCKET-SERVICES",),
        "",
    ),
    ("workloads", "drain-grace", "ws://echo.haproxy.local/", ("WSD-K8S-NO-DRAIN",), ""),
    (
        "workloads",
        "statefulset-single-instance",
        "ws://notes.mcmumf.dev/",
        ("WSD-K8S-SINGLE-REPLICA",),
        "",
    ),
    # the heartbeat of the container that serves the route (one URL per half: two routes)
    (
        "ingress-nginx",
        "nginx-timeout-sidecar-heartbeat",
        "ws://hassio.mcmumf.dev/|ws://hassio-code.mcmumf.dev/",
        ("WSD-NGINX-TIMEOUT-SHORT",),
        "",
    ),
    (
        "ingress-nginx",
        "nginx-timeout-app-heartbeat",
        "ws://notes.mcmumf.dev/",
        ("WSD-NGINX-TIMEOUT-SHORT",),
        "",
    ),
]


def live_codes(manifest: Path, url: str, tmp_path: Path) -> set[str]:
    """Codes the cluster check reports for ``url`` with ``manifest`` served by the fake API."""
    api = FakeKubeAPI()
    api.load(manifest)
    with serve(api) as running:
        settings = Settings(
            kubeconfig=str(running.kubeconfig(tmp_path / "kubeconfig")), only=["cluster"]
        )
        report = asyncio.run(diagnose(parse_target(url), settings))
    return {f.code for f in report.findings}


def lint_codes(manifest: Path) -> set[str]:
    """Codes ``wsdoctor lint`` reports for the same manifest."""
    _, report = lint([str(manifest)], RuleOptions(), None, set())
    return {lf.finding.code for lf in report.findings}


@pytest.mark.parametrize(
    ("controller", "case", "url", "codes", "extra"),
    CASES,
    ids=[f"{c[0]}:{c[1].split('|')[0]}" for c in CASES],
)
@pytest.mark.parametrize("half", ["FAILED", "PASSED"])
def test_live_verdict_is_the_lint_verdict(
    controller: str,
    case: str,
    url: str,
    codes: tuple[str, ...],
    extra: str,
    half: str,
    tmp_path: Path,
) -> None:
    """Given the fixture served by the fake API, the cluster check reports the codes under
    test for the FAILED half and not for the PASSED half, as lint does on the same file."""
    failed, _, passed = case.partition("|")
    name = failed if half == "FAILED" else passed or failed
    url_failed, _, url_passed = url.partition("|")
    url = url_failed if half == "FAILED" else url_passed or url_failed
    manifest = tmp_path / f"{name}-{half}.yaml"
    manifest.write_text((RULES / f"{name}-{half}.yaml").read_text() + "\n---\n" + extra)
    offline, live = lint_codes(manifest), live_codes(manifest, url, tmp_path)
    for code in codes:
        assert (code in live) == (code in offline) == (half == "FAILED"), (code, live, offline)


def test_unparsable_limit_is_not_a_rate_limit_live_or_offline(tmp_path: Path) -> None:
    """Given limit-rps "20r/s" and limit-connections "ten" on the route, the cluster check and
    lint agree: the annotation is invalid and no rate limit (503 above it) is claimed; with
    the corrected values both report the limit and not the invalid annotation."""
    for half, expected in (("FAILED", "WSD-NGINX-ANNOTATION-INVALID"),
                           ("PASSED", "WSD-NGINX-RATE-LIMIT")):
        manifest = RULES / f"nginx-limit-unparsed-{half}.yaml"
        offline = lint_codes(manifest)
        live = live_codes(manifest, "ws://chat.example.com/ws", tmp_path)
        pair = {"WSD-NGINX-ANNOTATION-INVALID", "WSD-NGINX-RATE-LIMIT"}
        assert live & pair == offline & pair == {expected}, (half, live, offline)
