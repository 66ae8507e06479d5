"""From host and path to the routes that serve them: Ingress, HTTPRoute, IngressRoute and
VirtualService rules, with their hosts, paths, backends and controller.

Pure functions over a :class:`ClusterSnapshot`; the live client and the lint command both
use them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from wsdoctor.kube.ingress_class import CONTROLLER_NAMES as CONTROLLER_NAMES
from wsdoctor.kube.ingress_class import ingress_controller as ingress_controller
from wsdoctor.kube.nginx_paths import nginx_path_regex, with_nginx_regex
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, field_path
from wsdoctor.models import Model

TRAEFIK_GROUPS = ("traefik.io", "traefik.containo.us")
ISTIO_GROUP = "networking.istio.io"
GATEWAY_GROUP = "gateway.networking.k8s.io"

class Backend(Model):
    """A Service port a route sends traffic to."""

    namespace: str
    service: str
    port: str | int | None = None
    field: str
    """Where the route names it (``spec.rules[0].http.paths[0].backend``)."""


class RouteRule(Model):
    """One routing rule of a route object: hosts, a path and its backends."""

    kind: str
    api_version: str
    namespace: str
    name: str
    hosts: list[str]
    """Host patterns; empty matches every host."""
    path: str = "/"
    path_type: str = "Prefix"
    backends: list[Backend]
    field: str
    controller: str = "unknown"
    class_name: str | None = None
    """IngressClass, GatewayClass or Istio Gateway the route binds to."""
    nginx_regex: bool = False
    """ingress-nginx matches this path as ``location ~* "^PATH"``: use-regex or a
    rewrite-target on an Ingress of the same host (see :func:`with_nginx_regex`)."""


def host_matches(pattern: str, host: str) -> bool:
    """Kubernetes host matching: exact, or ``*.example.com`` covering exactly one label."""
    if pattern.startswith("~"):  # a regular expression (Traefik HostRegexp)
        try:
            return re.fullmatch(pattern[1:], host.rstrip("."), re.IGNORECASE) is not None
        except re.error:
            return False
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern in ("", "*"):
        return True
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def path_matches(path_type: str, pattern: str, path: str, nginx_regex: bool = False) -> bool:
    """Ingress/Gateway path matching: Exact, element-wise Prefix, or a regular expression;
    ``nginx_regex``: ingress-nginx's ``~* "^PATH"`` whatever the path type."""
    if nginx_regex:
        compiled = nginx_path_regex(pattern)
        return compiled is not None and compiled.match(path) is not None
    if path_type in ("Exact",):
        return path == pattern
    if path_type in ("RegularExpression", "Regex"):
        try:
            return re.match(pattern, path) is not None
        except re.error:
            return False
    prefix = pattern.rstrip("/")
    return not prefix or path == prefix or path.startswith(prefix + "/")


def ingress_rules(snap: ClusterSnapshot, obj: KubeObject) -> Iterator[RouteRule]:
    ns = obj.namespace or "default"
    controller, cls = ingress_controller(snap, obj)
    base: dict[str, Any] = {
        "kind": obj.kind,
        "api_version": obj.api_version,
        "namespace": ns,
        "name": obj.name,
        "controller": controller,
        "class_name": cls,
    }

    def backend(raw: Any, where: str) -> list[Backend]:
        raw = raw or {}
        if raw.get("serviceName"):  # extensions / networking.k8s.io v1beta1
            port = raw.get("servicePort")
            return [
                Backend(
                    namespace=ns,
                    service=str(raw["serviceName"]),
                    port=int(port) if isinstance(port, str) and port.isdigit() else port,
                    field=where,
                )
            ]
        svc = raw.get("service") or {}
        if not svc.get("name"):
            return []
        port = svc.get("port") or {}
        return [
            Backend(
                namespace=ns,
                service=str(svc["name"]),
                port=port.get("name") or port.get("number"),
                field=where,
            )
        ]

    for key in ("defaultBackend", "backend"):  # ``backend`` before networking.k8s.io/v1
        if obj.spec.get(key):
            where = field_path("spec", key)
            yield RouteRule(
                **base, hosts=[], backends=backend(obj.spec[key], where), field=where
            )
    for i, rule in enumerate(obj.spec.get("rules") or []):
        host = rule.get("host")
        for j, path in enumerate((rule.get("http") or {}).get("paths") or []):
            where = field_path("spec", "rules", i, "http", "paths", j)
            yield RouteRule(
                **base,
                hosts=[host] if host else [],
                path=str(path.get("path") or "/"),
                path_type=str(path.get("pathType") or "Prefix"),
                backends=backend(path.get("backend"), f"{where}.backend"),
                field=where,
            )


