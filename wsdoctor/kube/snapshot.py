"""The ClusterSnapshot: the Kubernetes objects relevant to a diagnosis, as plain typed data.

The same snapshot is built from a live cluster (``wsdoctor.kube.client``) or from manifest
files (``wsdoctor.kube.manifests``); the rules read only this, never a client.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Literal, TypeVar, cast

from wsdoctor.models import Field, Model, Resource

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def field_path(*parts: str | int) -> str:
    """``spec.rules[0].http`` or ``metadata.annotations["a.b/c"]``: the one spelling of a field
    used in findings and in the manifest line index (SARIF locations)."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


def annotation_field(name: str) -> str:
    """The field path of an annotation."""
    return field_path("metadata", "annotations", name)


def _mapping(value: Any) -> dict[str, Any]:
    """A mapping as it is; anything else (absent, malformed) as empty."""
    return value if isinstance(value, dict) else {}


def _string_map(value: Any) -> dict[str, str]:
    """A mapping as strings; anything else (a malformed field) as empty."""
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


class KubeObject(Model):
    """One Kubernetes object: identity and metadata typed, the body kept as plain data."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    spec: dict[str, Any] = Field(default_factory=dict)
    status: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, str] = Field(default_factory=dict)
    """ConfigMap data (never Secret data)."""
    body: dict[str, Any] = Field(default_factory=dict)
    """Other top-level fields (EndpointSlice ``endpoints``/``ports``, Secret ``type``...)."""

    @property
    def group(self) -> str:
        """API group ('' for core)."""
        return self.api_version.rpartition("/")[0] if "/" in self.api_version else ""

    @property
    def ref(self) -> str:
        """``Ingress default/chat``."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"

    def resource(self, field: str | None = None) -> Resource:
        """The finding resource for this object and one of its fields."""
        return Resource(kind=self.kind, name=self.name, namespace=self.namespace, field=field)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], default_namespace: str | None = None) -> KubeObject:
        """Build from an API or YAML object; Secret data is dropped here, always."""
        raw_meta = raw.get("metadata")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        kind = str(raw.get("kind") or "")
        body = {
            k: v
            for k, v in raw.items()
            if k not in ("apiVersion", "kind", "metadata", "spec", "status", "data", "stringData")
        }
        # A part of the wrong type stays in ``body`` so the shape check can name it.
        for key in ("spec", "status", "data"):
            if raw.get(key) is not None and not isinstance(raw[key], dict):
                body[key] = raw[key] if key != "data" or kind == "ConfigMap" else "(not read)"
        bad_meta = {
            k: meta[k]
            for k in ("labels", "annotations")
            if meta.get(k) is not None and not isinstance(meta[k], dict)
        }
        if bad_meta:
            body["metadata"] = bad_meta
        data = raw.get("data") if kind == "ConfigMap" else None
        namespace = meta.get("namespace")
        return cls(
            api_version=str(raw.get("apiVersion") or ""),
            kind=kind,
            name=str(meta.get("name") or meta.get("generateName") or ""),
            namespace=str(namespace) if namespace else default_namespace,
            labels=_string_map(meta.get("labels")),
            annotations=_string_map(meta.get("annotations")),
            spec=_mapping(raw.get("spec")),
            status=_mapping(raw.get("status")),
            data=_string_map(data),
            body=body,
        )


class PermissionGap(Model):
    """A request RBAC refused: what was missing and what could not be judged because of it."""

    verb: str
    resource: str
    """``ingresses.networking.k8s.io`` (plural.group; core resources have no group)."""
    namespace: str | None = None
    """None: cluster-wide."""
    affects: str = ""
    """What is not judged without it."""

    def __str__(self) -> str:
        scope = f"in namespace {self.namespace}" if self.namespace else "cluster-wide"
        return f"{self.verb} {self.resource} {scope}"


#: Groups that older API versions used for the same resource (one object, two spellings).
_LEGACY_GROUPS = {
    ("extensions", "Ingress"): "networking.k8s.io",
    ("extensions", "NetworkPolicy"): "networking.k8s.io",
    ("extensions", "Deployment"): "apps",
    ("extensions", "DaemonSet"): "apps",
    ("extensions", "ReplicaSet"): "apps",
}

ObjectKey = tuple[str, str, str | None, str]
"""(group, kind, namespace, name): one object, as the API server identifies it."""


def object_key(obj: KubeObject) -> ObjectKey:
    """The identity of an object: ``extensions/v1beta1`` and ``networking.k8s.io/v1``
    Ingresses of one name are one object; Istio's and Gateway API's Gateways are two."""
    group = _LEGACY_GROUPS.get((obj.group, obj.kind), obj.group)
    return (group, obj.kind, obj.namespace, obj.name)


