"""A refused upgrade that Traefik wrote: its cause and fix in Traefik's terms (the router, the
service, the middleware), as the Kubernetes CRD field and as file-provider configuration.

Traefik sends no Server header; :func:`wsdoctor.knowledge_traefik.traefik_answer` recognises
its answers by their exact bodies and headers, measured on the real binary.
"""

from __future__ import annotations

from wsdoctor.checks.handshake_model import HandshakeAttempt
from wsdoctor.knowledge_traefik import MEASURED_VERSION, TraefikAnswer, traefik_answer
from wsdoctor.models import Fix, Target


def _route(t: Target, extra: str = "") -> str:
    return f"""apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: <route>
  namespace: <namespace>
spec:
  entryPoints: [websecure]
  routes:
    - match: Host(`{t.host}`) && PathPrefix(`{t.path.split('?')[0]}`)
      kind: Rule
      services:
        - name: <service>
          port: <port>{extra}
  tls:
    secretName: <secret>
"""


def _no_router(a: HandshakeAttempt, t: Target) -> tuple[str, str, Fix]:
    cause = ("'404 page not found' without a Server header is the page Traefik writes when no "
             f"router on this entry point matches Host({t.host}) and path {t.path} (it is Go's "
             "NotFound page: a Go application answering directly writes the same). Check the "
             "route's match (PathPrefix vs Path, a trailing slash), its entryPoints, and that "
             "a router reached over https has tls (without it the router serves only plain "
             "HTTP). An IngressRoute whose Middleware or TLS options fail to load is dropped "
             "the same way (kubectl logs of Traefik, or its dashboard, show the error).")
    fix = Fix(summary=f"Make a Traefik router match {t.host}{t.path}: IngressRoute "
              "spec.routes[].match (file provider: http.routers.<name>.rule), on the entry "
              "point this port serves, with tls for https.",
              snippet=_route(t) + "# file provider (dynamic configuration)\n"
              f"# http:\n#   routers:\n#     ws:\n#       rule: Host(`{t.host}`) && "
              f"PathPrefix(`{t.path.split('?')[0]}`)\n#       entryPoints: [websecure]\n"
              "#       service: ws\n#       tls: {}\n", language="yaml")
    return "Traefik: no router matches this host and path (404)", cause, fix


def _bad_gateway(a: HandshakeAttempt, t: Target) -> tuple[str, str, Fix]:
    cause = ("Traefik's own 502 ('Bad Gateway', no Content-Type, no Server header): it reached "
             "no working server of the service: nothing listens at the server URL (the "
             "IngressRoute's services[].port is not a port of the Service, the Service's "
             "targetPort is not where the pods listen), or the backend speaks TLS while "
             "Traefik sends plain HTTP (then: scheme https and a ServersTransport).")
    fix = Fix(summary="Point the IngressRoute at the Service port the pods really serve "
              "(spec.routes[].services[].port; file provider: loadBalancer.servers[].url) "
              "and check Traefik's log for the dial error.",
              snippet="kubectl get endpointslices -n <namespace> "
              "-l kubernetes.io/service-name=<service>\n"
              "kubectl -n <traefik-namespace> logs deploy/traefik | grep -i 'error'",
              language="shell")
    return "Traefik: bad gateway (502), the service's servers refuse connections", cause, fix


def _no_server(a: HandshakeAttempt, t: Target) -> tuple[str, str, Fix]:
    cause = ("Traefik's own 503 'no available server': the service has no server to send the "
             "upgrade to. Traefik's Kubernetes providers take only ready endpoints, so the "
             "Service has no ready pod (readiness probe failing, selector matching nothing), "
             "or a healthCheck on the service marks every server down.")
    fix = Fix(summary="Give the Service ready endpoints: check the pods' readiness and the "
              "Service's selector (and the service's healthCheck path, if one is set).",
              snippet="kubectl get endpointslices -n <namespace> "
              "-l kubernetes.io/service-name=<service>\n"
              "kubectl get pods -n <namespace> -l <selector> -o wide", language="shell")
    return "Traefik: no available server (503), the service has no ready endpoint", cause, fix