def gateway_controller(snap: ClusterSnapshot, gateway: KubeObject | None) -> str:
    """Controller of a Gateway API Gateway, from its GatewayClass."""
    if gateway is None:
        return "unknown"
    klass = snap.find("GatewayClass", None, str(gateway.spec.get("gatewayClassName", "")))
    name = str(klass.spec.get("controllerName", "")) if klass else ""
    return next((c for p, c in CONTROLLER_NAMES.items() if name.startswith(p)), "unknown")


def _httproute_rules(snap: ClusterSnapshot, obj: KubeObject) -> Iterator[RouteRule]:
    ns = obj.namespace or "default"
    parents = obj.spec.get("parentRefs") or []
    gateway = None
    for parent in parents:
        if parent.get("kind", "Gateway") == "Gateway":
            gateway = snap.find(
                "Gateway",
                parent.get("namespace") or ns,
                str(parent.get("name")),
                group=GATEWAY_GROUP,
            )
            if gateway is not None and gateway.group == GATEWAY_GROUP:
                break
            gateway = None
    hosts = [str(h) for h in obj.spec.get("hostnames") or []]
    if not hosts and gateway is not None:
        hosts = [
            str(li["hostname"]) for li in gateway.spec.get("listeners") or [] if li.get("hostname")
        ]
    for i, rule in enumerate(obj.spec.get("rules") or []):
        backends = [
            Backend(
                namespace=str(ref.get("namespace") or ns),
                service=str(ref["name"]),
                port=ref.get("port"),
                field=field_path("spec", "rules", i, "backendRefs", k),
            )
            for k, ref in enumerate(rule.get("backendRefs") or [])
            if ref.get("name") and ref.get("kind", "Service") == "Service"
        ]
        matches = rule.get("matches") or [{}]
        for match in matches:
            path = match.get("path") or {}
            yield RouteRule(
                kind=obj.kind,
                api_version=obj.api_version,
                namespace=ns,
                name=obj.name,
                hosts=hosts,
                path=str(path.get("value") or "/"),
                path_type={"PathPrefix": "Prefix"}.get(str(path.get("type")), "Prefix")
                if path.get("type") != "Exact"
                else "Exact",
                backends=backends,
                field=field_path("spec", "rules", i),
                controller=gateway_controller(snap, gateway),
                class_name=gateway.name if gateway else None,
            )


_TRAEFIK_HOST = re.compile(r"Host(?:SNI)?\(([^)]*)\)")
_TRAEFIK_HOST_REGEXP = re.compile(r"HostRegexp\(\s*`([^`]*)`")


def _traefik_regexp(expr: str) -> str:
    """``~regex`` for host_matches: v3 takes a Go regex; v2 ``{name:re}``/``{name}`` forms are
    rewritten to groups."""
    expr = re.sub(r"\{[^}:]+:([^}]+)\}", r"(\1)", expr)
    expr = re.sub(r"\{[^}]+\}", r"[^.]+", expr)
    return "~" + expr.removeprefix("^").removesuffix("$")


_TRAEFIK_PATH = re.compile(r"(PathPrefix|Path)\(\s*`([^`]*)`")


def _traefikservice_backends(
    snap: ClusterSnapshot | None, ns: str, services: list[Any], index: int
) -> list[Backend]:
    """The Services behind the weighted TraefikServices a route names (one level deep)."""
    found: list[Backend] = []
    for k, svc in enumerate(services):
        if snap is None or not isinstance(svc, dict) or svc.get("kind") != "TraefikService":
            continue
        tsvc_ns = str(svc.get("namespace") or ns)
        tsvc = snap.find("TraefikService", tsvc_ns, str(svc.get("name")))
        weighted = (tsvc.spec.get("weighted") or {}) if tsvc is not None else {}
        for child in weighted.get("services") or []:
            if isinstance(child, dict) and child.get("name") and \
                    child.get("kind", "Service") == "Service":
                found.append(Backend(
                    namespace=str(child.get("namespace") or tsvc_ns),
                    service=str(child["name"]), port=child.get("port"),
                    field=field_path("spec", "routes", index, "services", k)))
    return found


