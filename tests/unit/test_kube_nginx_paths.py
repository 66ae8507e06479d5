"""ingress-nginx's path matching, as its documentation describes it ("Ingress Path Matching",
kubernetes/ingress-nginx docs/user-guide/ingress-path-matching.md; ``buildLocation`` and
``enforceRegexModifier`` in internal/ingress/controller/template/template.go): with
``use-regex: "true"`` or a ``rewrite-target`` on any Ingress of a host, every path of that
host becomes ``location ~* "^PATH"`` (case-insensitive, anchored at the start only), and the
longest path is tried first."""

from __future__ import annotations

from typing import Any

from wsdoctor.kube.discover import routes_for
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject

NGINX = "nginx.ingress.kubernetes.io/"


def ingress(name: str, host: str, *paths: str, path_type: str = "ImplementationSpecific",
            **annotations: str) -> KubeObject:
    body: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": "chat",
                     "annotations": {NGINX + k.replace("_", "-"): v
                                     for k, v in annotations.items()}},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
            {"path": p, "pathType": path_type,
             "backend": {"service": {"name": name, "port": {"number": 80}}}}
            for p in paths]}}]}}
    return KubeObject.from_dict(body)


def served_by(snap: ClusterSnapshot, host: str, path: str) -> list[str]:
    return [f"{r.name} {r.path}" for r in routes_for(snap, host, path)]


def snapshot(*objs: KubeObject) -> ClusterSnapshot:
    klass = KubeObject.from_dict({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                                  "metadata": {"name": "nginx"},
                                  "spec": {"controller": "k8s.io/ingress-nginx"}})
    return ClusterSnapshot(source="manifests", objects=[klass, *objs])


def test_use_regex_paths_match_as_case_insensitive_prefix_regexes() -> None:
    """Given use-regex and the path /ws/[0-9]+, /ws/42/chat and /WS/42 are served, /ws/x is not."""
    snap = snapshot(ingress("rooms", "chat.example.com", "/ws/[0-9]+", use_regex="true"))
    assert served_by(snap, "chat.example.com", "/ws/42/chat") == ["rooms /ws/[0-9]+"]
    assert served_by(snap, "chat.example.com", "/WS/42") == ["rooms /ws/[0-9]+"]
    assert served_by(snap, "chat.example.com", "/ws/x") == []


def test_rewrite_target_makes_the_path_a_regex() -> None:
    """Given rewrite-target /$2 on the path /chat(/|$)(.*), /chat/ws is served."""
    snap = snapshot(ingress("chat", "chat.example.com", "/chat(/|$)(.*)",
                            rewrite_target="/$2"))
    assert served_by(snap, "chat.example.com", "/chat/ws") == ["chat /chat(/|$)(.*)"]


def test_regex_applies_to_every_path_of_the_host_and_longest_first() -> None:
    """Given use-regex on one Ingress of the host, another Ingress's plain Prefix /ws is a
    regex too (/wsx matches it), the longer path wins where both match, and another host
    keeps element-wise Prefix matching."""
    snap = snapshot(
        ingress("api", "chat.example.com", "/api/v[0-9]+", use_regex="true"),
        ingress("ws", "chat.example.com", "/ws", "/ws/admin", path_type="Prefix"),
        ingress("other", "other.example.com", "/ws", path_type="Prefix"))
    assert served_by(snap, "chat.example.com", "/wsx") == ["ws /ws"]
    assert served_by(snap, "chat.example.com", "/ws/admin/1")[0] == "ws /ws/admin"
    assert served_by(snap, "other.example.com", "/wsx") == []


def test_pcre_named_groups_are_understood() -> None:
    """Given a path written with PCRE's (?<name>...) group, it still matches."""
    snap = snapshot(ingress("rooms", "chat.example.com", "/room/(?<id>[0-9]+)",
                            use_regex="true"))
    assert served_by(snap, "chat.example.com", "/room/7") == ["rooms /room/(?<id>[0-9]+)"]


def test_the_relevant_part_of_the_cluster_keeps_what_makes_the_paths_regexes() -> None:
    """Given /w (Prefix) served only because another Ingress of the host has use-regex, the
    cluster check's relevant objects keep that other Ingress: the routes found again in them
    (as the load cross-check does) are the same."""
    from wsdoctor.kube.relevant import relevant_snapshot

    snap = snapshot(ingress("api", "chat.example.com", "/api/v[0-9]+", use_regex="true"),
                    ingress("ws", "chat.example.com", "/w", path_type="Prefix"))
    subset, routes = relevant_snapshot(snap, "chat.example.com", "/ws")
    assert [r.name for r in routes] == ["ws"]
    assert served_by(subset, "chat.example.com", "/ws") == ["ws /w"]