T = TypeVar("T")


class SnapshotIndex:
    """Lookups by kind, namespace and name, built once per snapshot, and a memo for facts
    derived from the whole snapshot (controller workloads, route rules): every lookup the
    rules make is O(1) or proportional to its answer, never a scan of every object."""

    def __init__(self, objects: list[KubeObject]) -> None:
        self.objects = objects
        self.size = len(objects)
        self.by_kind: dict[str, list[KubeObject]] = {}
        self.by_kind_ns: dict[tuple[str, str | None], list[KubeObject]] = {}
        self.by_name: dict[tuple[str, str | None, str], list[KubeObject]] = {}
        for obj in objects:
            self.by_kind.setdefault(obj.kind, []).append(obj)
            self.by_kind_ns.setdefault((obj.kind, obj.namespace), []).append(obj)
            self.by_name.setdefault((obj.kind, obj.namespace, obj.name), []).append(obj)
        self.memo: dict[Hashable, Any] = {}

    def valid_for(self, objects: list[KubeObject]) -> bool:
        """Whether this index describes ``objects`` (a copied snapshot has its own list)."""
        return self.objects is objects and self.size == len(objects)


class ClusterSnapshot(Model):
    """The objects the rules read, from a cluster or from manifests."""

    source: Literal["cluster", "manifests"]
    context: str | None = None
    """kubeconfig context (cluster source), or the manifest paths."""
    namespaces: list[str] = Field(default_factory=list)
    """Namespaces read; empty: every namespace."""
    objects: list[KubeObject] = Field(default_factory=list)
    listed_kinds: list[str] = Field(default_factory=list)
    """Kinds whose whole set was read: only for these can an absent object be called missing."""
    absent_groups: list[str] = Field(default_factory=list)
    """API groups not installed in the cluster (a CRD group that is absent is not an error)."""
    permission_gaps: list[PermissionGap] = Field(default_factory=list)

    @property
    def index(self) -> SnapshotIndex:
        """The lookup index of :attr:`objects` (built on first use)."""
        # Kept in the instance's dict beside the fields (not a field: not compared, copied or
        # dumped); rules ask for it hundreds of thousands of times on large inputs.
        index = self.__dict__.get("_index")
        objects = self.objects
        if index is None or not index.valid_for(objects):
            index = SnapshotIndex(objects)
            object.__setattr__(self, "_index", index)
        return cast(SnapshotIndex, index)

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, once per snapshot: for facts derived from all of its objects."""
        memo = self.index.memo
        if key not in memo:
            memo[key] = compute()
        return cast(T, memo[key])

    def of_kind(self, *kinds: str) -> Iterator[KubeObject]:
        """Objects of these kinds, in snapshot order within each kind."""
        for kind in kinds:
            yield from self.index.by_kind.get(kind, ())

    def in_namespace(self, kind: str, namespace: str | None) -> list[KubeObject]:
        """Objects of ``kind`` in ``namespace``."""
        return self.index.by_kind_ns.get((kind, namespace), [])

    def find(
        self, kind: str, namespace: str | None, name: str, group: str | None = None
    ) -> KubeObject | None:
        """The object of this kind and name (namespace ignored for cluster-scoped kinds).

        ``group`` tells apart kinds two APIs share: Istio's and Gateway API's ``Gateway``."""
        by_name = self.index.by_name
        for ns in (namespace, None) if namespace is not None else (None,):
            for obj in by_name.get((kind, ns, name), ()):
                if group is None or obj.group == group:
                    return obj
        return None

    def knows(self, kind: str) -> bool:
        """Whether every object of ``kind`` is in the snapshot (so absence means missing)."""
        return kind in self.listed_kinds

    def could_contain(self, kind: str, namespace: str | None) -> bool:
        """Whether an object of ``kind`` in ``namespace`` would be in the snapshot if it
        existed: live, the kind was listed in a namespace that was read; from manifests, the
        input defines objects of that kind in that namespace (a file with no Service in
        ``argocd`` says nothing about the Services of ``argocd``)."""
        if not self.knows(kind):
            return False
        if self.source == "cluster":
            return not self.namespaces or namespace is None or namespace in self.namespaces
        return bool(self.in_namespace(kind, namespace)) or (
            namespace is not None and bool(self.in_namespace(kind, None))
        )

    def counts(self) -> dict[str, int]:
        """Objects per kind."""
        return {kind: len(objs) for kind, objs in self.index.by_kind.items()}
