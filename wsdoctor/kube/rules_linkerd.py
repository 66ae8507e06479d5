"""Rules for Linkerd policy: Server protocol, deprecated versions, default-deny Servers and
misplaced injection annotations."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.codes import Code
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, annotation_field
from wsdoctor.models import Finding, Fix, Status

PROXY_PROTOCOL = Code(
    "WSD-LINKERD-PROXY-PROTOCOL", Status.FAIL, "Linkerd Server proxyProtocol is not valid"
)
SERVER_DEPRECATED = Code(
    "WSD-LINKERD-SERVER-DEPRECATED", Status.WARN, "policy.linkerd.io/v1beta1 Server is deprecated"
)
SERVER_DENIES = Code(
    "WSD-LINKERD-SERVER-DENIES", Status.WARN, "Linkerd Server with no authorization denies traffic"
)
INJECT_ON_SERVICE = Code(
    "WSD-LINKERD-INJECT-ON-SERVICE", Status.WARN, "linkerd.io/inject on a Service has no effect"
)
CODES = (PROXY_PROTOCOL, SERVER_DEPRECATED, SERVER_DENIES, INJECT_ON_SERVICE)

PROTOCOLS = ("unknown", "HTTP/1", "HTTP/2", "gRPC", "opaque", "TLS")
GROUP = "policy.linkerd.io"


def _authorized(snap: ClusterSnapshot, server: KubeObject) -> bool:
    for obj in snap.objects:
        if obj.group != GROUP or obj.namespace != server.namespace:
            continue
        if obj.kind == "AuthorizationPolicy":
            ref = obj.spec.get("targetRef") or {}
            if ref.get("kind") == "Server" and ref.get("name") == server.name:
                return True
            if ref.get("kind") == "Namespace":
                return True
        if obj.kind == "ServerAuthorization":
            target = obj.spec.get("server") or {}
            if target.get("name") == server.name:
                return True
            labels = (target.get("selector") or {}).get("matchLabels") or {}
            if labels and all(server.labels.get(k) == v for k, v in labels.items()):
                return True
    return False


def rules_for_linkerd(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Linkerd configuration facts of KNOWLEDGE.md §3."""
    for obj in snap.objects:
        if obj.kind == "Service" and "linkerd.io/inject" in obj.annotations:
            yield INJECT_ON_SERVICE.finding(
                CHECK_ID,
                f"{obj.ref}: linkerd.io/inject is read from the Namespace or the pod template, "
                "never from a Service; the pods are not meshed by it.",
                resource=obj.resource(annotation_field("linkerd.io/inject")),
                fix=Fix(
                    summary="Put the annotation on the pod template (or the namespace).",
                    snippet="spec:\n  template:\n    metadata:\n      annotations:\n        "
                    "linkerd.io/inject: enabled\n",
                    language="yaml",
                ),
            )
        if obj.group != GROUP or obj.kind != "Server":
            continue
        if obj.api_version.endswith("/v1beta1"):
            yield SERVER_DEPRECATED.finding(
                CHECK_ID,
                f"{obj.ref} uses {obj.api_version}; use policy.linkerd.io/v1beta3.",
                resource=obj.resource("apiVersion"),
                fix=Fix(
                    summary="Change apiVersion to policy.linkerd.io/v1beta3.",
                    snippet="apiVersion: policy.linkerd.io/v1beta3\n",
                    language="yaml",
                ),
            )
        protocol = obj.spec.get("proxyProtocol")
        if protocol is not None and protocol not in PROTOCOLS:
            yield PROXY_PROTOCOL.finding(
                CHECK_ID,
                f"{obj.ref}: proxyProtocol {protocol!r} is not one of {', '.join(PROTOCOLS)}; "
                "the Server is rejected.",
                resource=obj.resource("spec.proxyProtocol"),
                evidence={"proxyProtocol": str(protocol)},
                fix=Fix(
                    summary="Use HTTP/1 for WebSocket (or leave it unset: unknown, detected).",
                    snippet="spec:\n  proxyProtocol: HTTP/1\n",
                    language="yaml",
                ),
            )
        if not _authorized(snap, obj):
            yield SERVER_DENIES.finding(
                CHECK_ID,
                f"{obj.ref} covers port {obj.spec.get('port')} and no AuthorizationPolicy or "
                "ServerAuthorization allows anyone: every connection to it, the ingress "
                "controller's included, is refused.",
                resource=obj.resource("spec.port"),
                fix=Fix(
                    summary="Authorize the ingress controller's identity for the Server.",
                    snippet="apiVersion: policy.linkerd.io/v1alpha1\nkind: AuthorizationPolicy\n"
                    f"metadata:\n  name: {obj.name}-ingress\n  namespace: {obj.namespace}\nspec:\n"
                    f"  targetRef:\n    group: policy.linkerd.io\n    kind: Server\n    name: "
                    f"{obj.name}\n"
                    "  requiredAuthenticationRefs:\n  - name: ingress\n    kind: "
                    "MeshTLSAuthentication\n"
                    "    group: policy.linkerd.io\n",
                    language="yaml",
                ),
            )
