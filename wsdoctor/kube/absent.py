"""An object is called missing only when the input could hold it; otherwise a note says
it was not in the input (lint sees the files it is given, not the cluster they go to).

Live, the cluster is the input: whatever was listed in a namespace read is complete. From
manifests, an object referenced by name is judged missing only when the files clearly mean
to define it: one of that kind with a near-identical name is there (a typo), or, for a
Service, the workload it would front is (the Service was forgotten). A reference to
something the project applies from elsewhere (a dashboard installed separately, a
prerequisite example) is a note, not a failure."""

from __future__ import annotations

from collections.abc import Iterable

from wsdoctor.codes import Code
from wsdoctor.kube.rulebase import CHECK_ID
from wsdoctor.kube.snapshot import ClusterSnapshot
from wsdoctor.models import EvidenceValue, Finding, Fix, Resource, Status

NOT_IN_INPUT = Code(
    "WSD-K8S-NOT-IN-INPUT", Status.INFO, "An object the configuration names is not in the input"
)
CODES = (NOT_IN_INPUT,)


def elsewhere(snap: ClusterSnapshot, kind: str, namespace: str | None, name: str) -> list[str]:
    """Namespaces other than ``namespace`` that hold an object of this kind and name."""
    return sorted(
        str(o.namespace)
        for o in snap.of_kind(kind)
        if o.name == name and o.namespace != namespace and o.namespace is not None
    )


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of
    two neighbouring characters, each one edit."""
    rows = [list(range(len(b) + 1))] + [[i] + [0] * len(b) for i in range(1, len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[-1][-1]


def nearest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``name`` is most likely a misspelling of: one edit away (two for names of
    eight characters or more), the closest first, ties by name; None when none is that close."""
    limit = 1 if len(name) < 8 else 2
    best = min(((edit_distance(name, c), c) for c in candidates if c != name), default=None)
    return best[1] if best is not None and best[0] <= limit else None


def similar(snap: ClusterSnapshot, kind: str, namespace: str | None, name: str) -> str | None:
    """An object of ``kind`` in ``namespace`` whose name is nearly ``name`` (a typo: one or
    two characters off, or a ``-suffix`` more or less). Names that only share a common part
    (``foo-gateway``, ``prod-gateway``) are different objects, not typos."""
    names = [o.name for o in snap.in_namespace(kind, namespace) if o.name != name]
    for other in names:
        if other.startswith(name + "-") or name.startswith(other + "-"):
            return other
    for other in sorted(names, key=lambda n: edit_distance(name, n)):
        distance = edit_distance(name, other)
        return other if distance <= min(2, max(len(name), len(other)) // 3) else None
    return None


def _fronted_workload(snap: ClusterSnapshot, namespace: str | None, name: str) -> bool:
    """A workload in ``namespace`` named like the Service, or labelled as that app."""
    for kind in ("Deployment", "StatefulSet", "DaemonSet"):
        for obj in snap.in_namespace(kind, namespace):
            labels = ((obj.spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            if name in (obj.name, labels.get("app"), labels.get("app.kubernetes.io/name")):
                return True
    return False


def missing(
    snap: ClusterSnapshot,
    code: Code,
    kind: str,
    namespace: str | None,
    name: str,
    *,
    detail: str,
    resource: Resource,
    fix: Fix,
    referrer: str,
    evidence: dict[str, EvidenceValue] | None = None,
) -> Finding:
    """``code`` ("X does not exist") when the input could hold X, else NOT_IN_INPUT naming
    who refers to it and, when X exists in another namespace, the ``-n`` that would place it.

    ``referrer`` is the object that names X (``Ingress chat/chat``)."""
    where = f"{namespace}/{name}" if namespace else name
    if snap.could_contain(kind, namespace):
        if snap.source == "cluster":
            return code.finding(CHECK_ID, detail, resource=resource, fix=fix, evidence=evidence)
        near = similar(snap, kind, namespace, name)
        if near is not None or (kind == "Service" and _fronted_workload(snap, namespace, name)):
            hint = f" (did you mean {near!r}?)" if near else ""
            extra = {"similar": near} if near else {}
            return code.finding(
                CHECK_ID,
                detail.rstrip(".") + hint + ".",
                resource=resource,
                fix=fix,
                evidence={**(evidence or {}), **extra},
            )
    others = elsewhere(snap, kind, namespace, name)
    if snap.source == "cluster":
        reason = f"namespace {namespace} was not read" if namespace else "it was not read"
    elif snap.could_contain(kind, namespace):
        reason = f"nothing in the input in {namespace} is named like it or would be behind it"
    else:
        reason = (
            f"the input has no {kind} in namespace {namespace}"
            if namespace
            else f"the input has no {kind}"
        )
    hint = ""
    if others and snap.source == "manifests":
        hint = (
            f" A {kind} {name} is in namespace {', '.join(others)}: if those manifests are "
            f"applied with -n {namespace}, lint them with -n {namespace} too."
        )
    return NOT_IN_INPUT.finding(
        CHECK_ID,
        f"{referrer} names {kind} {where}, which is not in the input ({reason}), so it was "
        f"not checked.{hint}",
        resource=resource,
        evidence={"kind": kind, "name": where, **(evidence or {})},
        fix=Fix(
            summary=f"Lint the manifests that define {kind} {where} together with this one"
            + (f" (with -n {namespace})" if others and namespace else "")
            + "."
        ),
    )
