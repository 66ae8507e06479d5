"""The configuration of the lab's Traefik: the sites, routes, entry-point timeouts and sticky
cookies of :mod:`wsdoctor.lab.traefik`, the broken variants of issue 11, and how they render
as Traefik's static configuration and file-provider dynamic configuration."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from wsdoctor.lab.certs import CertPair
from wsdoctor.lab.process import free_port


@dataclass
class StickyCookie:
    """A service's ``sticky.cookie`` (Traefik's defaults: a generated name, Path=/ only)."""

    name: str | None = None
    """None: Traefik names it ``_`` + 5 hex digits of a SHA-1 of the service's name."""
    secure: bool = False
    http_only: bool = False
    same_site: Literal["", "none", "lax", "strict"] = ""
    path: str | None = None
    """None: Traefik's default, ``/``."""

    def config(self) -> dict[str, Any]:
        cookie: dict[str, Any] = {}
        if self.name:
            cookie["name"] = self.name
        if self.secure:
            cookie["secure"] = True
        if self.http_only:
            cookie["httpOnly"] = True
        if self.same_site:
            cookie["sameSite"] = self.same_site
        if self.path is not None:
            cookie["path"] = self.path
        return {"cookie": cookie}


@dataclass
class RateLimit:
    """A ``rateLimit`` middleware: ``average`` requests per ``period``, ``burst`` at once."""

    average: int = 100
    period: str = "1s"
    burst: int = 50


@dataclass
class TraefikRoute:
    """One router and the services behind it, like one IngressRoute route."""

    name: str = "ws"
    path: str = "/ws"
    """The router's ``PathPrefix``."""
    replicas: list[int] = field(default_factory=list)
    """Backend ports on 127.0.0.1; empty: a service without servers (no ready endpoints)."""
    weighted: bool = True
    """A ``weighted`` service over one loadBalancer service per replica (the sticky cookie
    then picks the replica); False: one loadBalancer service with every replica."""
    sticky: StickyCookie | None = None
    rate_limit: RateLimit | None = None
    circuit_breaker: str | None = None
    """A ``circuitBreaker`` expression, e.g. ``NetworkErrorRatio() > 0.5``."""
    request_headers: dict[str, str] = field(default_factory=dict)
    """A headers middleware's ``customRequestHeaders``."""
    in_flight: int | None = None
    """An ``inFlightReq`` middleware's ``amount``: requests in flight at once (every open
    WebSocket is one), per Host by default; above it Traefik answers 429."""
    forwarding_timeouts: dict[str, str] = field(default_factory=dict)
    """The ``serversTransport``'s ``forwardingTimeouts`` (dialTimeout, responseHeaderTimeout,
    idleConnTimeout...); empty: no serversTransport."""


@dataclass
class EntryPointTimeouts:
    """An entry point's ``transport``: ``respondingTimeouts``, keep-alive limits and the
    shutdown grace period (None: Traefik's default)."""

    read: str | None = None
    write: str | None = None
    idle: str | None = None
    keep_alive_max_time: str | None = None
    keep_alive_max_requests: int | None = None
    grace: str | None = None

    def config(self) -> dict[str, Any]:
        transport: dict[str, Any] = {}
        responding = {k: v for k, v in (("readTimeout", self.read), ("writeTimeout", self.write),
                                        ("idleTimeout", self.idle)) if v is not None}
        if responding:
            transport["respondingTimeouts"] = responding
        if self.keep_alive_max_time is not None:
            transport["keepAliveMaxTime"] = self.keep_alive_max_time
        if self.keep_alive_max_requests is not None:
            transport["keepAliveMaxRequests"] = self.keep_alive_max_requests
        if self.grace is not None:
            transport["lifeCycle"] = {"graceTimeOut": self.grace}
        return transport