def _ingressroute_rules(obj: KubeObject, snap: ClusterSnapshot | None = None
                        ) -> Iterator[RouteRule]:
    ns = obj.namespace or "default"
    for i, route in enumerate(obj.spec.get("routes") or []):
        match = str(route.get("match") or "")
        hosts = [
            h for group in _TRAEFIK_HOST.findall(match) for h in re.findall(r"`([^`]*)`", group)
        ]
        hosts += [_traefik_regexp(expr) for expr in _TRAEFIK_HOST_REGEXP.findall(match)]
        paths = _TRAEFIK_PATH.findall(match) or [("PathPrefix", "/")]
        backends = [
            Backend(
                namespace=str(svc.get("namespace") or ns),
                service=str(svc["name"]),
                port=svc.get("port"),
                field=field_path("spec", "routes", i, "services", k),
            )
            for k, svc in enumerate(route.get("services") or [])
            if svc.get("name") and svc.get("kind", "Service") == "Service"
        ]
        backends += _traefikservice_backends(snap, ns, route.get("services") or [], i)
        for kind, path in paths:
            yield RouteRule(
                kind=obj.kind,
                api_version=obj.api_version,
                namespace=ns,
                name=obj.name,
                hosts=hosts,
                path=path,
                path_type="Exact" if kind == "Path" else "Prefix",
                backends=backends,
                field=field_path("spec", "routes", i),
                controller="traefik",
            )


def istio_service(host: str, namespace: str) -> tuple[str, str]:
    """(namespace, name) of the Service an Istio destination host names."""
    parts = host.split(".")
    if len(parts) >= 2 and (len(parts) == 2 or parts[2] == "svc"):
        return parts[1], parts[0]
    return namespace, parts[0]


def _virtualservice_rules(obj: KubeObject) -> Iterator[RouteRule]:
    ns = obj.namespace or "default"
    hosts = [str(h) for h in obj.spec.get("hosts") or []]
    gateways = [str(g) for g in obj.spec.get("gateways") or []]
    for i, http in enumerate(obj.spec.get("http") or []):
        backends = []
        for k, route in enumerate(http.get("route") or []):
            dest = route.get("destination") or {}
            if not dest.get("host"):
                continue
            svc_ns, svc = istio_service(str(dest["host"]), ns)
            port = (dest.get("port") or {}).get("number")
            backends.append(
                Backend(
                    namespace=svc_ns,
                    service=svc,
                    port=port,
                    field=field_path("spec", "http", i, "route", k, "destination"),
                )
            )
        for match in http.get("match") or [{}]:
            uri = match.get("uri") or {}
            kind = next(iter(uri), "prefix")
            yield RouteRule(
                kind=obj.kind,
                api_version=obj.api_version,
                namespace=ns,
                name=obj.name,
                hosts=hosts,
                path=str(uri.get(kind) or "/"),
                path_type={"exact": "Exact", "regex": "Regex"}.get(kind, "Prefix"),
                backends=backends,
                field=field_path("spec", "http", i),
                controller="istio",
                class_name=gateways[0] if gateways else None,
            )


def _is_mesh_route(obj: KubeObject) -> bool:
    """An HTTPRoute attached only to Services or Linkerd Servers (GAMMA, mesh policy): it
    routes traffic inside the mesh, not from outside, and serves no host."""
    parents = obj.spec.get("parentRefs") or []
    return bool(parents) and all(p.get("kind", "Gateway") != "Gateway" for p in parents)


def route_rules(snap: ClusterSnapshot) -> list[RouteRule]:
    """Every routing rule of every route object in the snapshot."""
    return snap.memo("route-rules", lambda: _route_rules(snap))


def _route_rules(snap: ClusterSnapshot) -> list[RouteRule]:
    return with_nginx_regex(snap, _all_route_rules(snap))


def _all_route_rules(snap: ClusterSnapshot) -> list[RouteRule]:
    rules: list[RouteRule] = []
    for obj in snap.objects:
        if obj.kind == "Ingress":
            rules.extend(ingress_rules(snap, obj))
        elif obj.kind == "HTTPRoute" and obj.group == GATEWAY_GROUP and not _is_mesh_route(obj):
            rules.extend(_httproute_rules(snap, obj))
        elif obj.kind == "IngressRoute" and obj.group in TRAEFIK_GROUPS:
            rules.extend(_ingressroute_rules(obj, snap))
        elif obj.kind == "VirtualService" and obj.group == ISTIO_GROUP:
            rules.extend(_virtualservice_rules(obj))
    return rules


def routes_for(snap: ClusterSnapshot, host: str, path: str) -> list[RouteRule]:
    """The rules that match host and path, most specific first (exact host, longest path).
    A query string is not part of the path routes match (``/ws?token=…`` is ``/ws``)."""
    path = path.split("?", 1)[0]
    found = [
        r
        for r in route_rules(snap)
        if (not r.hosts or any(host_matches(h, host) for h in r.hosts))
        and path_matches(r.path_type, r.path, path, r.nginx_regex)
    ]
    return sorted(
        found,
        key=lambda r: (
            not any(h.lower() == host.lower() for h in r.hosts),
            not r.hosts,
            -len(r.path),
            r.path_type != "Exact",
        ),
    )
