"""Cluster rules on small manifest fixtures named by case: ``<case>-FAILED.yaml`` must raise
the code its ``# expect CODE`` comment names, ``<case>-PASSED.yaml`` must not. Fixtures taken
from public manifests cite them first (``# source: https://github.com/...``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wsdoctor.kube.manifests import load_manifests
from wsdoctor.kube.rulebase import RuleOptions
from wsdoctor.kube.rules import CONFIG_CODES, judge_snapshot
from wsdoctor.models import Finding

RULES = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "rules"
EXPECT = re.compile(r"^# expect (no )?(WSD-[A-Z0-9-]+)", re.M)


def _cases(suffix: str) -> list[Path]:
    return sorted(RULES.glob(f"*-{suffix}.yaml"))


def _judge(path: Path) -> tuple[str, list[Finding]]:
    match = EXPECT.search(path.read_text(encoding="utf-8"))
    assert match, f"{path.name}: a leading comment must say '# expect [no] CODE'"
    snap = load_manifests([str(path)]).snapshot
    return match.group(2), list(judge_snapshot(snap, RuleOptions()))


@pytest.mark.parametrize("path", _cases("FAILED"), ids=lambda p: p.stem)
def test_failed_case_raises_its_code_naming_resource_field_and_fix(path: Path) -> None:
    """Given a manifest with one problem, its code is reported with resource, field and fix."""
    code, findings = _judge(path)
    hits = [f for f in findings if f.code == code]
    assert hits, f"{code} not raised; got {[f.code for f in findings]}"
    for finding in hits:
        assert finding.resource is not None and finding.resource.field, finding
        assert finding.resource.kind and finding.resource.name
        assert finding.fix is not None and finding.fix.summary


@pytest.mark.parametrize("path", _cases("PASSED"), ids=lambda p: p.stem)
def test_passed_case_does_not_raise_its_code(path: Path) -> None:
    """Given the corrected manifest, the code is not reported."""
    code, findings = _judge(path)
    assert code not in [f.code for f in findings], [f.detail for f in findings if f.code == code]


def test_every_case_has_both_halves() -> None:
    """Each case has a FAILED and a PASSED fixture."""
    failed = {p.name.removesuffix("-FAILED.yaml") for p in _cases("FAILED")}
    passed = {p.name.removesuffix("-PASSED.yaml") for p in _cases("PASSED")}
    assert failed == passed


def test_every_configuration_code_has_a_case() -> None:
    """Every configuration rule code (those lint can raise) is covered by a FAILED fixture."""
    covered = {EXPECT.search(p.read_text()).group(2) for p in _cases("FAILED")}  # type: ignore[union-attr]
    live_only = {"WSD-K8S-NO-READY-ENDPOINTS", "WSD-K8S-POD-RESTARTS"}
    missing = {c.code for c in CONFIG_CODES} - covered - live_only
    assert not missing, sorted(missing)


def test_controller_images_are_recognised_without_false_friends() -> None:
    """Controller images are told apart from look-alikes (Istio sidecars, traefik/whoami)."""
    from wsdoctor.kube.backends import image_controller

    assert image_controller("registry.k8s.io/ingress-nginx/controller:v1.12.0@sha256:ab", {}) == (
        "ingress-nginx"
    )
    assert image_controller("docker.io/traefik:v3.3", {}) == "traefik"
    assert image_controller("traefik/whoami:v1.10", {}) is None
    assert image_controller("haproxytech/kubernetes-ingress:3.1", {}) == "haproxytech"
    assert image_controller("quay.io/jcmoraisjr/haproxy-ingress:v0.15", {}) == "haproxy-ingress"
    assert image_controller("docker.io/istio/proxyv2:1.24", {"istio": "ingressgateway"}) == "istio"
    assert image_controller("docker.io/istio/proxyv2:1.24", {"app": "chat"}) is None


def test_host_and_path_matching_follow_kubernetes_and_traefik() -> None:
    """Wildcards cover one label; Prefix matches by path element; HostRegexp is a regex."""
    from wsdoctor.kube.discover import _traefik_regexp, host_matches, path_matches

    assert host_matches("*.example.com", "chat.example.com")
    assert not host_matches("*.example.com", "a.chat.example.com")
    assert not host_matches("*.example.com", "example.com")
    assert path_matches("Prefix", "/ws", "/ws/room") and not path_matches("Prefix", "/ws", "/wsx")
    assert path_matches("Exact", "/ws", "/ws") and not path_matches("Exact", "/ws", "/ws/")
    assert host_matches(_traefik_regexp(r"^.+\.example\.com$"), "chat.example.com")
    assert host_matches(_traefik_regexp("{sub:[a-z]+}.example.com"), "chat.example.com")
    assert not host_matches(_traefik_regexp("{sub:[a-z]+}.example.com"), "chat.example.org")


def test_ingressroute_with_host_regexp_is_not_a_catch_all() -> None:
    """An IngressRoute matching HostRegexp serves its hosts only, not every host."""
    from wsdoctor.kube.discover import routes_for
    from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject

    route = KubeObject.from_dict(
        {
            "apiVersion": "traefik.io/v1alpha1",
            "kind": "IngressRoute",
            "metadata": {"name": "r", "namespace": "a"},
            "spec": {
                "routes": [
                    {
                        "match": r"HostRegexp(`^.+\.example\.com$`) && PathPrefix(`/ws`)",
                        "services": [{"name": "s", "port": 80}],
                    }
                ]
            },
        }
    )
    snap = ClusterSnapshot(source="manifests", objects=[route])
    assert [r.name for r in routes_for(snap, "chat.example.com", "/ws")] == ["r"]
    assert routes_for(snap, "chat.example.org", "/ws") == []


#: The controller-semantics cases of issue 9 (point 4): each pair is taken from a public
#: manifest (or a documentation page's manifest) and says so before anything else.
FROM_PUBLIC_MANIFESTS = (
    "nginx-passthrough-disabled",
    "nginx-passthrough-annotations",
    "nginx-hash-affinity",
    "nginx-configmap-identity",
    "nginx-configmap-removed-keys",
    "nginx-worker-connections",
    "nginx-buffers",
    "traefik-group-version",
    "traefik-group-unserved",
    "traefik-group-deprecated",
    "traefik-ref-missing",
    "traefik-service-affinity",
    "traefik-sticky-secure-http",
    "haproxy-prefix-com",
    "haproxy-prefix-legacy",
    "haproxy-configmap-key",
    "haproxy-ingress-configmap-key",
    "istio-port-level-h2",
    "istio-credential-namespace",
    "istio-ws-conn-limit",
    "istio-ws-one-request",
    "istio-ws-consecutive-errors",
    "linkerd-route-authorization",
    "linkerd-access-policy",
    "linkerd-serverauthorization",
    "alb-without-class",
    "statefulset-netpol",
    "statefulset-no-pdb",
    "drain-grace",
    "k8s-not-in-input",
    "k8s-not-websocket",
)
SOURCE = re.compile(r"^# source: https://github\.com/[^/\s]+/[^/\s]+/blob/[0-9a-f]{40}/\S+")


@pytest.mark.parametrize("case", FROM_PUBLIC_MANIFESTS)
def test_semantics_fixtures_cite_the_public_manifest_they_come_from(case: str) -> None:
    """Both halves exist and start with the repository, commit and path they were taken from;
    any change to the original is said on an '# adapted:' line."""
    for half in ("FAILED", "PASSED"):
        lines = (RULES / f"{case}-{half}.yaml").read_text(encoding="utf-8").splitlines()
        assert SOURCE.match(lines[0]), f"{case}-{half}: {lines[0]}"


def test_no_pdb_is_not_claimed_when_budgets_could_not_be_read() -> None:
    """Read live with PodDisruptionBudgets forbidden (not listed), a replicated backend is not
    said to have none: the permission gap is reported, the budget is unknown."""
    snap = load_manifests([str(RULES / "k8s-no-pdb-FAILED.yaml")]).snapshot
    kinds = sorted({o.kind for o in snap.objects} | {"PodDisruptionBudget"})
    listed = snap.model_copy(update={"source": "cluster", "listed_kinds": kinds})
    assert "WSD-K8S-NO-PDB" in [f.code for f in judge_snapshot(listed, RuleOptions())]
    unread = listed.model_copy(update={
        "listed_kinds": [k for k in kinds if k != "PodDisruptionBudget"]})
    assert "WSD-K8S-NO-PDB" not in [f.code for f in judge_snapshot(unread, RuleOptions())]


def test_selector_matching_pods_only_in_another_namespace_says_so(tmp_path: Path) -> None:
    """The Service's pods run in another namespace (project): the finding names that
    namespace and the workload instead of saying no pod has the labels."""
    base = (RULES / "k8s-selector-no-pods-FAILED.yaml").read_text(encoding="utf-8")
    other = base.split("---\napiVersion: apps/v1\n", 1)[1].split("---", 1)[0]
    moved = other.replace("namespace: chat", "namespace: chat-prod").replace(
        "app: chat-server", "app: chat")
    path = tmp_path / "moved.yaml"
    path.write_text(base + "---\napiVersion: apps/v1\n" + moved, encoding="utf-8")
    findings = list(judge_snapshot(load_manifests([str(path)]).snapshot, RuleOptions()))
    (hit,) = [f for f in findings if f.code == "WSD-K8S-SELECTOR-NO-PODS"]
    assert hit.title == "Service selector matches pods only in namespace chat-prod"
    assert "Deployment chat-prod/chat" in hit.detail and "not in chat" in hit.detail
    assert hit.evidence["matching_namespaces"] == ["chat-prod"]
    assert hit.fix is not None and "namespace chat-prod" in hit.fix.summary
    (plain,) = [f for f in _judge(RULES / "k8s-selector-no-pods-FAILED.yaml")[1]
                if f.code == "WSD-K8S-SELECTOR-NO-PODS"]
    assert "no Pod or workload in chat has those labels" in plain.detail


def test_placeholder_hosts_are_named_but_traefik_host_regexps_are_not(tmp_path: Path) -> None:
    """``${DOMAIN}`` on an Ingress and ``{IPv6}`` in an IngressRoute Host() are placeholders;
    a Traefik v2 HostRegexp with ``{name:regexp}`` and a regex quantifier is syntax."""
    path = tmp_path / "hosts.yaml"
    path.write_text("""
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: env, namespace: chat}
spec:
  rules:
  - host: "${DOMAIN}"
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}]}
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: doc, namespace: chat}
spec:
  routes:
  - match: Host(`{IPv6}`)
    kind: Rule
    services: [{name: a, port: 80}]
