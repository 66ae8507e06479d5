"""The Kubernetes resources wsdoctor reads, with the versions it understands and what each is
used for (named when RBAC forbids one). docs/rbac.yaml grants exactly these."""

from __future__ import annotations

from wsdoctor.records import dataclass


@dataclass(frozen=True)
class Kind:
    """A resource wsdoctor reads, and what it is used for (named in permission gaps)."""

    group: str
    versions: tuple[str, ...]
    """Versions wsdoctor understands, preferred first."""
    plural: str
    kind: str
    namespaced: bool
    affects: str

    @property
    def resource(self) -> str:
        """``ingresses.networking.k8s.io`` (RBAC spelling)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


KINDS: tuple[Kind, ...] = (
    Kind("networking.k8s.io", ("v1",), "ingresses", "Ingress", True, "Ingress routes"),
    Kind("networking.k8s.io", ("v1",), "ingressclasses", "IngressClass", False, "controller"),
    Kind("", ("v1",), "services", "Service", True, "backend Services, load balancers"),
    Kind("discovery.k8s.io", ("v1",), "endpointslices", "EndpointSlice", True, "endpoints"),
    Kind("", ("v1",), "pods", "Pod", True, "pods, controller flags"),
    Kind("apps", ("v1",), "deployments", "Deployment", True, "workload rules"),
    Kind("apps", ("v1",), "statefulsets", "StatefulSet", True, "workload rules"),
    Kind("apps", ("v1",), "daemonsets", "DaemonSet", True, "controller flags"),
    Kind("", ("v1",), "namespaces", "Namespace", False, "mesh injection labels"),
    Kind(
        "autoscaling",
        ("v2",),
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        True,
        "HPA rules",
    ),
    Kind("policy", ("v1",), "poddisruptionbudgets", "PodDisruptionBudget", True, "PDB rules"),
    Kind(
        "networking.k8s.io",
        ("v1",),
        "networkpolicies",
        "NetworkPolicy",
        True,
        "NetworkPolicy rules",
    ),
    Kind(
        "gateway.networking.k8s.io",
        ("v1", "v1beta1"),
        "httproutes",
        "HTTPRoute",
        True,
        "HTTPRoutes",
    ),
    Kind("gateway.networking.k8s.io", ("v1", "v1beta1"), "gateways", "Gateway", True, "Gateways"),
    Kind(
        "gateway.networking.k8s.io",
        ("v1", "v1beta1"),
        "gatewayclasses",
        "GatewayClass",
        False,
        "Gateway controller",
    ),
    Kind("traefik.io", ("v1alpha1",), "ingressroutes", "IngressRoute", True, "Traefik routes"),
    Kind("traefik.io", ("v1alpha1",), "middlewares", "Middleware", True, "Traefik middlewares"),
    Kind(
        "traefik.io", ("v1alpha1",), "traefikservices", "TraefikService", True, "Traefik stickiness"
    ),
    Kind(
        "traefik.containo.us",
        ("v1alpha1",),
        "ingressroutes",
        "IngressRoute",
        True,
        "Traefik v2 routes",
    ),
    Kind(
        "traefik.containo.us",
        ("v1alpha1",),
        "middlewares",
        "Middleware",
        True,
        "Traefik v2 middlewares",
    ),
    Kind(
        "networking.istio.io",
        ("v1", "v1beta1", "v1alpha3"),
        "virtualservices",
        "VirtualService",
        True,
        "Istio routes",
    ),
    Kind(
        "networking.istio.io",
        ("v1", "v1beta1", "v1alpha3"),
        "gateways",
        "Gateway",
        True,
        "Istio gateways",
    ),
    Kind(
        "networking.istio.io",
        ("v1", "v1beta1", "v1alpha3"),
        "destinationrules",
        "DestinationRule",
        True,
        "Istio traffic policy",
    ),
    Kind(
        "policy.linkerd.io",
        ("v1beta3", "v1beta2", "v1beta1"),
        "servers",
        "Server",
        True,
        "Linkerd Servers",
    ),
    Kind(
        "policy.linkerd.io",
        ("v1alpha1",),
        "authorizationpolicies",
        "AuthorizationPolicy",
        True,
        "Linkerd authorization",
    ),
    Kind(
        "policy.linkerd.io",
        ("v1beta1",),
        "serverauthorizations",
        "ServerAuthorization",
        True,
        "Linkerd authorization",
    ),
    Kind(
        "cloud.google.com",
        ("v1", "v1beta1"),
        "backendconfigs",
        "BackendConfig",
        True,
        "GKE timeouts",
    ),
)

#: Standard labels of ingress controller pods (and their Services), for ``-n`` runs.
CONTROLLER_SELECTOR = (
    "app.kubernetes.io/name in "
    "(ingress-nginx,traefik,kubernetes-ingress,haproxy-ingress,istio-ingressgateway)"
)

#: Kinds without which no route can be found: if all are forbidden, the check is skipped.
ROUTE_KINDS = ("Ingress", "HTTPRoute", "IngressRoute", "VirtualService")
#: Their resource names (plural), as a PermissionGap names what could not be listed.
ROUTE_PLURALS = ("ingresses", "httproutes", "ingressroutes", "virtualservices")
