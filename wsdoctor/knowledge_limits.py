"""What caps the number of WebSocket connections, and how each cap refuses the next one: the
facts a load run needs to name the setting behind a measured cap. Each entry names its
source; where the lab measures the real binary, the test that does so.

A cap is recognised twice: by its *refusal* (what the client sees at the cap: a status, a
close code, a reset, silence), and, when the cluster is readable, by the *setting* whose
value explains the number (:mod:`wsdoctor.kube.limits`).
"""

from __future__ import annotations

from typing import Literal

from wsdoctor.records import dataclass

Signature = Literal["http", "close", "reset", "stall", "tcp-refused"]
"""How a refusal looks: an HTTP status instead of the 101; a close frame right after the
101; the connection reset or closed before any response; no answer at all (a stall); the
TCP connection itself refused."""


@dataclass(frozen=True)
class CapKind:
    """One kind of connection cap: who applies it, how it counts and how it refuses."""

    key: str
    component: str
    setting: str
    counts: str
    """What is counted, and per what."""
    refuses: str
    """What the client at the cap sees."""
    signature: Signature
    status: int | None
    """The HTTP status of an ``http`` refusal (None: any)."""
    source: str
    rate: bool = False
    """A limit on new connections per second (refusals come and go), not on their number."""


CAP_KINDS: tuple[CapKind, ...] = (
    CapKind(
        "nginx-limit-connections", "ingress-nginx", "limit-connections",
        "connections per client address and controller replica, each WebSocket for its "
        "whole life",
        "HTTP 503 (ConfigMap limit-conn-status-code) from nginx",
        "http", 503,
        "ingress-nginx docs/user-guide/nginx-configuration/annotations.md 'Rate Limiting'; "
        "measured on nginx 1.22 with limit_conn 20: the 21st connection gets 503 "
        "(tests/integration/test_load_lab.py)",
    ),
    CapKind(
        "nginx-limit-rps", "ingress-nginx", "limit-rps / limit-rpm",
        "new upgrades per second (or minute) per client address, with a burst of "
        "limit-burst-multiplier (default 5) times the rate",
        "HTTP 503 (ConfigMap limit-req-status-code) from nginx, now and then: attempts after a "
        "refusal succeed again as the bucket refills",
        "http", 503,
        "ingress-nginx annotations.md 'Rate Limiting'; configmap.md limit-req-status-code",
        rate=True,
    ),
    CapKind(
        "nginx-worker-connections", "ingress-nginx", "max-worker-connections",
        "connections per nginx worker (default 16384), two per proxied WebSocket (the "
        "client's and the upstream's) and one per listener",
        "the connection reset or closed before any response (nginx logs 'worker_connections "
        "are not enough')",
        "reset", None,
        "nginx docs ngx_core_module worker_connections; ingress-nginx configmap.md "
        "max-worker-connections; measured on nginx 1.22 with worker_connections 64: 31 "
        "WebSockets, then resets (tests/integration/test_load_lab.py)",
    ),
    CapKind(
        "haproxy-maxconn", "HAProxy", "maxconn",
        "client connections per HAProxy instance (haproxytech ConfigMap maxconn, "
        "haproxy-ingress max-connections)",
        "nothing: HAProxy stops accepting, new connections wait unanswered in the kernel's "
        "accept queue and, once it is full, SYNs go unanswered",
        "stall", None,
        "HAProxy configuration.txt 'maxconn' (global, frontend); measured on HAProxy 2.6 with "
        "maxconn 30: the 31st connection gets no response (tests/integration/test_load_lab.py)",
    ),
    CapKind(
        "haproxy-server-maxconn", "HAProxy", "server maxconn",
        "connections per backend pod (haproxytech pod-maxconn, shared among the HAProxy "
        "instances; haproxy-ingress maxconn-server); the excess waits in HAProxy's queue",
        "no response until 'timeout queue', then HTTP 503",
        "stall", 503,
        "HAProxy configuration.txt 'maxconn' (server) and 'timeout queue'; haproxytech "
        "documentation/annotations.md pod-maxconn",
    ),
    CapKind(
        "envoy-max-connections", "Istio (Envoy)", "connectionPool.tcp.maxConnections",
        "upstream connections per Envoy (gateway or sidecar) to the service, one per "
        "WebSocket; http1MaxPendingRequests queues the excess",
        "HTTP 503 with x-envoy-overloaded: true and 'upstream connect error or "
        "disconnect/reset before headers. reset reason: overflow'",
        "http", 503,
        "istio networking/v1 destination_rule.proto ConnectionPoolSettings; Envoy circuit "
        "breaking docs; envoyproxy/envoy#20020 (KNOWLEDGE.md §2.13)",
    ),
    CapKind(
        "traefik-inflightreq", "Traefik", "inFlightReq.amount",
        "requests in flight per source and Traefik instance; the source is the request's "
        "Host unless sourceCriterion says otherwise, so every client of the host shares it; "
        "each WebSocket counts for its whole life",
        "HTTP 429 Too Many Requests, body 'max connections reached: N'",
        "http", 429,
        "Traefik docs middlewares/http/inflightreq (inFlightConn is the TCP routers' "
        "middleware); traefik pkg/middlewares/inflightreq/inflight_req.go (no sourceCriterion: "
        "RequestHost); measured on Traefik 3.7.15 with amount 25: the 26th upgrade gets 429 "
        "(tests/integration/test_load_lab.py)",
    ),
    CapKind(
        "application", "the application", "connection limit",
        "connections per replica, as the application counts them (MAX_CONNECTIONS or "
        "the like)",
        "an accepted upgrade closed at once (often 1013 Try Again Later, or 1008), or an HTTP "
        "503 before the upgrade",
        "close", None,
        "RFC 6455 §7.4 and the IANA close-code registry (1013 Try Again Later); measured on "
        "the lab backend with max_connections 40 (tests/integration/test_load_lab.py)",
    ),
)


def cap_kind(key: str) -> CapKind:
    """The entry named ``key``; KeyError for an unknown one."""
    for kind in CAP_KINDS:
        if kind.key == key:
            return kind
    raise KeyError(key)


def signature_of(cause: str, status: int | None) -> Signature:
    """How a refusal of this cause looks (see :mod:`wsdoctor.load.causes` for the texts)."""
    if status is not None and cause.startswith("HTTP "):
        return "http"
    if cause.startswith("closed after the upgrade"):
        return "close"
    if cause == "TCP connection refused":
        return "tcp-refused"
    if cause.startswith("no "):
        return "stall"
    return "reset"


def kinds_refusing(signature: Signature, status: int | None,
                   answered_by: tuple[str, ...] = (), rate: bool = False) -> list[CapKind]:
    """The caps that refuse this way, most likely first (the component that answered, when
    known, decides between those of the same signature); ``rate`` for refusals that came and
    went, else caps on the number of connections."""
    names = " ".join(answered_by).lower()
    # ingress-nginx's limits answer the ConfigMap's limit-conn/limit-req-status-code: any
    # status nginx itself sends may be theirs
    restatused = signature == "http" and "nginx" in names
    found = [k for k in CAP_KINDS if k.signature == signature and k.rate == rate
             and (k.status is None or status is None or k.status == status
                  or (restatused and k.component == "ingress-nginx"))]
    if signature == "http" and status == 503 and not rate:
        found.append(cap_kind("application"))

    def rank(kind: CapKind) -> int:
        component = kind.component.lower().split(" ")[0]
        return 0 if component in names or (component == "ingress-nginx" and "nginx" in names) \
            or (component == "istio" and "envoy" in names) else 1

    return sorted(found, key=rank)
