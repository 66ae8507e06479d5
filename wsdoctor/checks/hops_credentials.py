"""A hop behind the public address that refuses the upgrade with 401 or 403 while the hop in
front of it upgrades: the hop test reached it without something the path in front adds (an
identity header an authenticating proxy injects, a client certificate header, a source
address it allows), or without a header the client sends that wsdoctor was not given. Pure.

The hops are asked with the run's own request: the same Host and SNI, ``--origin`` and every
``-H`` header (Authorization, Cookie...) the public address gets; only a proxy's
credentials (``--proxy``) are left out, since the hops are reached without the proxy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from wsdoctor.checks.hops import CREDENTIALS
from wsdoctor.models import EvidenceValue, Finding, Fix, Resource

if TYPE_CHECKING:
    from wsdoctor.checks.base import Facts
    from wsdoctor.checks.cluster import ClusterObservation
    from wsdoctor.checks.handshake import HandshakeAttempt
    from wsdoctor.checks.hops_table import HopView
    from wsdoctor.kube.snapshot import KubeObject

CHECK_ID = "hops"
_WORDS = {"pod": "the pod", "controller": "the ingress controller pod",
          "public": "the public address"}
_NGINX = "nginx.ingress.kubernetes.io/"
#: Route annotations through which the ingress controller adds what a pod may require
#: (ingress-nginx annotations.md: external authentication sets the auth service's answer
#: headers on the request to the pod; custom-headers adds request headers; the client
#: certificate is passed on in ssl-client-cert; Traefik: ForwardAuth/Headers middlewares).
_ADDED_BY_CONTROLLER = (
    _NGINX + "auth-url", _NGINX + "auth-response-headers", _NGINX + "auth-snippet",
    _NGINX + "custom-headers", _NGINX + "configuration-snippet",
    _NGINX + "auth-tls-pass-certificate-to-upstream",
    "traefik.ingress.kubernetes.io/router.middlewares",
)
#: Route annotations with which the controller itself refuses a request that the load
#: balancer in front lets through: a port-forwarded connection comes from inside the pod
#: (127.0.0.1), not from the client's address (ingress-nginx annotations.md).
_CONTROLLER_REFUSES = (
    _NGINX + "whitelist-source-range", _NGINX + "allowlist-source-range",
    _NGINX + "denylist-source-range", _NGINX + "auth-tls-verify-client", _NGINX + "auth-type",
)


def credentials_refused(hops: Sequence[HopView], facts: Facts,
                        cluster: ClusterObservation | None) -> Finding | None:
    """The outermost hop answering 401/403 while the tested hop in front of it upgrades."""
    front = hops[-1]
    if front.upgraded is None:
        return None  # the public address fails too: the placed upgrade fault says where
    for view in reversed(hops[:-1]):
        if not view.tested or not view.attempts:
            continue
        refusal = _refusal(view)
        if refusal is None:
            if view.upgraded is not None:
                front = view
            continue
        return _finding(view, refusal, front, facts, cluster)
    return None


def _refusal(view: HopView) -> HandshakeAttempt | None:
    if view.upgraded is not None:
        return None
    return next((a for a in view.attempts if a.outcome == "refused"
                 and a.status_code in (401, 403)), None)


def _finding(view: HopView, refusal: HandshakeAttempt, front: HopView, facts: Facts,
             cluster: ClusterObservation | None) -> Finding:
    status = refusal.status_code
    challenge = next((h.value for h in refusal.headers
                      if h.name.lower() == "www-authenticate"), None)
    given = [h.name for h in facts.settings.headers]
    sent = {h.name.lower() for h in refusal.request_headers}
    carried = [n for n in given if n.lower() in sent]
    route, annotations = _route_annotations(cluster, view.name)
    answered = refusal.status_line or f"HTTP {status}"
    detail = (f"{_WORDS[view.name].capitalize()} ({view.label}) answered the upgrade "
              f"'{answered}'" + (f" (WWW-Authenticate: {challenge})" if challenge else "")
              + f", while {_WORDS[front.name]} in front of it upgrades (101). ")
    if view.name == "pod":
        adds = f"the ingress controller ({front.component or 'in front'})" \
            if front.name == "controller" else "what is in front of it"
        detail += (f"The application needs something {adds} adds to the request: an "
                   "identity header from external authentication (oauth2-proxy and the like), "
                   "a header a snippet or middleware sets, the client certificate passed on; "
                   "or a service mesh sidecar's identity.")
    else:
        detail += ("The controller refuses what the load balancer in front lets through: "
                   "an identity the load balancer adds (AWS ALB authenticate-oidc, Google IAP, "
                   "Cloudflare Access headers), a client certificate it presents, or a source "
                   "address allow-list (a port-forwarded connection comes from inside the pod, "
                   "not from your address).")
    detail += (" The hop was asked like the public address: same Host, SNI and --origin, and "
               + (f"your -H headers ({', '.join(carried)})" if carried else
                  "no -H headers (none were given)")
               + f"; a {status} there is not a fault your clients see, but the hop's messages "
               "and idle timeout could not be measured.")
    if annotations:
        detail += " On the route: " + ", ".join(f"{k}: {v}" for k, v in annotations.items()) \
            + "."
    where = "the ingress controller's route" if view.name == "pod" else \
        "the load balancer in front and the route's source-range annotations"
    fix = Fix(summary=f"Check what {where} adds or requires; to measure the hop as it is "
              "really reached, give the same credentials with -H (the hops send every -H "
              "header), e.g. the header the authentication adds or the Authorization/Cookie "
              "your client sends.",
              snippet=" ".join([f"wsdoctor bisect {facts.target.url}",
                                *(["--port-forward"] if facts.settings.port_forward else []),
                                *(f"-H '{n}: ...'" for n in _header_names(annotations))]),
              language="shell")
    evidence: dict[str, EvidenceValue] = {
        "hop": view.name, "status_code": status, "www_authenticate": challenge,
        "in_front": front.name,
        "headers_sent": list[str | int | float | bool | None](carried),
        "annotations": list[str | int | float | bool | None](annotations)}
    field = next(iter(annotations), None)
    resource = route.resource(f'metadata.annotations["{field}"]') \
        if route is not None and field is not None else _pod(view)
    hop = "pod" if view.name == "pod" else "ingress controller pod"
    return CREDENTIALS.finding(
        CHECK_ID, detail, evidence=evidence, resource=resource, fix=fix,
        title=f"The {hop} answers {status} where {_WORDS[front.name]} upgrades: "
        "it needs credentials the path in front adds")


def _route_annotations(cluster: ClusterObservation | None, hop: str
                       ) -> tuple[KubeObject | None, dict[str, str]]:
    if cluster is None or not cluster.routes:
        return None, {}
    first = cluster.routes[0]
    route = cluster.snapshot.find(first.kind, first.namespace, first.name)
    if route is None:
        return None, {}
    keys = _ADDED_BY_CONTROLLER if hop == "pod" else _CONTROLLER_REFUSES
    return route, {k: route.annotations[k] for k in keys if k in route.annotations}


def _header_names(annotations: dict[str, str]) -> list[str]:
    """Request headers the route says it adds (auth-response-headers), else Authorization."""
    named = annotations.get(_NGINX + "auth-response-headers", "")
    return [n.strip() for n in named.split(",") if n.strip()] or ["Authorization"]


def _pod(view: HopView) -> Resource | None:
    namespace, _, name = view.label.rsplit(" ", 1)[-1].partition("/")
    return Resource(kind="Pod", namespace=namespace, name=name.split(":")[0]) if name else None
