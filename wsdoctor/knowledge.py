"""What a measurement means, as data with a source per entry (KNOWLEDGE.md §1 and §4).

Public API used by the lifetime checks and the Kubernetes cross-checks:
:data:`IDLE_TIMEOUT_DEFAULTS`, :func:`match_idle_timeout`, :func:`idle_timeout_fix`,
:data:`AFFINITY_COOKIE_DEFAULTS` and :func:`is_affinity_cookie_name`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence

from wsdoctor.records import dataclass


class TimeoutKind(enum.StrEnum):
    """What a component's timeout measures."""

    IDLE = "idle"
    """No bytes in either direction for this long."""
    PER_REQUEST = "per_request"
    """A request timeout that also cuts an upgraded connection, traffic or not."""
    LIFETIME = "lifetime"
    """Total connection lifetime, traffic or not."""
    AFTER_RELOAD = "after_reload"
    """Connections are cut this long after a configuration reload."""


@dataclass(frozen=True)
class IdleTimeoutDefault:
    """One component's default timeout that ends WebSocket connections."""

    seconds: float
    component: str
    """Short name, e.g. ``ingress-nginx``, ``AWS ALB``."""
    setting: str
    """The setting that controls it."""
    kind: TimeoutKind
    source: str
    """Where the value is documented (or read from code)."""
    fix: str
    """How to raise it: a ready snippet, ``{seconds}`` is the wanted value in seconds."""
    language: str = "yaml"
    silent: bool = False
    """True when the component drops state without a FIN or RST (the client learns it only
    on the next send)."""


