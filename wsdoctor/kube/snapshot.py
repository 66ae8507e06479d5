"""The ClusterSnapshot: the Kubernetes objects relevant to a diagnosis, as plain typed data.

The same snapshot is built from a live cluster (``wsdoctor.kube.client``) or from manifest
files (``wsdoctor.kube.manifests``); the rules read only this, never a client.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar, cast

from pydantic import Field, PrivateAttr

from wsdoctor.models import Model, Resource

T = TypeVar("T")
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
            spec=raw.get("spec") if isinstance(raw.get("spec"), dict) else {},
            status=raw.get("status") if isinstance(raw.get("status"), dict) else {},
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


class _Index:
    """Lookups over one list of objects (rebuilt if the snapshot's list is another one)."""

    def __init__(self, objects: list[KubeObject]) -> None:
        self.objects = objects
        self.size = len(objects)
        self.by_kind: dict[str, list[KubeObject]] = {}
        self.by_name: dict[tuple[str, str], list[KubeObject]] = {}
        self.position: dict[int, int] = {}
        for i, obj in enumerate(objects):
            self.by_kind.setdefault(obj.kind, []).append(obj)
            self.by_name.setdefault((obj.kind, obj.name), []).append(obj)
            self.position[id(obj)] = i
        self.derived: dict[tuple[str, ...], Any] = {}


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

    _index: _Index | None = PrivateAttr(default=None)

    def _indexed(self) -> _Index:
        """Objects by kind and by (kind, name), in snapshot order: rules look objects up per
        route, and a scan per lookup made lint of 2,000 Ingresses take a minute."""
        index = self._index
        if index is None or index.objects is not self.objects or index.size != len(self.objects):
            index = _Index(self.objects)
            self._index = index
        return index

    def derived(self, key: tuple[str, ...], compute: Callable[[], T]) -> T:
        """``compute()``, once per snapshot: for what rules derive from every object (the
        controller's workloads, its LoadBalancer Services) and ask for once per route."""
        cache = self._indexed().derived
        if key not in cache:
            cache[key] = compute()
        return cast(T, cache[key])

    def of_kind(self, *kinds: str) -> Iterator[KubeObject]:
        """Objects of these kinds, in snapshot order."""
        index = self._indexed()
        if len(kinds) == 1:
            yield from index.by_kind.get(kinds[0], ())
            return
        found = [obj for kind in dict.fromkeys(kinds) for obj in index.by_kind.get(kind, ())]
        yield from sorted(found, key=lambda obj: index.position[id(obj)])

    def find(
        self, kind: str, namespace: str | None, name: str, group: str | None = None
    ) -> KubeObject | None:
        """The object of this kind and name (namespace ignored for cluster-scoped kinds).

        ``group`` tells apart kinds two APIs share: Istio's and Gateway API's ``Gateway``."""
        for obj in self._indexed().by_name.get((kind, name), ()):
            if (obj.namespace == namespace or obj.namespace is None) and (
                group is None or obj.group == group
            ):
                return obj
        return None

    def knows(self, kind: str) -> bool:
        """Whether every object of ``kind`` is in the snapshot (so absence means missing)."""
        return kind in self.listed_kinds

    def counts(self) -> dict[str, int]:
        """Objects per kind."""
        counts: dict[str, int] = {}
        for obj in self.objects:
            counts[obj.kind] = counts.get(obj.kind, 0) + 1
        return counts
