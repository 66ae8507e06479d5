"""Session affinity as each controller configures it (KNOWLEDGE.md §4): whether a route is
sticky, and the cookie name to expect."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from wsdoctor.codes import Code
from wsdoctor.kube import backends, discover
from wsdoctor.kube.discover import RouteRule
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject
from wsdoctor.kube.timeouts import destination_rules_for
from wsdoctor.kube.websocket import websocket_scope
from wsdoctor.models import Finding, Fix, Model, Resource, Status

NO_AFFINITY = Code(
    "WSD-K8S-NO-AFFINITY", Status.INFO, "No session affinity across several replicas"
)
CODES = (NO_AFFINITY,)


class AffinityConfig(Model):
    """Session affinity configured on a route."""

    controller: str
    cookie: str | None
    """Expected cookie name (None: generated, e.g. Traefik's ``_<hash>``, or no cookie)."""
    resource: Resource
    method: Literal["cookie", "hash"] = "cookie"
    """``cookie``: a sticky cookie; ``hash``: consistent hashing of a request key (ingress-nginx
    ``upstream-hash-by``, Istio ``consistentHash`` on a header or the source IP), no cookie."""


def configured_affinity(snap: ClusterSnapshot, route: RouteRule) -> AffinityConfig | None:
    """The cookie affinity that applies to ``route``, if any."""
    obj = snap.find(route.kind, route.namespace, route.name)
    if obj is None:
        return None
    a = obj.annotations
    if (
        route.controller == "ingress-nginx"
        and a.get("nginx.ingress.kubernetes.io/affinity") == "cookie"
    ):
        key = "nginx.ingress.kubernetes.io/session-cookie-name"
        return AffinityConfig(
            controller=route.controller,
            cookie=a.get(key, "INGRESSCOOKIE"),
            resource=obj.resource('metadata.annotations["nginx.ingress.kubernetes.io/affinity"]'),
        )
    hash_by = "nginx.ingress.kubernetes.io/upstream-hash-by"
    if route.controller == "ingress-nginx" and a.get(hash_by):
        return AffinityConfig(
            controller=route.controller,
            cookie=None,
            method="hash",
            resource=obj.resource(f'metadata.annotations["{hash_by}"]'),
        )
    if (
        route.controller == "haproxy-ingress"
        and a.get("haproxy-ingress.github.io/affinity") == "cookie"
    ):
        return AffinityConfig(
            controller=route.controller,
            cookie=a.get("haproxy-ingress.github.io/session-cookie-name", "INGRESSCOOKIE"),
            resource=obj.resource('metadata.annotations["haproxy-ingress.github.io/affinity"]'),
        )
    if obj.kind == "IngressRoute":
        # Traefik's CRD provider reads stickiness from the IngressRoute (or the TraefikService
        # it names), never from Service annotations: those belong to Ingress objects.
        return ingressroute_sticky(snap, obj, route)
    for backend in route.backends:
        svc = snap.find("Service", backend.namespace, backend.service)
        if svc is None:
            continue
        if route.controller == "traefik":
            key = "traefik.ingress.kubernetes.io/service.sticky.cookie"
            if svc.annotations.get(key) == "true":
                return AffinityConfig(
                    controller="traefik",
                    cookie=svc.annotations.get(key + ".name"),
                    resource=svc.resource(f'metadata.annotations["{key}"]'),
                )
        if route.controller == "haproxytech":
            key = "haproxy.org/cookie-persistence"
            if svc.annotations.get(key):
                return AffinityConfig(
                    controller="haproxytech",
                    cookie=svc.annotations[key],
                    resource=svc.resource(f'metadata.annotations["{key}"]'),
                )
        for dr in destination_rules_for(snap, backend.namespace, backend.service):
            lb = (dr.spec.get("trafficPolicy") or {}).get("loadBalancer") or {}
            hashing = lb.get("consistentHash") or {}
            cookie = hashing.get("httpCookie")
            if cookie:
                return AffinityConfig(
                    controller="istio",
                    cookie=cookie.get("name"),
                    resource=dr.resource(
                        "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie"
                    ),
                )
            if hashing:
                return AffinityConfig(
                    controller="istio",
                    cookie=None,
                    method="hash",
                    resource=dr.resource("spec.trafficPolicy.loadBalancer.consistentHash"),
                )
    return None


def ingressroute_sticky(
    snap: ClusterSnapshot, obj: KubeObject, route: RouteRule
) -> AffinityConfig | None:
    """The sticky cookie of the IngressRoute rule ``route``: on one of its services, or on the
    weighted TraefikService it names."""
    index = int(route.field.rsplit("[", 1)[1].rstrip("]")) if "[" in route.field else 0
    rules = obj.spec.get("routes") or []
    services = (rules[index] if index < len(rules) else {}).get("services") or []
    for i, svc in enumerate(services):
        field = f"{route.field}.services[{i}]"
        cookie = (svc.get("sticky") or {}).get("cookie") if isinstance(svc, dict) else None
        target: KubeObject | None = obj
        if cookie is None and isinstance(svc, dict) and svc.get("kind") == "TraefikService":
            target = snap.find("TraefikService", str(svc.get("namespace") or obj.namespace),
                               str(svc.get("name")))
            weighted = (target.spec.get("weighted") or {}) if target is not None else {}
            cookie = (weighted.get("sticky") or {}).get("cookie")
            field = "spec.weighted.sticky.cookie"
            # A child's cookie pins the pod; the weighted one only pins the child service.
            for j, child in enumerate(weighted.get("services") or []):
                child_cookie = ((child.get("sticky") or {}).get("cookie")
                                if isinstance(child, dict) else None)
                if child_cookie is not None:
                    cookie, field = child_cookie, f"spec.weighted.services[{j}].sticky.cookie"
                    break
        elif cookie is not None:
            field += ".sticky.cookie"
        if cookie is not None and target is not None:
            return AffinityConfig(controller="traefik", cookie=(cookie or {}).get("name"),
                                  resource=target.resource(field))
    return None


def rules_for_affinity(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Information when several replicas serve a WebSocket route with no affinity
    (socket.io and SockJS fallbacks need it)."""
    scope = websocket_scope(snap, options)
    seen: set[tuple[str, str, str]] = set()
    for route in discover.route_rules(snap):
        key = (route.kind, route.namespace, route.name)
        if key in seen or not route.backends or not scope.rule(route):
            continue
        seen.add(key)
        backend = route.backends[0]
        svc = snap.find("Service", backend.namespace, backend.service)
        if svc is None:
            continue
        replicas = sum(
            int(o.spec.get("replicas", 1))
            for o, _, _ in backends.selected_templates(
                snap, svc.namespace, svc.spec.get("selector") or {}
            )
            if o.kind in ("Deployment", "StatefulSet")
        )
        if replicas > 1 and configured_affinity(snap, route) is None:
            obj = snap.find(*key)
            assert obj is not None
            yield NO_AFFINITY.finding(
                CHECK_ID,
                f"{obj.ref} spreads connections over {replicas} replicas of {svc.ref} without "
                "affinity: fine for plain WebSocket, but socket.io/SockJS long-polling fallbacks "
                "fail with 'Session ID unknown'.",
                resource=obj.resource(route.field),
                evidence={"replicas": replicas, "controller": route.controller},
                fix=Fix(
                    summary="If the protocol needs stickiness, enable cookie affinity for "
                    f"{route.controller}.",
                    snippet=AFFINITY_SNIPPETS.get(
                        "traefik-crd" if obj.kind == "IngressRoute" else route.controller),
                    language="yaml",
                ),
            )


AFFINITY_SNIPPETS = {
    "ingress-nginx": "metadata:\n  annotations:\n    nginx.ingress.kubernetes.io/affinity: "
    "cookie\n",
    "traefik": "# on the Service\nmetadata:\n  annotations:\n"
    '    traefik.ingress.kubernetes.io/service.sticky.cookie: "true"\n',
    "traefik-crd": "# IngressRoute (Service annotations do not apply to IngressRoutes)\n"
    "spec:\n  routes:\n    - services:\n        - name: <service>\n          port: <port>\n"
    "          sticky:\n            cookie:\n              secure: true\n"
    "              httpOnly: true\n",
    "haproxytech": "# on the Service\nmetadata:\n  annotations:\n    "
    "haproxy.org/cookie-persistence: SERVERID\n",
    "haproxy-ingress": "metadata:\n  annotations:\n    haproxy-ingress.github.io/affinity: "
    "cookie\n",
    "istio": "# DestinationRule\nspec:\n  trafficPolicy:\n    loadBalancer:\n      "
    "consistentHash:\n"
    "        httpCookie:\n          name: WSD-AFFINITY\n          ttl: 0s\n",
}

#: Where each controller takes its affinity from, and how it says it (for the fix's summary).
_AFFINITY_WHERE = {
    "ingress-nginx": ("the Ingress", "ingress-nginx cookie affinity (annotations)"),
    "traefik": ("the backend Service", "Traefik reads stickiness for an Ingress from the "
                "annotations of the Service it sends to (traefik.ingress.kubernetes.io/"
                "service.sticky.cookie)"),
    "traefik-crd": ("the IngressRoute", "Traefik's sticky cookie on the IngressRoute's service "
                    "(Service annotations do not apply to IngressRoutes)"),
    "haproxytech": ("the backend Service", "HAProxy (haproxytech) cookie-persistence, read "
                    "from the Service or the ConfigMap, not from the Ingress"),
    "haproxy-ingress": ("the Ingress", "haproxy-ingress cookie affinity (annotations)"),
    "istio": ("a DestinationRule for the Service", "an Istio DestinationRule "
              "consistentHash.httpCookie (a ttl makes Envoy set the cookie)"),
}


def controller_affinity_fix(
    controller: str, path: str, route: str | None = None, service: str | None = None
) -> Fix | None:
    """Cookie affinity for the controller that serves the target, on the object it reads it
    from (named when the cluster was read); None for a controller without a known recipe."""
    from wsdoctor.knowledge import INGRESS_NGINX_AFFINITY_FIX

    where = _AFFINITY_WHERE.get(controller)
    if where is None:
        return None
    place, how = where
    target = service if place.endswith("Service") else route
    named = f" ({target})" if target else ""
    snippet = (INGRESS_NGINX_AFFINITY_FIX.format(path=path) if controller == "ingress-nginx"
               else AFFINITY_SNIPPETS[controller])
    if target:
        snippet = f"# {target}\n" + snippet
    return Fix(summary=f"Turn on cookie affinity on {place}{named}: {how}.", snippet=snippet,
               language="yaml")