IDLE_TIMEOUT_DEFAULTS: tuple[IdleTimeoutDefault, ...] = (
    IdleTimeoutDefault(
        10, "Traefik", "entryPoints.<name>.transport.lifeCycle.graceTimeOut",
        TimeoutKind.AFTER_RELOAD,
        "measured on Traefik 3.7.15: open WebSockets are cut (1006, no close frame) "
        "graceTimeOut after Traefik gets SIGTERM (a rollout); no other Traefik timeout ends an "
        "upgraded WebSocket (wsdoctor.knowledge_traefik; test_traefik_timeouts_lab)",
        "# Traefik static configuration (Helm: additionalArguments)\n"
        "--entryPoints.websecure.transport.lifeCycle.graceTimeOut={seconds}s\n"
        "# and terminationGracePeriodSeconds above it on the Traefik pods\n",
        language="text",
    ),
    IdleTimeoutDefault(
        15, "Envoy", "route timeout", TimeoutKind.PER_REQUEST,
        "Envoy FAQ 'How do I configure timeouts?'; envoyproxy/envoy#20062",
        "# Envoy route (plain Envoy, Envoy Gateway, Contour...): no timeout on the WS route\n"
        "route:\n  timeout: 0s\n",
    ),
    IdleTimeoutDefault(
        30, "GCP HTTP(S) load balancer", "backend service timeout", TimeoutKind.LIFETIME,
        "kubernetes/ingress-gce examples/websocket",
        "apiVersion: cloud.google.com/v1\nkind: BackendConfig\nmetadata:\n  name: ws\n"
        "spec:\n  timeoutSec: {seconds}\n"
        "# and on the Service: cloud.google.com/backend-config: '{{\"default\": \"ws\"}}'\n",
    ),
    IdleTimeoutDefault(
        55, "Heroku router", "idle timeout (fixed)", TimeoutKind.IDLE,
        "Heroku Dev Center: WebSockets on Heroku",
        "# fixed: send an application heartbeat more often than every 55 s\n",
        language="text",
    ),
    IdleTimeoutDefault(
        60, "ingress-nginx", "proxy-read-timeout / proxy-send-timeout", TimeoutKind.IDLE,
        "ingress-nginx docs user-guide/nginx-configuration/configmap.md; nginx websocket docs",
        "metadata:\n  annotations:\n"
        "    nginx.ingress.kubernetes.io/proxy-read-timeout: \"{seconds}\"\n"
        "    nginx.ingress.kubernetes.io/proxy-send-timeout: \"{seconds}\"\n",
    ),
    IdleTimeoutDefault(
        60, "nginx", "proxy_read_timeout / proxy_send_timeout", TimeoutKind.IDLE,
        "nginx.org ngx_http_proxy_module; nginx.org/en/docs/http/websocket.html",
        "location /ws {{\n    proxy_read_timeout {seconds}s;\n"
        "    proxy_send_timeout {seconds}s;\n}}\n",
        language="nginx",
    ),
    IdleTimeoutDefault(
        60, "AWS ALB", "idle_timeout.timeout_seconds", TimeoutKind.IDLE,
        "AWS ELB docs: Application Load Balancer attributes; kubernetes/ingress-nginx#5167",
        "metadata:\n  annotations:\n    alb.ingress.kubernetes.io/load-balancer-attributes: "
        "idle_timeout.timeout_seconds={seconds}\n",
    ),
    IdleTimeoutDefault(
        60, "AWS Classic ELB", "connection idle timeout", TimeoutKind.IDLE,
        "AWS ELB docs: Configure the idle connection timeout for your Classic Load Balancer",
        "metadata:\n  annotations:\n    service.beta.kubernetes.io/"
        "aws-load-balancer-connection-idle-timeout: \"{seconds}\"\n",
    ),
    IdleTimeoutDefault(
        60, "DigitalOcean load balancer", "http idle timeout", TimeoutKind.IDLE,
        "DigitalOcean docs: Load balancer Service annotations",
        "metadata:\n  annotations:\n    service.beta.kubernetes.io/"
        "do-loadbalancer-http-idle-timeout-seconds: \"{seconds}\"\n",
    ),
    IdleTimeoutDefault(
        100, "Cloudflare", "proxy read timeout (HTTP 524)", TimeoutKind.IDLE,
        "Cloudflare docs: Connection limits; kubernetes/ingress-nginx#5539",
        "# Cloudflare's 100 s cannot be raised on most plans: send an application\n"
        "# heartbeat (ping) more often than every 100 s\n",
        language="text",
    ),
    IdleTimeoutDefault(
        240, "Azure Load Balancer", "TCP idle timeout (4 min)", TimeoutKind.IDLE,
        "Azure docs: Load Balancer TCP reset and idle timeout; kubernetes/kubernetes#66045",
        "metadata:\n  annotations:\n    # minutes, 4..100\n    service.beta.kubernetes.io/"
        "azure-load-balancer-tcp-idle-timeout: \"30\"\n",
        silent=True,
    ),
    IdleTimeoutDefault(
        240, "ingress-nginx", "worker-shutdown-timeout", TimeoutKind.AFTER_RELOAD,
        "ingress-nginx configmap.md; kubernetes/ingress-nginx#8977",
        "# ConfigMap of the controller\ndata:\n  worker-shutdown-timeout: \"{seconds}s\"\n",
    ),
    IdleTimeoutDefault(
        300, "Envoy", "stream_idle_timeout", TimeoutKind.IDLE,
        "Envoy FAQ 'How do I configure timeouts?'",
        "# HttpConnectionManager\nstream_idle_timeout: {seconds}s\n",
    ),
    IdleTimeoutDefault(
        350, "AWS NLB", "tcp.idle_timeout.seconds", TimeoutKind.IDLE,
        "AWS ELB docs: Network Load Balancer listeners, idle timeout",
        "# NLB drops flows silently after 350 s by default: raise the listener's\n"
        "# tcp.idle_timeout.seconds (not on TLS listeners) or send a heartbeat < 350 s\n",
        language="text",
        silent=True,
    ),
    IdleTimeoutDefault(
        600, "ingress-nginx", "proxy-stream-timeout (TCP services)", TimeoutKind.IDLE,
        "ingress-nginx configmap.md",
        "# ConfigMap of the controller\ndata:\n  proxy-stream-timeout: \"{seconds}s\"\n",
    ),
    IdleTimeoutDefault(
        1800, "HAProxy (haproxytech)", "hard-stop-after", TimeoutKind.AFTER_RELOAD,
        "haproxytech kubernetes-ingress documentation/annotations.md",
        "# ConfigMap of the controller\ndata:\n  hard-stop-after: \"{seconds}s\"\n",
    ),
    IdleTimeoutDefault(
        3600, "HAProxy", "timeout tunnel", TimeoutKind.IDLE,
        "HAProxy configuration.txt 'timeout tunnel'",
        "# haproxytech: ConfigMap of the controller; jcmoraisjr: annotation or ConfigMap\n"
        "data:\n  timeout-tunnel: \"{seconds}s\"\n",
    ),
    IdleTimeoutDefault(
        3600, "Istio", "DestinationRule connectionPool.tcp.idleTimeout", TimeoutKind.IDLE,
        "istio networking/v1 destination_rule.proto; istio/istio#43066",
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nspec:\n  trafficPolicy:\n"
        "    connectionPool:\n      tcp:\n        idleTimeout: {seconds}s\n",
    ),
    IdleTimeoutDefault(
        86400, "kube-proxy", "conntrack TCP established timeout", TimeoutKind.IDLE,
        "kube-proxy reference: --conntrack-tcp-timeout-established",
        "# kube-proxy flag (or KubeProxyConfiguration conntrack.tcpEstablishedTimeout)\n"
        "--conntrack-tcp-timeout-established={seconds}s\n",
        language="text",
    ),
)
"""Default timeouts that end WebSocket connections, from KNOWLEDGE.md §1."""