---
apiVersion: traefik.containo.us/v1alpha1
kind: IngressRoute
metadata: {name: regexp, namespace: chat}
spec:
  routes:
  - match: HostRegexp(`{sub:[a-z]{2,8}}.example.com`)
    kind: Rule
    services: [{name: a, port: 80}]
""", encoding="utf-8")
    findings = list(judge_snapshot(load_manifests([str(path)]).snapshot, RuleOptions()))
    hits = {(f.resource.name if f.resource else "", str(f.evidence["placeholder"]))
            for f in findings if f.code == "WSD-K8S-HOST-PLACEHOLDER"}
    assert hits == {("env", "${DOMAIN}"), ("doc", "{IPv6}")}
    env = next(f for f in findings if f.code == "WSD-K8S-HOST-PLACEHOLDER"
               and f.resource is not None and f.resource.name == "env")
    assert env.resource is not None and env.resource.field == "spec.rules[0].host"
    assert "not an address" in env.detail


def _lint_text(tmp_path: Path, text: str) -> list[Finding]:
    path = tmp_path / "case.yaml"
    path.write_text(text, encoding="utf-8")
    return list(judge_snapshot(load_manifests([str(path)]).snapshot, RuleOptions()))


def test_annotation_typos_name_the_annotation_meant_and_spare_dropped_ones(
    tmp_path: Path,
) -> None:
    """server-snippets and proxy-read-timeouts are near-misses of names ingress-nginx reads;
    enable-opentracing (dropped in v1.10) and a name far from any are not typos."""
    findings = _lint_text(tmp_path, """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: chat
  namespace: chat
  annotations:
    nginx.ingress.kubernetes.io/server-snippets: "return 404;"
    nginx.ingress.kubernetes.io/proxy-read-timeouts: "3600"
    nginx.ingress.kubernetes.io/enable-opentracing: "true"
    nginx.ingress.kubernetes.io/my-own-thing: "x"
