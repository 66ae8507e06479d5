""" "X does not exist" only when the input could hold X: otherwise a note that X was not in
the input (lint sees the files it is given, not the cluster they are applied to)."""

from __future__ import annotations

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
        return code.finding(CHECK_ID, detail, resource=resource, fix=fix, evidence=evidence)
    others = elsewhere(snap, kind, namespace, name)
    if snap.source == "cluster":
        reason = f"namespace {namespace} was not read" if namespace else "it was not read"
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