#: Kinds a silent idle measurement can reveal (reload-driven cuts need a reload).
MEASURABLE_KINDS = (TimeoutKind.IDLE, TimeoutKind.PER_REQUEST, TimeoutKind.LIFETIME)

#: Generic fix when no default matches: the proxies this tool knows best.
GENERIC_IDLE_FIX_COMPONENTS = ("ingress-nginx", "nginx", "HAProxy")


def idle_tolerance(seconds: float) -> float:
    """How far a measurement may be from a default and still match it: 1 s or 2 %."""
    return max(1.0, 0.02 * seconds)


def match_idle_timeout(
    seconds: float,
    *,
    tolerance: float | None = None,
    kinds: Sequence[TimeoutKind] = MEASURABLE_KINDS,
    table: Iterable[IdleTimeoutDefault] = IDLE_TIMEOUT_DEFAULTS,
) -> list[IdleTimeoutDefault]:
    """The defaults a measured timeout matches, nearest first."""
    allowed = tolerance if tolerance is not None else idle_tolerance(seconds)
    found = [e for e in table if e.kind in kinds and abs(e.seconds - seconds) <= allowed]
    return sorted(found, key=lambda e: abs(e.seconds - seconds))


def next_default(
    seconds: float, kinds: Sequence[TimeoutKind] = MEASURABLE_KINDS
) -> list[IdleTimeoutDefault]:
    """The defaults that will be passed next after ``seconds`` (all those at the next value)."""
    later = [e for e in IDLE_TIMEOUT_DEFAULTS if e.kind in kinds and e.seconds > seconds]
    if not later:
        return []
    first = min(e.seconds for e in later)
    return [e for e in later if e.seconds == first]


def components_named(names: Iterable[str]) -> list[IdleTimeoutDefault]:
    """The idle entries of these components (first of each), for a fix when nothing matched."""
    wanted = list(names)
    entries = []
    for name in wanted:
        entry = next((e for e in IDLE_TIMEOUT_DEFAULTS
                      if e.component == name and e.kind is TimeoutKind.IDLE), None)
        if entry is not None:
            entries.append(entry)
    return entries


def idle_timeout_fix(entries: Sequence[IdleTimeoutDefault], seconds: float) -> tuple[str, str]:
    """A snippet raising each component's timeout to ``seconds``: (snippet, language)."""
    wanted = str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"
    parts = [f"# {e.component}: {e.setting}\n{e.fix.format(seconds=wanted)}" for e in entries]
    languages = {e.language for e in entries}
    return "\n".join(parts), languages.pop() if len(languages) == 1 else "text"


def describe_components(entries: Sequence[IdleTimeoutDefault]) -> str:
    """``ingress-nginx proxy-read-timeout / proxy-send-timeout, AWS ALB ...``."""
    return ", ".join(f"{e.component} {e.setting}" for e in entries)


@dataclass(frozen=True)
class AffinityCookieDefault:
    """A default session-affinity cookie name (or name pattern) of a proxy."""

    pattern: str
    """A regular expression matched against the whole cookie name."""
    component: str
    source: str


