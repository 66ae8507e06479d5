"""The snapshot's lookups (indexed, so lint and discovery stay linear) answer exactly as a
scan in snapshot order would, and never from another snapshot's objects."""

from __future__ import annotations

from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject


def obj(kind: str, name: str, namespace: str | None = "default",
        api_version: str = "v1") -> KubeObject:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return KubeObject.from_dict({"apiVersion": api_version, "kind": kind, "metadata": meta})


def test_of_kind_keeps_snapshot_order_within_a_kind() -> None:
    """Objects of one kind come back as they were listed."""
    objects = [obj("Service", "a"), obj("Pod", "p"), obj("Service", "b"), obj("Pod", "q")]
    snap = ClusterSnapshot(source="manifests", objects=objects)
    assert [o.name for o in snap.of_kind("Service")] == ["a", "b"]
    assert sorted(o.name for o in snap.of_kind("Pod", "Service")) == ["a", "b", "p", "q"]
    assert list(snap.of_kind("Secret")) == []


def test_find_matches_namespace_cluster_scope_and_group_first_in_order() -> None:
    """The first object of that kind and name in the namespace, or cluster-scoped; the
    group tells Istio's Gateway from Gateway API's."""
    istio = obj("Gateway", "gw", api_version="networking.istio.io/v1")
    gateway_api = obj("Gateway", "gw", api_version="gateway.networking.k8s.io/v1")
    objects = [obj("Service", "s", "other"), obj("Service", "s"), obj("IngressClass", "c", None),
               istio, gateway_api]
    snap = ClusterSnapshot(source="manifests", objects=objects)
    assert snap.find("Service", "default", "s") is objects[1]
    assert snap.find("IngressClass", None, "c") is objects[2]
    assert snap.find("IngressClass", "any", "c") is objects[2]
    assert snap.find("Gateway", "default", "gw", group="gateway.networking.k8s.io") is gateway_api
    assert snap.find("Service", "default", "missing") is None


def test_a_copy_with_other_objects_never_answers_from_the_old_index() -> None:
    """Redaction copies snapshots with new objects: lookups follow the copy's objects."""
    snap = ClusterSnapshot(source="manifests", objects=[obj("Service", "old")])
    assert snap.find("Service", "default", "old") is not None
    copy = snap.model_copy(update={"objects": [obj("Service", "new")]})
    assert copy.find("Service", "default", "old") is None
    assert copy.find("Service", "default", "new") is not None
    assert [o.name for o in copy.of_kind("Service")] == ["new"]
    assert copy.memo("names", lambda: [o.name for o in copy.objects]) == ["new"]
