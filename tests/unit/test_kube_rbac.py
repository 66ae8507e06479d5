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
