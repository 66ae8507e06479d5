"""Which controller serves the target, for the network checks' fixes: the route the cluster
check found serving it (its controller; a Traefik IngressRoute apart from a Traefik
Ingress, as they configure stickiness differently), else the proxy that named itself in the
answers (Traefik). None when neither tells: the fix then covers every controller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from wsdoctor.models import Fix

if TYPE_CHECKING:
    from wsdoctor.checks.base import Facts


@dataclass(frozen=True)
class ServingController:
    """The controller serving the target, and the objects a fix would change."""

    controller: str
    """``ingress-nginx``, ``traefik`` (an Ingress), ``traefik-crd`` (an IngressRoute),
    ``haproxytech``, ``haproxy-ingress``, ``istio``, ``nginx-inc``..."""
    route: str | None = None
    """``Ingress chat/chat``: the serving route, when the cluster was read."""
    service: str | None = None
    """``Service chat/chat``: its first backend."""


def serving_controller(facts: Facts) -> ServingController | None:
    """The serving route's controller (cluster check), else one the answers name."""
    from wsdoctor.checks.cluster import ClusterObservation

    cluster = facts.get(ClusterObservation)
    if cluster is not None and cluster.routes:
        route = cluster.routes[0]
        controller = "traefik-crd" if route.kind == "IngressRoute" else route.controller
        service = f"Service {route.backends[0].service}" if route.backends else None
        if controller != "unknown":
            return ServingController(
                controller, f"{route.kind} {route.namespace}/{route.name}", service
            )
    from wsdoctor.checks.idle import proxies_in_use

    if "Traefik" in proxies_in_use(facts):
        return ServingController("traefik")
    return None


def tls_secret(facts: Facts, host: str) -> str | None:
    """``namespace/name`` of the TLS Secret the serving route names for ``host``."""
    from wsdoctor.checks.cluster import ClusterObservation
    from wsdoctor.kube.discover import host_matches

    cluster = facts.get(ClusterObservation)
    for entry in cluster.tls if cluster is not None else []:
        if entry.secret_name and (not entry.hosts or any(host_matches(h, host)
                                                         for h in entry.hosts)):
            return f"{entry.namespace}/{entry.secret_name}"
    return None


_CERT_MANAGER = ("With cert-manager, find out why renewal fails: kubectl describe certificate "
                 "-n <namespace> <name>, then its CertificateRequest, Order and Challenge.")
_CERT_MANAGER_SNIPPET = ("kubectl get certificate -A\n"
                         "kubectl describe certificaterequest -n <namespace>")


def renewal_fix(facts: Facts, host: str) -> Fix:
    """How to renew the certificate served for ``host``, where the serving controller takes
    it from: the route's TLS Secret, Traefik's own ACME resolver, or an Istio Gateway's
    credentialName."""
    serving = serving_controller(facts)
    secret = tls_secret(facts, host)
    named = f" (Secret {secret})" if secret else ""
    controller = serving.controller if serving is not None else None
    route = serving.route if serving is not None and serving.route else None
    if controller in ("traefik", "traefik-crd"):
        where = (f"{route}'s spec.tls" if controller == "traefik-crd" and route
                 else "the IngressRoute's spec.tls" if controller == "traefik-crd"
                 else "the router.tls.certresolver annotation or spec.tls of "
                 + (route or "the Ingress"))
        return Fix(
            summary=f"Renew the certificate for {host}. Traefik takes it from {where}: with a "
            "certResolver, Traefik's own ACME client renews it (30 days before expiry), so "
            "look for ACME errors in Traefik's log and check its certificate storage "
            f"(acme.json); with a secretName, renew that Secret{named}. {_CERT_MANAGER}",
            snippet="kubectl logs -n <traefik namespace> deploy/traefik | grep -i acme\n"
            + _CERT_MANAGER_SNIPPET,
            language="shell",
        )
    if controller == "istio":
        return Fix(
            summary=f"Renew the certificate for {host}: the Istio Gateway reads it from the "
            f"Secret its credentialName names{named}, in the gateway workload's namespace "
            f"(istio-system by default). {_CERT_MANAGER}",
            snippet=_CERT_MANAGER_SNIPPET, language="shell",
        )
    where = (f"the Secret named in {route}'s spec.tls{named}" if route
             else "the Secret named in the Ingress's spec.tls (or the Gateway's certificateRefs)")
    return Fix(summary=f"Renew the certificate for {host} and update {where}. {_CERT_MANAGER}",
               snippet=_CERT_MANAGER_SNIPPET, language="shell")
