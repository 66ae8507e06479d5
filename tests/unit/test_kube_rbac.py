"""docs/rbac.yaml is the least-privilege role for what the client reads: it covers every kind,
grants only get/list, and never Secrets."""

from __future__ import annotations

from pathlib import Path

import yaml

from wsdoctor.kube.kinds import KINDS

RBAC = Path(__file__).resolve().parent.parent.parent / "docs" / "rbac.yaml"


def rules() -> list[dict[str, list[str]]]:
    role = yaml.safe_load(RBAC.read_text(encoding="utf-8"))
    assert role["kind"] == "ClusterRole"
    return list(role["rules"])


def allowed(verb: str, group: str, resource: str) -> bool:
    return any(
        verb in r["verbs"] and group in r["apiGroups"] and resource in r["resources"]
        for r in rules()
    )


def test_role_lets_the_client_list_every_kind_it_reads() -> None:
    """Every kind wsdoctor lists is granted get and list."""
    missing = [k.resource for k in KINDS if not allowed("list", k.group, k.plural)]
    assert not missing, missing


def test_role_is_read_only_and_excludes_secrets() -> None:
    """Only get/list; Secrets are absent; ConfigMaps are get-only (read by name)."""
    for rule in rules():
        assert set(rule["verbs"]) <= {"get", "list"}, rule
        assert "secrets" not in rule["resources"] and "*" not in rule["resources"]
    assert allowed("get", "", "configmaps") and not allowed("list", "", "configmaps")


def test_forbidden_pods_behind_the_serving_route_are_a_warning_with_their_role() -> None:
    """Pods refused in the backend's namespace: a warning naming verb, resource and
    namespace, with a Role for the core group; a refusal elsewhere stays informational."""
    from wsdoctor.checks.cluster_access import backend_gaps, judge_backend_gaps
    from wsdoctor.kube.observation import BackendSummary, RouteSummary
    from wsdoctor.kube.snapshot import PermissionGap

    route = RouteSummary(kind="Ingress", namespace="web", name="chat", controller="traefik",
                         backends=[BackendSummary(service="apps/chat")])
    pods = PermissionGap(verb="list", resource="pods", namespace="apps", affects="pods")
    elsewhere = PermissionGap(verb="list", resource="pods", namespace="other")
    own, others = backend_gaps(route, [pods, elsewhere])
    assert (own, others) == ([pods], [elsewhere])
    (finding,) = judge_backend_gaps(route, own)
    assert finding.status.value == "warn"
    assert finding.title == "Forbidden: list pods in namespace apps"
    assert "Service apps/chat" in finding.detail and "Ingress web/chat" in finding.detail
    role = yaml.safe_load(str(finding.fix.snippet if finding.fix else ""))
    assert role["metadata"]["namespace"] == "apps"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"],
                              "verbs": ["get", "list"]}]