def _circuit_breaker(a: HandshakeAttempt, t: Target) -> tuple[str, str, Fix]:
    cause = ("Traefik's circuit breaker answered ('Service Unavailable', no Content-Type): a "
             "circuitBreaker middleware on the route tripped on recent failures of the backend "
             "and refuses every request for its fallbackDuration (10 s by default), then lets "
             "a few through (recoveryDuration). The failures behind it are the root cause.")
    fix = Fix(summary="Fix the backend failures that trip it (its 5xx or network errors); "
              "if the expression is too eager, raise its threshold in the Middleware's "
              "spec.circuitBreaker.expression.",
              snippet="apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata:\n"
              "  name: <breaker>\nspec:\n  circuitBreaker:\n"
              "    expression: NetworkErrorRatio() > 0.5 || ResponseCodeRatio(500, 600, 0, "
              "600) > 0.5\n    fallbackDuration: 10s\n", language="yaml")
    return "Traefik: the circuit breaker is open (503)", cause, fix


def _response_header_timeout(a: HandshakeAttempt, t: Target) -> tuple[str, str, Fix]:
    cause = ("Traefik's own 504 ('Gateway Timeout', no Content-Type): the backend did not "
             "answer the upgrade within the ServersTransport's "
             "forwardingTimeouts.responseHeaderTimeout. It only covers the wait for the 101: "
             f"once upgraded, a WebSocket is not cut by it (measured on Traefik "
             f"{MEASURED_VERSION}).")
    fix = Fix(summary="Find why the application answers the upgrade late (its log), or raise "
              "responseHeaderTimeout on the ServersTransport the route uses.",
              snippet="apiVersion: traefik.io/v1alpha1\nkind: ServersTransport\nmetadata:\n"
              "  name: <transport>\nspec:\n  forwardingTimeouts:\n"
              "    responseHeaderTimeout: 30s\n", language="yaml")
    return "Traefik: the backend did not answer the upgrade in time (504)", cause, fix


def _rate_limit(a: HandshakeAttempt, t: Target) -> tuple[str, str, Fix]:
    retry = a.header("X-Retry-In") or a.header("Retry-After")
    cause = ("Traefik's rateLimit middleware refused the upgrade ('Too Many Requests'"
             + (f", X-Retry-In: {retry}" if retry else "") + "). It counts per source IP by "
             "default: behind a load balancer that does not pass the client address, every "
             "client shares one budget and a reconnect storm exhausts it.")
    fix = Fix(summary="Raise the Middleware's spec.rateLimit average/burst for the WebSocket "
              "route (a reconnect storm needs burst room), key it on the real client IP "
              "(sourceCriterion.ipStrategy.depth behind a load balancer), and add jittered "
              "back-off to client reconnects.",
              snippet="apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata:\n"
              "  name: <ratelimit>\nspec:\n  rateLimit:\n    average: 100\n    period: 1s\n"
              "    burst: 200\n    sourceCriterion:\n      ipStrategy:\n        depth: 1\n",
              language="yaml")
    return "Traefik: the rateLimit middleware refused the upgrade (429)", cause, fix


_ADVICE = {"no-router": _no_router, "bad-gateway": _bad_gateway, "no-server": _no_server,
           "circuit-breaker": _circuit_breaker, "response-header-timeout": _response_header_timeout,
           "rate-limit": _rate_limit}


def answer_of(a: HandshakeAttempt) -> TraefikAnswer | None:
    """The Traefik answer this attempt got, if Traefik wrote it."""
    return traefik_answer(a.status_code, [(h.name, h.value) for h in a.headers], a.body_start)


def traefik_advice(a: HandshakeAttempt, t: Target) -> tuple[str, str, Fix] | None:
    """(title, cause, fix) when Traefik wrote this refusal, else None."""
    answer = answer_of(a)
    return None if answer is None else _ADVICE[answer.key](a, t)
