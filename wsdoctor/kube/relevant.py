"""The part of a cluster that serves one host and path: the matching routes, their
controllers and configuration, backend Services, endpoints and workloads, and the policy
objects around them. Live rules judge only this part."""

from __future__ import annotations

from typing import Any

from wsdoctor.kube import backends, discover
from wsdoctor.kube.discover import GATEWAY_GROUP, ISTIO_GROUP, RouteRule
from wsdoctor.kube.istio_mesh import gateway_workloads
from wsdoctor.kube.nginx_paths import regex_sources
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject
from wsdoctor.kube.timeouts import destination_rules_for

_CONTROLLER_KINDS = ("IngressClass", "GatewayClass", "ConfigMap", "BackendConfig")


def relevant_snapshot(
    snap: ClusterSnapshot, host: str, path: str
) -> tuple[ClusterSnapshot, list[RouteRule]]:
    """The sub-snapshot for ``host`` and ``path`` and the matching route rules (best first)."""
    routes = discover.routes_for(snap, host, path)
    keep: list[KubeObject] = []
    seen: set[int] = set()

    def add(obj: KubeObject | None) -> None:
        if obj is not None and id(obj) not in seen:
            seen.add(id(obj))
            keep.append(obj)

    namespaces: set[str] = set()
    controllers = {r.controller for r in routes}
    for route in routes:
        obj = snap.find(route.kind, route.namespace, route.name)
        add(obj)
        for source in regex_sources(snap, discover.route_rules(snap), route):
            add(snap.find(source.kind, source.namespace, source.name))
        namespaces.add(route.namespace)
        if obj is not None and obj.kind == "HTTPRoute":
            for parent in obj.spec.get("parentRefs") or []:
                gw = snap.find(
                    "Gateway",
                    parent.get("namespace") or route.namespace,
                    str(parent.get("name")),
                    group=GATEWAY_GROUP,
                )
                add(gw)
                if gw is not None:
                    add(snap.find("GatewayClass", None, str(gw.spec.get("gatewayClassName"))))
        if obj is not None and obj.kind == "VirtualService":
            for name in obj.spec.get("gateways") or []:
                ns, _, gw_name = str(name).rpartition("/")
                add(snap.find("Gateway", ns or route.namespace, gw_name, group=ISTIO_GROUP))
        if obj is not None and obj.kind == "IngressRoute":
            for r in obj.spec.get("routes") or []:
                for mw in r.get("middlewares") or []:
                    add(
                        snap.find(
                            "Middleware",
                            str(mw.get("namespace") or route.namespace),
                            str(mw.get("name")),
                        )
                    )
                for ts in r.get("services") or []:
                    if isinstance(ts, dict) and ts.get("kind") == "TraefikService":
                        ns = str(ts.get("namespace") or route.namespace)
                        add(snap.find("TraefikService", ns, str(ts.get("name"))))
        if obj is not None and obj.kind == "Ingress":
            refs = obj.annotations.get("traefik.ingress.kubernetes.io/router.middlewares", "")
            wanted = {r.strip().partition("@")[0] for r in refs.split(",") if r.strip()}
            for mw in snap.of_kind("Middleware") if wanted else ():
                if f"{mw.namespace}-{mw.name}" in wanted:
                    add(mw)
        if obj is not None and obj.kind == "VirtualService":
            for name in obj.spec.get("gateways") or []:
                ns, _, gw_name = str(name).rpartition("/")
                gw = snap.find("Gateway", ns or route.namespace, gw_name, group=ISTIO_GROUP)
                for owner in gateway_workloads(snap, gw) if gw is not None else ():
                    add(owner)
        if route.class_name:
            add(snap.find("IngressClass", None, route.class_name))
        for backend in route.backends:
            namespaces.add(backend.namespace)
            svc = snap.find("Service", backend.namespace, backend.service)
            add(svc)
            for slice_ in backends.endpoint_slices(snap, backend.namespace, backend.service):
                add(slice_)
            for dr in destination_rules_for(snap, backend.namespace, backend.service):
                add(dr)
            if svc is None:
                continue
            for key in ("cloud.google.com/backend-config", "beta.cloud.google.com/backend-config"):
                if key in svc.annotations:
                    for bc in snap.of_kind("BackendConfig"):
                        if bc.namespace == svc.namespace and bc.name in svc.annotations[key]:
                            add(bc)
            templates = backends.selected_templates(
                snap, svc.namespace, svc.spec.get("selector") or {}
            )
            for owner, tpl, _ in templates:
                add(owner)
                for other in _around(snap, owner, tpl):
                    add(other)
    for controller in controllers:
        for owner in backends.controller_workloads(snap, controller):
            add(owner)
        for ns, name in backends.controller_configmaps(snap, controller):
            add(snap.find("ConfigMap", ns, name))
        for svc in backends.load_balancer_services(snap, controller):
            add(svc)
    for ns in namespaces:
        add(snap.find("Namespace", None, ns))
    subset = snap.model_copy(update={"objects": keep})
    return subset, routes


def _around(snap: ClusterSnapshot, owner: KubeObject, tpl: dict[str, Any]) -> list[KubeObject]:
    """The objects that act on a backend workload: its HPA, PodDisruptionBudgets,
    NetworkPolicies, Linkerd Servers and the policy that authorizes them."""
    labels = (tpl.get("metadata") or {}).get("labels") or {}
    ns = owner.namespace
    found = [
        h
        for h in snap.in_namespace("HorizontalPodAutoscaler", ns)
        if (h.spec.get("scaleTargetRef") or {}).get("name") == owner.name
    ]
    found += snap.in_namespace("PodDisruptionBudget", ns)
    found += [
        p
        for p in snap.in_namespace("NetworkPolicy", ns)
        if backends.selector_matches(p.spec.get("podSelector") or {}, labels)
    ]
    servers = [
        s
        for s in snap.in_namespace("Server", ns)
        if backends.selector_matches(s.spec.get("podSelector") or {}, labels)
    ]
    found += servers
    if servers:
        found += snap.in_namespace("AuthorizationPolicy", ns)
        found += snap.in_namespace("ServerAuthorization", ns)
        found += snap.in_namespace("HTTPRoute", ns)
    return found
