"""Rules for Linkerd policy where the mesh applies: Server protocol and versions, Servers that
deny traffic nothing authorizes (AuthorizationPolicies on the Server, on HTTPRoutes attached
to it, or on the namespace; ``accessPolicy`` of v1beta3 Servers), ServerAuthorization
superseded by AuthorizationPolicy, and misplaced injection annotations.

Source: linkerd/website linkerd.io/content/2-edge/reference/authorization-policy.md at
commit 93f001753363bba09eafd81e290512f89f4697ed, and the Server CRD of linkerd/linkerd2
charts/linkerd-crds/templates/policy/server.yaml at 111fc98d7bef30c5a2e95502d8b0738aebfefab5
(v1alpha1 and v1beta1 deprecated; ``accessPolicy``, default ``deny``, only in v1beta3)."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.codes import Code
from wsdoctor.kube import backends
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
SERVER_AUTHORIZATION = Code(
    "WSD-LINKERD-SERVERAUTHORIZATION",
    Status.INFO,
    "ServerAuthorization is superseded by AuthorizationPolicy",
)
CODES = (PROXY_PROTOCOL, SERVER_DEPRECATED, SERVER_DENIES, INJECT_ON_SERVICE, SERVER_AUTHORIZATION)

PROTOCOLS = ("unknown", "HTTP/1", "HTTP/2", "gRPC", "opaque", "TLS")
GROUP = "policy.linkerd.io"
INJECT = "linkerd.io/inject"
#: Groups of HTTPRoutes Linkerd attaches to a Server (its own and Gateway API's).
ROUTE_GROUPS = (GROUP, "gateway.networking.k8s.io")


def _meshed(snap: ClusterSnapshot, server: KubeObject) -> bool | None:
    """Whether the Server's pods run the Linkerd proxy: the inject annotation on their pod
    template, else on their namespace. None when neither is in the input."""
    ns = snap.find("Namespace", None, server.namespace or "default")
    ns_choice = ns.annotations.get(INJECT) if ns is not None else None
    selector = server.spec.get("podSelector")
    templates = (
        [t for t in backends.pod_templates(snap) if t[0].namespace == server.namespace]
        if selector == {}
        else backends.selected_templates(snap, server.namespace, selector or {})
    )
    if not templates:
        return None if ns_choice is None else ns_choice in ("enabled", "ingress")
    states: set[bool | None] = set()
    for _, tpl, _ in templates:
        choice = ((tpl.get("metadata") or {}).get("annotations") or {}).get(INJECT, ns_choice)
        if choice is None and ns is None:
            states.add(None)
        else:
            states.add(choice in ("enabled", "ingress"))
    return True if True in states else (None if None in states else False)


def _route_parents(route: KubeObject) -> set[str]:
    """Names of the Servers an HTTPRoute attaches to."""
    return {
        str(p.get("name"))
        for p in route.spec.get("parentRefs") or []
        if p.get("kind") == "Server" and p.get("group", GROUP) == GROUP
    }


def _authorizations(snap: ClusterSnapshot, server: KubeObject) -> list[KubeObject]:
    """The AuthorizationPolicies and ServerAuthorizations that allow traffic to the Server."""
    routes = {
        r.name
        for r in snap.in_namespace("HTTPRoute", server.namespace)
        if r.group in ROUTE_GROUPS and server.name in _route_parents(r)
    }
    found = []
    for obj in snap.in_namespace("AuthorizationPolicy", server.namespace):
        if obj.group != GROUP:
            continue
        ref = obj.spec.get("targetRef") or {}
        kind, name = ref.get("kind"), ref.get("name")
        if (
            (kind == "Server" and name == server.name)
            or (kind == "HTTPRoute" and name in routes)
            or (kind == "Namespace" and name in (None, server.namespace))
        ):
            found.append(obj)
    for obj in snap.in_namespace("ServerAuthorization", server.namespace):
        target = obj.spec.get("server") or {}
        labels = (target.get("selector") or {}).get("matchLabels") or {}
        if target.get("name") == server.name or (
            labels and all(server.labels.get(k) == v for k, v in labels.items())
        ):
            found.append(obj)
    return found


def rules_for_linkerd(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Linkerd configuration facts of KNOWLEDGE.md §3, where the mesh applies."""
    for obj in snap.of_kind("Service"):
        if INJECT in obj.annotations:
            yield INJECT_ON_SERVICE.finding(
                CHECK_ID,
                f"{obj.ref}: linkerd.io/inject is read from the Namespace or the pod template, "
                "never from a Service; the pods are not meshed by it.",
                resource=obj.resource(annotation_field(INJECT)),
                fix=Fix(
                    summary="Put the annotation on the pod template (or the namespace).",
                    snippet="spec:\n  template:\n    metadata:\n      annotations:\n        "
                    "linkerd.io/inject: enabled\n",
                    language="yaml",
                ),
            )
    for obj in snap.of_kind("ServerAuthorization"):
        if obj.group == GROUP:
            yield SERVER_AUTHORIZATION.finding(
                CHECK_ID,
                f"{obj.ref}: Linkerd prefers AuthorizationPolicy, which can also target "
                "HTTPRoutes; ServerAuthorization is to be deprecated.",
                resource=obj.resource("kind"),
                fix=Fix(
                    summary="Replace it with an AuthorizationPolicy targeting the Server and a "
                    "MeshTLSAuthentication (or NetworkAuthentication) for its clients."
                ),
            )
    for server in snap.of_kind("Server"):
        if server.group == GROUP:
            yield from _server(snap, server)


def _server(snap: ClusterSnapshot, obj: KubeObject) -> Iterator[Finding]:
    version = obj.api_version.rpartition("/")[2]
    if version in ("v1alpha1", "v1beta1"):
        yield SERVER_DEPRECATED.finding(
            CHECK_ID,
            f"{obj.ref} uses {obj.api_version}, deprecated; use policy.linkerd.io/v1beta3.",
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
    if _meshed(snap, obj) is False:
        return
    access = obj.spec.get("accessPolicy")
    read = access if version == "v1beta3" else None
    if (read or "deny") != "deny" or _authorizations(snap, obj):
        return
    dropped = (
        f" (accessPolicy {access!r} is only read from policy.linkerd.io/v1beta3 Servers; on "
        f"{version} it is dropped)"
        if access is not None and read is None
        else ""
    )
    yield SERVER_DENIES.finding(
        CHECK_ID,
        f"{obj.ref} covers port {obj.spec.get('port')} and nothing authorizes it: no "
        "AuthorizationPolicy targets it, an HTTPRoute attached to it or its namespace, and no "
        f"ServerAuthorization names it{dropped}. Every connection to it, the ingress "
        "controller's included, is refused.",
        resource=obj.resource("spec.accessPolicy" if dropped else "spec.port"),
        fix=Fix(
            summary="Authorize the ingress controller's identity for the Server (or set "
            "accessPolicy on a v1beta3 Server).",
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