AFFINITY_COOKIE_DEFAULTS: tuple[AffinityCookieDefault, ...] = (
    AffinityCookieDefault(
        "INGRESSCOOKIE", "ingress-nginx / haproxy-ingress (jcmoraisjr)",
        "ingress-nginx annotations.md session-cookie-name; haproxy-ingress affinity docs",
    ),
    AffinityCookieDefault(
        "_[0-9a-f]{5}", "Traefik",
        "Traefik sticky.cookie default name, measured on Traefik 3.7.15: '_' + the first 5 hex "
        "of SHA-1('_TRAEFIK_BACKEND_' + service name), attributes Path=/ only "
        "(wsdoctor.knowledge_traefik; test_traefik_affinity_lab)",
    ),
    AffinityCookieDefault(
        "SERVERID", "HAProxy", "HAProxy configuration.txt, the 'cookie' keyword's examples",
    ),
    AffinityCookieDefault(
        "AWSALB|AWSALBCORS|AWSALBAPP-[0-9]+|AWSALBTG|AWSALBTGCORS|AWSELB", "AWS ALB/ELB stickiness",
        "AWS ELB docs: sticky sessions for your Application Load Balancer",
    ),
    AffinityCookieDefault(
        "GCLB", "GCP load balancer",
        "GCP docs: backend services, session affinity",
    ),
    AffinityCookieDefault(
        "ARRAffinity|ARRAffinitySameSite", "Azure Application Gateway",
        "Azure docs: Application Gateway cookie-based affinity",
    ),
    AffinityCookieDefault(
        "route", "nginx sticky route / Kong", "nginx ngx_http_upstream_module sticky",
    ),
)
"""Default affinity cookie names, from KNOWLEDGE.md §4 and the cloud load balancers' docs."""


def affinity_cookie_component(name: str) -> str | None:
    """The proxy whose default affinity cookie has this name, or None."""
    for entry in AFFINITY_COOKIE_DEFAULTS:
        if re.fullmatch(entry.pattern, name):
            return entry.component
    return None


def is_affinity_cookie_name(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether ``name`` is a known affinity cookie, or one the user named."""
    return name in set(extra) or affinity_cookie_component(name) is not None


#: Response headers that commonly name the replica that answered.
REPLICA_HEADERS = (
    "X-Pod-Name", "X-Served-By", "X-Backend-Server", "X-Server", "X-Replica", "X-Hostname",
    "X-Instance", "X-Upstream",
)

#: ingress-nginx annotations that turn on cookie affinity for an Ingress.
INGRESS_NGINX_AFFINITY_FIX = (
    "metadata:\n  annotations:\n"
    "    nginx.ingress.kubernetes.io/affinity: \"cookie\"\n"
    "    nginx.ingress.kubernetes.io/affinity-mode: \"persistent\"\n"
    "    nginx.ingress.kubernetes.io/session-cookie-name: \"INGRESSCOOKIE\"\n"
    "    nginx.ingress.kubernetes.io/session-cookie-path: \"{path}\"\n"
    "    nginx.ingress.kubernetes.io/session-cookie-secure: \"true\"\n"
    "    nginx.ingress.kubernetes.io/session-cookie-samesite: \"Lax\"\n"
    "    nginx.ingress.kubernetes.io/session-cookie-max-age: \"172800\"\n"
)
"""Source: ingress-nginx docs user-guide/nginx-configuration/annotations.md#session-affinity."""


#: NGINX Inc's (F5) NGINX Ingress Controller: the Ingress annotation that lists, by name, the
#: Services it proxies as WebSockets; a backend not listed gets no Upgrade/Connection headers.
NGINX_INC_WEBSOCKET_SERVICES = "nginx.org/websocket-services"
"""Sources: docs.nginx.com/nginx-ingress-controller/configuration/ingress-resources/
advanced-configuration-with-annotations ("nginx.org/websocket-services: Enables WebSocket for
services"); nginxinc/kubernetes-ingress examples/websocket/README.md at commit e38b8ed
("you need to add the nginx.org/websocket-services annotation", "service1[,service2,...]").
The controller is the IngressClass ``spec.controller``
``nginx.org/ingress-controller`` (its deployments/common/ingress-class.yaml, class ``nginx``),
image ``nginx/nginx-ingress`` (NGINX Plus: ``nginx-plus-ingress``)."""
