"""Annotations a controller does not know that are one or two letters from one it does
(``server-snippets``, ``proxy-read-timeouts``): the controller ignores them silently, so the
setting the user meant never applies. Judged against the controllers' own lists of
annotation names (:mod:`nginx_facts`, :mod:`haproxy_facts`); names a controller dropped are
not typos and get no suggestion."""

from __future__ import annotations

import json
from collections.abc import Iterator

from wsdoctor.codes import Code
from wsdoctor.kube.absent import nearest
from wsdoctor.kube.haproxy_facts import HAPROXY_INGRESS, HAPROXYTECH
from wsdoctor.kube.nginx_facts import ANNOTATIONS, REMOVED_ANNOTATIONS
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, annotation_field
from wsdoctor.models import Finding, Fix, Status

ANNOTATION_TYPO = Code(
    "WSD-K8S-ANNOTATION-TYPO", Status.WARN, "Unknown annotation, close to one the controller reads"
)
CODES = (ANNOTATION_TYPO,)

#: Prefix → (controller, the names it reads after the prefix, names it dropped).
_KNOWN: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {
    "nginx.ingress.kubernetes.io/": ("ingress-nginx", ANNOTATIONS, REMOVED_ANNOTATIONS),
    "haproxy.org/": ("haproxytech", frozenset(HAPROXYTECH), frozenset()),
    "haproxy.com/": ("haproxytech", frozenset(HAPROXYTECH), frozenset()),
    "haproxy-ingress.github.io/": ("haproxy-ingress", frozenset(HAPROXY_INGRESS), frozenset()),
}
#: Where each controller reads its annotations from.
_KINDS = {"ingress-nginx": ("Ingress",), "haproxytech": ("Ingress", "Service"),
          "haproxy-ingress": ("Ingress", "Service")}


def rules_for_annotation_typos(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Every Ingress and Service annotation in a controller's prefix that it does not read and
    that is nearly one it does (whatever the route carries: a typo breaks any protocol)."""
    for obj in snap.of_kind("Ingress", "Service"):
        for name, value in sorted(obj.annotations.items()):
            finding = _typo(obj, name, value)
            if finding is not None:
                yield finding


def _typo(obj: KubeObject, name: str, value: str) -> Finding | None:
    prefix = next((p for p in _KNOWN if name.startswith(p)), None)
    if prefix is None:
        return None
    controller, known, removed = _KNOWN[prefix]
    key = name.removeprefix(prefix)
    if obj.kind not in _KINDS[controller] or key in known or key in removed:
        return None
    meant = nearest(key, known)
    if meant is None:
        return None
    also = (" (nginx.org/server-snippets is NGINX Inc's controller's name for it)"
            if prefix.startswith("nginx.ingress") and key == "server-snippets" else "")
    return ANNOTATION_TYPO.finding(
        CHECK_ID,
        f"{obj.ref}: {controller} reads no annotation {name}; it ignores it silently. "
        f"Did you mean {prefix}{meant}?{also}",
        title=f"Unknown annotation {name}: did you mean {meant}?",
        resource=obj.resource(annotation_field(name)),
        evidence={"annotation": name, "controller": controller, "suggestion": prefix + meant},
        fix=_fix(prefix, meant, value),
    )


def _fix(prefix: str, meant: str, value: str) -> Fix:
    """Rename it; for an ingress-nginx snippet, removing it is the usual fix: the snippet has
    never run, ingress-nginx passes WebSocket upgrades by itself, and snippets are refused
    unless the controller allows them (KNOWLEDGE.md §3)."""
    if prefix.startswith("nginx.ingress") and meant.endswith("snippet"):
        return Fix(summary=f"Remove the annotation: the snippet has never run, ingress-nginx "
                   "forwards the Upgrade and Connection headers by itself, and snippet "
                   "annotations are refused unless the controller sets allow-snippet-"
                   f"annotations. Rename it to {prefix}{meant} only if the snippet is needed.")
    return Fix(
        summary=f"Rename the annotation to {prefix}{meant}.",
        snippet=f"metadata:\n  annotations:\n    {prefix}{meant}: {_yaml_value(value)}",
        language="yaml",
    )


def _yaml_value(value: str) -> str:
    """A one-line value quoted, a multi-line one (a snippet) as a block; ends in a newline."""
    if "\n" in value:
        return "|\n" + "".join(f"      {line}\n" for line in value.rstrip("\n").split("\n"))
    return json.dumps(value) + "\n"