spec:
  rules:
  - host: chat.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: a, port: {number: 80}}}}]}
""")
    typos = {str(f.evidence["annotation"]): f for f in findings
             if f.code == "WSD-K8S-ANNOTATION-TYPO"}
    prefix = "nginx.ingress.kubernetes.io/"
    assert set(typos) == {prefix + "server-snippets", prefix + "proxy-read-timeouts"}
    snippet = typos[prefix + "server-snippets"]
    assert snippet.evidence["suggestion"] == prefix + "server-snippet"
    assert "nginx.org/server-snippets" in snippet.detail
    timeout = typos[prefix + "proxy-read-timeouts"]
    assert timeout.fix is not None and f'{prefix}proxy-read-timeout: "3600"' in str(
        timeout.fix.snippet)


def test_configmap_key_typo_suggests_the_key_meant(tmp_path: Path) -> None:
    """A misspelt key of the ingress-nginx ConfigMap names the key it nearly is."""
    findings = _lint_text(tmp_path, """
apiVersion: v1
kind: ConfigMap
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
data:
  proxy-read-timeouts: "3600"
  proxy-send-timeout: "3600"
""")
    (hit,) = [f for f in findings if f.code == "WSD-NGINX-CONFIGMAP-KEY"]
    assert hit.evidence["suggestion"] == "proxy-read-timeout"
    assert "misspelling of 'proxy-read-timeout'" in hit.detail


@pytest.mark.parametrize(
    ("annotations", "extra", "controller"),
    [
        ({"nginx.org/proxy-read-timeout": "1h"}, "", "nginx-inc"),
        ({"nginx.org/websocket-services": "chat"}, "", "nginx-inc"),
        ({}, "", "ingress-nginx"),
        ({"nginx.org/client-max-body-size": "10g",
          "nginx.ingress.kubernetes.io/proxy-body-size": "10g"}, "", "ingress-nginx"),
        ({}, "image: nginx/nginx-ingress:5.3.2", "nginx-inc"),
        ({}, "image: registry.k8s.io/ingress-nginx/controller:v1.15.0", "ingress-nginx"),
    ],
)
def test_class_nginx_is_told_apart_between_the_two_nginx_controllers(
    tmp_path: Path, annotations: dict[str, str], extra: str, controller: str
) -> None:
    """Both controllers default to the class ``nginx``: NGINX Inc's when the Ingress speaks
    only nginx.org/ annotations or only its controller is deployed; else ingress-nginx."""
    from wsdoctor.kube.discover import ingress_controller

    workload = f"""---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: controller, namespace: nginx}}
