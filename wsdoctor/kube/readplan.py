"""What the cluster check reads for one host: the kinds listed before the routes are known
and those read per namespace after, which route objects could serve the host (the others
are dropped page by page), which workloads run an ingress controller, and which
namespaces the matching routes involve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wsdoctor.kube import backends, discover
from wsdoctor.kube.kinds import KINDS, Kind
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject

#: Read whole (cluster-wide, or ``-n``) before the routes are known.
ROUTING = (
    "ingresses.networking.k8s.io",
    "ingressclasses.networking.k8s.io",
    "httproutes.gateway.networking.k8s.io",
    "gateways.gateway.networking.k8s.io",
    "gatewayclasses.gateway.networking.k8s.io",
    "ingressroutes.traefik.io",
    "ingressroutes.traefik.containo.us",
    "virtualservices.networking.istio.io",
    "gateways.networking.istio.io",
    "destinationrules.networking.istio.io",
    "namespaces",
)
#: Read whole in each namespace the matched routes involve.
PER_NAMESPACE = (
    "services",
    "deployments.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "horizontalpodautoscalers.autoscaling",
    "poddisruptionbudgets.policy",
    "networkpolicies.networking.k8s.io",
    "middlewares.traefik.io",
    "traefikservices.traefik.io",
    "middlewares.traefik.containo.us",
    "servers.policy.linkerd.io",
    "authorizationpolicies.policy.linkerd.io",
    "serverauthorizations.policy.linkerd.io",
    "backendconfigs.cloud.google.com",
)
WORKLOADS = ("deployments.apps", "daemonsets.apps", "statefulsets.apps")
_BY_RESOURCE = {k.resource: k for k in KINDS}


def kind_of(resource: str) -> Kind:
    return _BY_RESOURCE[resource]


def may_serve(host: str) -> Callable[[KubeObject], bool]:
    """Whether a route object could serve ``host``: kept while listing, so memory holds the
    candidates, not every route of a large cluster. Anything not clearly for another host
    is kept (a rule without a host, a regular expression, a shape not understood)."""

    def hosts_match(hosts: Any) -> bool:
        if not isinstance(hosts, list) or not hosts:
            return True
        return any(
            not isinstance(h, str) or "." not in h or discover.host_matches(h, host) for h in hosts
        )

    def keep(obj: KubeObject) -> bool:
        spec = obj.spec
        if obj.kind == "Ingress":
            rules = spec.get("rules")
            if spec.get("defaultBackend") or not isinstance(rules, list):
                return True
            return not rules or any(
                not isinstance(r, dict) or hosts_match([r["host"]] if r.get("host") else [])
                for r in rules
            )
        if obj.kind == "HTTPRoute":
            return hosts_match(spec.get("hostnames"))
        if obj.kind == "VirtualService":
            return hosts_match(spec.get("hosts"))
        if obj.kind == "IngressRoute":
            routes = spec.get("routes")
            if not isinstance(routes, list):
                return True
            for route in routes:
                match = str(route.get("match") or "") if isinstance(route, dict) else ""
                if "Host" not in match or "HostRegexp" in match or host.lower() in match.lower():
                    return True
            return False
        return True

    return keep


def is_controller(obj: KubeObject) -> bool:
    """Whether a workload runs an ingress controller image."""
    template = backends.template_of(obj)
    labels = (template.get("metadata") or {}).get("labels") or {}
    return any(
        backends.image_controller(str(c.get("image", "")), labels) is not None
        for c in (template.get("spec") or {}).get("containers") or []
        if isinstance(c, dict)
    )


def route_namespaces(snap: ClusterSnapshot, routes: list[discover.RouteRule]) -> set[str]:
    """Namespaces of the routes, their backends, Traefik middlewares and parent Gateways."""
    found: set[str] = set()
    for route in routes:
        found.add(route.namespace)
        found.update(b.namespace for b in route.backends)
        obj = snap.find(route.kind, route.namespace, route.name)
        if obj is None:
            continue
        for r in obj.spec.get("routes") or [] if obj.kind == "IngressRoute" else []:
            for mw in (r.get("middlewares") or []) if isinstance(r, dict) else []:
                if isinstance(mw, dict):
                    found.add(str(mw.get("namespace") or route.namespace))
        for parent in obj.spec.get("parentRefs") or [] if obj.kind == "HTTPRoute" else []:
            if isinstance(parent, dict):
                found.add(str(parent.get("namespace") or route.namespace))
    return found
