"""What the fake API serves: resource types, RBAC rules and ``Status`` bodies."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives in the API and whether it is namespaced."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``ingresses.networking.k8s.io`` (``pods`` for the core group)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _r(gv: str, kind: str, plural: str, namespaced: bool = True) -> ResourceType:
    group, _, version = gv.rpartition("/")
    return ResourceType(group, version, kind, plural, namespaced)


BUILTIN = (
    _r("v1", "Namespace", "namespaces", False),
    _r("v1", "Node", "nodes", False),
    _r("v1", "Pod", "pods"),
    _r("v1", "Service", "services"),
    _r("v1", "ConfigMap", "configmaps"),
    _r("v1", "Secret", "secrets"),
    _r("v1", "Endpoints", "endpoints"),
    _r("v1", "Event", "events"),
    _r("apps/v1", "Deployment", "deployments"),
    _r("apps/v1", "StatefulSet", "statefulsets"),
    _r("apps/v1", "DaemonSet", "daemonsets"),
    _r("apps/v1", "ReplicaSet", "replicasets"),
    _r("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
    _r("networking.k8s.io/v1", "Ingress", "ingresses"),
    _r("networking.k8s.io/v1", "IngressClass", "ingressclasses", False),
    _r("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    _r("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
    _r("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
)
CRDS = {
    "gateway": (
        _r("gateway.networking.k8s.io/v1", "Gateway", "gateways"),
        _r("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes"),
        _r("gateway.networking.k8s.io/v1", "GatewayClass", "gatewayclasses", False),
    ),
    "traefik": (
        _r("traefik.io/v1alpha1", "IngressRoute", "ingressroutes"),
        _r("traefik.io/v1alpha1", "IngressRouteTCP", "ingressroutetcps"),
        _r("traefik.io/v1alpha1", "IngressRouteUDP", "ingressrouteudps"),
        _r("traefik.io/v1alpha1", "Middleware", "middlewares"),
        _r("traefik.io/v1alpha1", "MiddlewareTCP", "middlewaretcps"),
        _r("traefik.io/v1alpha1", "TraefikService", "traefikservices"),
        _r("traefik.io/v1alpha1", "ServersTransport", "serverstransports"),
        _r("traefik.io/v1alpha1", "ServersTransportTCP", "serverstransporttcps"),
        _r("traefik.io/v1alpha1", "TLSOption", "tlsoptions"),
        _r("traefik.io/v1alpha1", "TLSStore", "tlsstores"),
    ),
    "traefik-legacy": (
        _r("traefik.containo.us/v1alpha1", "IngressRoute", "ingressroutes"),
        _r("traefik.containo.us/v1alpha1", "Middleware", "middlewares"),
    ),
    "istio": (
        _r("networking.istio.io/v1", "Gateway", "gateways"),
        _r("networking.istio.io/v1", "VirtualService", "virtualservices"),
        _r("networking.istio.io/v1", "DestinationRule", "destinationrules"),
    ),
    "linkerd": (
        _r("policy.linkerd.io/v1beta3", "Server", "servers"),
        _r("policy.linkerd.io/v1alpha1", "AuthorizationPolicy", "authorizationpolicies"),
        _r("policy.linkerd.io/v1beta1", "ServerAuthorization", "serverauthorizations"),
    ),
    "gke": (_r("cloud.google.com/v1", "BackendConfig", "backendconfigs"),),
}

#: Paths every authenticated user may GET (the ``system:discovery`` ClusterRole).
DISCOVERY_PATHS = (
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/healthz",
    "/livez",
    "/readyz",
    "/openapi",
    "/openapi/*",
    "/version",
    "/version/",
)


@dataclass(frozen=True)
class Rule:
    """An RBAC rule: verbs on resources (``plural``, ``plural.group``, ``plural/sub``;
    ``*`` for all), or on non-resource ``paths`` (``/metrics``, ``/logs/*``)."""

    verbs: tuple[str, ...] = ("get", "list", "watch")
    resources: tuple[str, ...] = ("*",)
    namespaces: tuple[str, ...] | None = None
    """None: cluster-wide; else only inside these namespaces."""
    paths: tuple[str, ...] = ()

    def allows(
        self, verb: str, group: str, resource: str, namespace: str | None, sub: str = ""
    ) -> bool:
        """Whether this rule grants ``verb`` on the resource (or its subresource)."""
        if verb not in self.verbs and "*" not in self.verbs:
            return False
        plural = f"{resource}/{sub}" if sub else resource
        names = {plural, f"{plural}.{group}" if group else plural, "*"}
        if sub:
            names.add(f"*/{sub}")
        if not names & set(self.resources):
            return False
        return self.namespaces is None or (namespace is not None and namespace in self.namespaces)

    def allows_path(self, verb: str, path: str) -> bool:
        """Whether this rule grants ``verb`` on a non-resource URL."""
        if verb not in self.verbs and "*" not in self.verbs:
            return False
        return any(p == "*" or fnmatchcase(path, p) for p in self.paths)


READ_ALL = (Rule(),)
"""What ``kubectl`` users with the ``view`` role plus cluster-wide reads get."""

ADMIN = (Rule(verbs=("*",), resources=("*",), paths=("*",)),)


def status(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A ``Status`` object as kube-apiserver returns it."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


class ApiStatus(Exception):
    """An error answer: raised anywhere while serving, rendered as a ``Status`` body."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.body = status(code, reason, message, details)
        self.code = code


def bad_request(message: str) -> ApiStatus:
    return ApiStatus(400, "BadRequest", message)


def not_found() -> ApiStatus:
    return ApiStatus(404, "NotFound", "the server could not find the requested resource", {})


def gone(message: str) -> ApiStatus:
    return ApiStatus(410, "Expired", message)
