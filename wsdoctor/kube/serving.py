"""Which controller serves the target, for the network checks' fixes: the route the cluster
check found serving it (its controller; a Traefik IngressRoute apart from a Traefik
Ingress, as they configure stickiness differently), else the proxy that named itself in the
answers (Traefik). None when neither tells: the fix then covers every controller."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsdoctor.kube.haproxy_facts import INSERTED_COOKIE_PATH
from wsdoctor.models import Fix
from wsdoctor.records import dataclass

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


#: The proxy an affinity cookie's default name belongs to → the controller whose fix applies,
#: when the cluster was not read.
_BY_COOKIE = {"Traefik": "traefik-any", "HAProxy": "haproxy"}
_HAPROXY_PATH = (f"HAProxy inserts its cookie with path={INSERTED_COOKIE_PATH} (measured), which "
                 "covers every path")
_HAPROXY_ATTR = (_HAPROXY_PATH + ": a narrower Path comes from an attr \"Path=...\" in "
                 "{keywords}, which HAProxy writes after its path=/ (the last Path wins): remove "
                 "it; or, with a rewrite or prefix cookie strategy, from the application's own "
                 "cookie")
#: Controllers with no option for the cookie's Path: their fix says where it comes from.
_NO_PATH_OPTION = ("haproxytech", "haproxy-ingress", "haproxy")
#: Controllers that read the cookie's settings from the backend Service, not the route.
_ON_SERVICE = ("traefik", "haproxytech")
_TRAEFIK_CRD_FIELD = "spec.routes[].services[].sticky.cookie"


def _cookie_path_recipe(controller: str, path: str, field: str | None) -> tuple[str, str | None]:
    """What sets the affinity cookie's Path on ``controller`` (summary, snippet); the summary
    says so where the controller has no such option. ("", None): no known recipe."""
    from wsdoctor.knowledge_traefik import STICKY_COOKIE_PATH_ANNOTATION

    annotation = (f"metadata:\n  annotations:\n    {STICKY_COOKIE_PATH_ANNOTATION}: "
                  f"\"{path}\"\n")
    crd = (f"{field}.path" if field and field.endswith("sticky.cookie")
           else f"{_TRAEFIK_CRD_FIELD}.path")
    crd_snippet = f"# {crd}\nsticky:\n  cookie:\n    path: {path}    # Traefik's default: /\n"
    if controller == "ingress-nginx":
        return ("ingress-nginx's session-cookie-path (it defaults to the Ingress path, and "
                "to the regex itself with use-regex: required there)",
                "metadata:\n  annotations:\n    nginx.ingress.kubernetes.io/"
                f"session-cookie-path: \"{path}\"\n")
    if controller == "traefik":
        return ("Traefik reads the sticky cookie's path for an Ingress from the backend "
                f"Service's {STICKY_COOKIE_PATH_ANNOTATION} (default /)", annotation)
    if controller == "traefik-crd":
        return f"Traefik's sticky cookie option {crd} (default /)", crd_snippet
    if controller == "traefik-any":
        return (f"Traefik's sticky.cookie.path (default /): on an IngressRoute {crd}, for an "
                f"Ingress the Service annotation {STICKY_COOKIE_PATH_ANNOTATION}",
                crd_snippet + "# Ingress: on the Service\n" + annotation)
    if controller == "haproxytech":
        return ("HAProxy (haproxytech) has no option for the cookie's path, and "
                f"{_HAPROXY_PATH}: this Path is set by the application (or a proxy in front): "
                f"set Path={path} (or /) there", None)
    if controller == "haproxy-ingress":
        return ("haproxy-ingress has no session-cookie-path. "
                + _HAPROXY_ATTR.format(keywords="session-cookie-keywords"),
                "metadata:\n  annotations:\n    haproxy-ingress.github.io/session-cookie-keywords:"
                " \"indirect nocache httponly\"    # the default: no attr Path\n")
    if controller == "haproxy":
        return (_HAPROXY_ATTR.format(keywords="HAProxy's cookie line (haproxy-ingress: "
                                     "session-cookie-keywords)"), None)
    if controller == "nginx-inc":
        # nginxinc/kubernetes-ingress docs, session-persistence: "serviceName=<svc> <cookie>
        # [expires=] [domain=] [httponly] [secure] [path=]", the NGINX Plus sticky directive.
        return ("NGINX Inc's controller takes it from the path= parameter of the Ingress's "
                "nginx.com/sticky-cookie-services (NGINX Plus only)",
                "metadata:\n  annotations:\n    nginx.com/sticky-cookie-services: "
                f"\"serviceName=<service> <cookie> path={path}\"\n")
    if controller == "istio":
        return ("Istio's trafficPolicy.loadBalancer.consistentHash.httpCookie.path",
                "spec:\n  trafficPolicy:\n    loadBalancer:\n"
                "      consistentHash:\n        httpCookie:\n          name: <cookie>\n"
                f"          path: {path}\n          ttl: 0s\n")
    return "", None


def _family(controller: str) -> str:
    return "traefik" if controller.startswith("traefik") else controller


def cookie_path_fix(facts: Facts, path: str, component: str | None) -> Fix:
    """How to make the affinity cookie's Path cover the WebSocket, on the controller and the
    object that set it: the cluster's affinity configuration, else the serving controller,
    else the proxy the cookie's name belongs to; every controller when none tells."""
    from wsdoctor.checks.cluster import ClusterObservation

    location = path.split("?", 1)[0] or "/"
    cluster = facts.get(ClusterObservation)
    configured = cluster.affinity if cluster is not None else None
    serving = serving_controller(facts)
    controller = serving.controller if serving is not None else _BY_COOKIE.get(component or "")
    if configured is not None and (controller is None or _family(configured.controller)
                                   != _family(controller)):
        controller = configured.controller
    resource = configured.resource if configured is not None else None
    how, snippet = _cookie_path_recipe(controller or "", location,
                                       resource.field if resource is not None else None)
    if how:
        where = (f"{resource.kind} {resource.namespace}/{resource.name}"
                 if resource is not None and resource.namespace else None)
        if where is None and serving is not None:
            where = (f"the DestinationRule for {serving.service}" if controller == "istio"
                     and serving.service else serving.service if controller in _ON_SERVICE
                     else serving.route)
        if snippet is not None and where:
            snippet = f"# {where}\n" + snippet
        if controller in _NO_PATH_OPTION:
            return Fix(summary=how + ".", snippet=snippet,
                       language="yaml" if snippet else None)
        return Fix(summary=f"Make the cookie's Path cover {location}"
                   + (f" on {where}" if where else "") + f": {how}.",
                   snippet=snippet, language="yaml" if snippet else None)
    return Fix(
        summary="Set the cookie's Path to cover the WebSocket path (ingress-nginx shown: "
        "session-cookie-path, required with regex paths; Traefik: sticky.cookie.path; Istio: "
        f"DestinationRule consistentHash.httpCookie.path; {_HAPROXY_PATH}, so look for an "
        "attr \"Path=...\" on its cookie line, or the application's own cookie).",
        snippet="metadata:\n  annotations:\n    nginx.ingress.kubernetes.io/"
        f"session-cookie-path: \"{location}\"\n",
        language="yaml",
    )
