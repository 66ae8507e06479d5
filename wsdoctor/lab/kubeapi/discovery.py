"""Discovery and server information: ``/api``, ``/apis``, ``/apis/<group>``, resource lists,
``/version`` and the health endpoints, as kube-apiserver serves them (legacy, unaggregated
discovery: clients that ask for the aggregated form fall back to it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsdoctor.lab.kubeapi.resources import ResourceType
    from wsdoctor.lab.kubeapi.store import FakeKubeAPI

SHORT_NAMES = {
    "pods": ["po"],
    "services": ["svc"],
    "configmaps": ["cm"],
    "endpoints": ["ep"],
    "namespaces": ["ns"],
    "nodes": ["no"],
    "events": ["ev"],
    "deployments": ["deploy"],
    "statefulsets": ["sts"],
    "daemonsets": ["ds"],
    "replicasets": ["rs"],
    "ingresses": ["ing"],
    "networkpolicies": ["netpol"],
    "horizontalpodautoscalers": ["hpa"],
    "poddisruptionbudgets": ["pdb"],
    "virtualservices": ["vs"],
    "destinationrules": ["dr"],
    "gateways": ["gtw"],
}


def group_list(api: FakeKubeAPI) -> dict[str, Any]:
    groups: dict[str, list[str]] = {}
    for t in api.types:
        if t.group and t.version not in groups.setdefault(t.group, []):
            groups[t.group].append(t.version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": g,
                "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]},
            }
            for g, vs in groups.items()
        ],
    }


def resource_list(group: str, version: str, types: list[ResourceType]) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for t in types:
        resources.append(
            {
                "name": t.plural,
                "singularName": t.kind.lower(),
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": ["get", "list", "watch"],
                **({"shortNames": SHORT_NAMES[t.plural]} if t.plural in SHORT_NAMES else {}),
            }
        )
        if t.plural in ("pods", "services", "deployments", "ingresses"):
            resources.append(
                {
                    "name": f"{t.plural}/status",
                    "singularName": "",
                    "namespaced": t.namespaced,
                    "kind": t.kind,
                    "verbs": ["get"],
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def version_info(api: FakeKubeAPI) -> dict[str, Any]:
    major, minor, *_ = api.server_version.removeprefix("v").split(".")
    return {
        "major": major,
        "minor": minor,
        "gitVersion": api.server_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def answer(api: FakeKubeAPI, path: str) -> dict[str, Any] | str | None:
    """The body for a non-resource GET; None when nothing is served there."""
    parts = [p for p in path.strip("/").split("/") if p]
    if parts == ["version"]:
        return version_info(api)
    if parts in (["healthz"], ["livez"], ["readyz"]):
        return "ok"
    if parts == ["api"]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}
            ],
        }
    if parts == ["apis"]:
        return group_list(api)
    if parts[:1] == ["apis"] and len(parts) == 2:
        group = next((g for g in group_list(api)["groups"] if g["name"] == parts[1]), None)
        return {"kind": "APIGroup", "apiVersion": "v1", **group} if group else None
    if parts[:1] == ["api"] and len(parts) == 2:
        group, version = "", parts[1]
    elif parts[:1] == ["apis"] and len(parts) == 3:
        group, version = parts[1], parts[2]
    else:
        return None
    types = [t for t in api.types if t.group == group and t.version == version]
    return resource_list(group, version, types) if types else None