@dataclass
class TraefikSite:
    """Traefik serving one host: a TLS entry point (plus one per extra timeout set), the
    routers of ``routes`` and, when given, the host's certificate."""

    host: str = "ws.lab.test"
    routes: list[TraefikRoute] = field(default_factory=lambda: [TraefikRoute()])
    tls: CertPair | None = None
    """None: no certificate for the host, so Traefik serves its default certificate."""
    secure: bool = True
    """False: a plain ``web`` entry point (ws://) instead of ``websecure``."""
    timeouts: EntryPointTimeouts = field(default_factory=EntryPointTimeouts)
    extra_entry_points: dict[str, EntryPointTimeouts] = field(default_factory=dict)
    """More entry points with their own transport settings (their ports: ``Traefik.ports``),
    serving the same routers: several settings measured by one Traefik."""
    listen: str = "127.0.0.1"
    port: int = 0
    providers: dict[str, Any] = field(default_factory=dict)
    """More static providers (the Kubernetes CRD provider, for the fake cluster)."""
    http_redirect: bool = False
    """Also a plain ``web`` entry point (``Traefik.ports["web"]``) redirecting to websecure."""
    client_ca: bytes | None = None
    """Require client certificates from this CA (PEM): the default TLS options' clientAuth
    RequireAndVerifyClientCert."""


def healthy_site(host: str, replicas: list[int], cert: CertPair | None) -> TraefikSite:
    """The configuration the seed guide and Traefik's documentation use for WebSockets."""
    return TraefikSite(host=host, tls=cert, routes=[TraefikRoute(
        replicas=replicas,
        sticky=StickyCookie(name="lab_sticky", secure=True, http_only=True, same_site="lax"),
        rate_limit=RateLimit(),
        circuit_breaker="NetworkErrorRatio() > 0.5",
        request_headers={"X-Forwarded-Proto": "https"},
        forwarding_timeouts={"dialTimeout": "5s", "responseHeaderTimeout": "10s",
                             "idleConnTimeout": "90s"},
    )])


Variant = Literal["healthy", "no-certificate", "path-mismatch", "backend-down", "breaker-open",
                  "no-servers", "rate-limited"]


def variant(name: Variant, host: str, replicas: list[int], cert: CertPair) -> TraefikSite:
    """The healthy site, or one of its broken variants (issue 11). ``backend-down`` has no
    circuit breaker, so every request meets the dead servers (Traefik's 502); ``breaker-open``
    keeps it, so once tripped (:func:`trip`) it answers for them (503). ``rate-limited``
    allows one request a minute: :func:`trip` spends it."""
    site = healthy_site(host, replicas, cert)
    route = site.routes[0]
    dead = [free_port(), free_port()]
    if name == "no-certificate":
        site.tls = None
    elif name == "path-mismatch":
        site.routes = [replace(route, path="/socket")]
    elif name == "backend-down":
        site.routes = [replace(route, replicas=dead, circuit_breaker=None)]
    elif name == "breaker-open":
        site.routes = [replace(route, replicas=dead)]
    elif name == "no-servers":
        site.routes = [replace(route, replicas=[], weighted=False, sticky=None)]
    elif name == "rate-limited":
        site.routes = [replace(route, rate_limit=RateLimit(average=1, period="1m", burst=1))]
    return site


def _services(route: TraefikRoute) -> dict[str, Any]:
    """The route's services; the first one is the router's."""
    transport = {"serversTransport": f"{route.name}-transport"} if route.forwarding_timeouts \
        else {}
    sticky = {"sticky": route.sticky.config()} if route.sticky is not None else {}
    if not route.weighted:
        servers = [{"url": f"http://127.0.0.1:{p}"} for p in route.replicas]
        return {route.name: {"loadBalancer": {"servers": servers, **transport, **sticky}}}
    children = {f"{route.name}-r{i + 1}": {"loadBalancer": {
        "servers": [{"url": f"http://127.0.0.1:{port}"}], **transport}}
        for i, port in enumerate(route.replicas)}
    weighted = {"services": [{"name": n, "weight": 1} for n in children], **sticky}
    return {route.name: {"weighted": weighted}, **children}