spec:
  selector: {{matchLabels: {{app: c}}}}
  template:
    metadata: {{labels: {{app: c}}}}
    spec: {{containers: [{{name: c, {extra}}}]}}
""" if extra else ""
    path = tmp_path / "ing.yaml"
    path.write_text(f"""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: chat, namespace: chat, annotations: {annotations!r}}}
spec: {{ingressClassName: nginx}}
{workload}""", encoding="utf-8")
    snap = load_manifests([str(path)]).snapshot
    ing = snap.find("Ingress", "chat", "chat")
    assert ing is not None
    assert ingress_controller(snap, ing) == (controller, "nginx")


def test_unparsable_limit_is_one_finding_about_a_limit_not_in_force() -> None:
    """Given limit-rps "20r/s" and limit-connections "ten" (which ingress-nginx's ratelimit
    parser reads as 0: no limit), each gets one WSD-NGINX-ANNOTATION-INVALID worded for a
    limit (not for a timeout), and no WSD-NGINX-RATE-LIMIT claims a 503 above a limit."""
    _, findings = _judge(RULES / "nginx-limit-unparsed-FAILED.yaml")
    invalid = {str(f.evidence["annotation"]).rsplit("/", 1)[1]: f for f in findings
               if f.code == "WSD-NGINX-ANNOTATION-INVALID"}
    assert sorted(invalid) == ["limit-connections", "limit-rps"]
    assert [f.code for f in findings].count("WSD-NGINX-ANNOTATION-INVALID") == 2
    assert "WSD-NGINX-RATE-LIMIT" not in [f.code for f in findings]
    for finding in invalid.values():
        assert "Timeouts" not in finding.detail and "seconds" not in finding.detail
        assert "no " in finding.detail and "limit is in force" in finding.detail
    assert '"20r/s"' in invalid["limit-rps"].detail
    assert "requests per second" in invalid["limit-rps"].detail
    assert "concurrent connections" in invalid["limit-connections"].detail
    assert invalid["limit-rps"].fix is not None
    assert 'limit-rps: "20"' in str(invalid["limit-rps"].fix.snippet)
    _, corrected = _judge(RULES / "nginx-limit-unparsed-PASSED.yaml")
    limits = sorted(str(f.evidence["annotation"]) for f in corrected
                    if f.code == "WSD-NGINX-RATE-LIMIT")
    assert limits == ["nginx.ingress.kubernetes.io/limit-connections",
                      "nginx.ingress.kubernetes.io/limit-rps"]


def test_zero_limit_is_no_limit(tmp_path: Path) -> None:
    """limit-connections "0" is how ingress-nginx spells no limit: no rate-limit finding."""
    text = (RULES / "nginx-rate-limit-FAILED.yaml").read_text().replace('"10"', '"0"')
    assert 'limit-connections: "0"' in text
    assert "WSD-NGINX-RATE-LIMIT" not in [f.code for f in _lint_text(tmp_path, text)]