def render_dynamic(site: TraefikSite, scratch: Path) -> dict[str, Any]:
    """The file provider's dynamic configuration for ``site``."""
    routers: dict[str, Any] = {}
    services: dict[str, Any] = {}
    middlewares: dict[str, Any] = {}
    transports: dict[str, Any] = {}
    entry_points = ["websecure" if site.secure else "web", *site.extra_entry_points]
    for route in site.routes:
        chain = []
        if route.request_headers:
            middlewares[f"{route.name}-headers"] = {
                "headers": {"customRequestHeaders": route.request_headers}}
            chain.append(f"{route.name}-headers")
        if route.in_flight is not None:
            middlewares[f"{route.name}-inflight"] = {"inFlightReq": {"amount": route.in_flight}}
            chain.append(f"{route.name}-inflight")
        if route.rate_limit is not None:
            limit = route.rate_limit
            middlewares[f"{route.name}-ratelimit"] = {"rateLimit": {
                "average": limit.average, "period": limit.period, "burst": limit.burst}}
            chain.append(f"{route.name}-ratelimit")
        if route.circuit_breaker:
            middlewares[f"{route.name}-breaker"] = {
                "circuitBreaker": {"expression": route.circuit_breaker}}
            chain.append(f"{route.name}-breaker")
        if route.forwarding_timeouts:
            transports[f"{route.name}-transport"] = {
                "forwardingTimeouts": dict(route.forwarding_timeouts)}
        router: dict[str, Any] = {
            "rule": f"Host(`{site.host}`) && PathPrefix(`{route.path}`)",
            "entryPoints": entry_points, "service": route.name,
        }
        if chain:
            router["middlewares"] = chain
        if site.secure:
            router["tls"] = {}
        routers[route.name] = router
        services.update(_services(route))
    config: dict[str, Any] = {}
    if routers:
        http: dict[str, Any] = {"routers": routers, "services": services}
        if middlewares:
            http["middlewares"] = middlewares
        if transports:
            http["serversTransports"] = transports
        config["http"] = http
    if site.tls is not None:
        cert, key = site.tls.write(scratch, "site")
        config["tls"] = {"certificates": [{"certFile": str(cert), "keyFile": str(key)}]}
        if site.client_ca is not None:
            ca = scratch / "client-ca.pem"
            ca.write_bytes(site.client_ca)
            config["tls"]["options"] = {"default": {"clientAuth": {
                "caFiles": [str(ca)], "clientAuthType": "RequireAndVerifyClientCert"}}}
    return config


def crd_provider(endpoint: str, token: str, ca_file: Path) -> dict[str, Any]:
    """Static configuration of Traefik's Kubernetes CRD provider for an API server (the lab's
    fake one): it lists and watches IngressRoutes, Middlewares, TraefikServices, Services,
    EndpointSlices and Secrets there."""
    return {"kubernetesCRD": {"endpoint": endpoint, "token": token,
                              "certAuthFilePath": str(ca_file)}}


def render_static(site: TraefikSite, scratch: Path, api_port: int,
                  extra_ports: dict[str, int]) -> dict[str, Any]:
    """The static configuration: entry points, the file provider, the API for readiness."""
    listen = f"[{site.listen}]" if ":" in site.listen else site.listen
    main: dict[str, Any] = {"address": f"{listen}:{site.port}"}
    if transport := site.timeouts.config():
        main["transport"] = transport
    entry_points: dict[str, Any] = {"websecure" if site.secure else "web": main,
                                    "traefik": {"address": f"127.0.0.1:{api_port}"}}
    if site.http_redirect:
        entry_points["web"] = {"address": f"{listen}:{extra_ports['web']}", "http": {
            "redirections": {"entryPoint": {"to": "websecure", "scheme": "https"}}}}
    for name, timeouts in site.extra_entry_points.items():
        entry_points[name] = {"address": f"{listen}:{extra_ports[name]}"}
        if transport := timeouts.config():
            entry_points[name]["transport"] = transport
    return {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "log": {"level": "INFO", "filePath": str(scratch / "traefik.log")},
        "entryPoints": entry_points,
        "api": {"insecure": True, "dashboard": False},
        "providers": {"file": {"filename": str(scratch / "dynamic.yaml"), "watch": False},
                      **site.providers},
    }
