"""From host and path to what serves them: routes (Ingress, HTTPRoute, IngressRoute,
VirtualService) → controller → backend Service and port → EndpointSlices → Pods.

Pure functions over a :class:`ClusterSnapshot`; the live client and the lint command both
use them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, field_path
from wsdoctor.models import Model

TRAEFIK_GROUPS = ("traefik.io", "traefik.containo.us")
ISTIO_GROUP = "networking.istio.io"
GATEWAY_GROUP = "gateway.networking.k8s.io"

#: IngressClass ``spec.controller`` / GatewayClass ``spec.controllerName`` → controller id.
CONTROLLER_NAMES = {
    "k8s.io/ingress-nginx": "ingress-nginx",
    "traefik.io/ingress-controller": "traefik",
    "traefik.io/gateway-controller": "traefik",
    "haproxy.org/ingress-controller": "haproxytech",
    "haproxy-ingress.github.io/controller": "haproxy-ingress",
    "istio.io/ingress-controller": "istio",
    "istio.io/gateway-controller": "istio",
    "gateway.envoyproxy.io/gatewayclass-controller": "envoy-gateway",
    "ingress.k8s.aws/alb": "aws-alb",
}
#: Controllers whose pods wsdoctor recognises by image (see :func:`image_controller`).
CONTROLLERS_BY_IMAGE = ("ingress-nginx", "haproxytech", "haproxy-ingress", "traefik", "istio")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod")


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


def path_matches(path_type: str, pattern: str, path: str) -> bool:
    """Ingress/Gateway path matching: Exact, element-wise Prefix, or a regular expression."""
    if path_type in ("Exact",):
        return path == pattern
    if path_type in ("RegularExpression", "Regex"):
        try:
            return re.match(pattern, path) is not None
        except re.error:
            return False
    prefix = pattern.rstrip("/")
    return not prefix or path == prefix or path.startswith(prefix + "/")


def ingress_controller(snap: ClusterSnapshot, obj: KubeObject) -> tuple[str, str | None]:
    cls = obj.spec.get("ingressClassName") or obj.annotations.get("kubernetes.io/ingress.class")
    if cls is None:
        default = next(
            (
                c
                for c in snap.of_kind("IngressClass")
                if c.annotations.get("ingressclass.kubernetes.io/is-default-class") == "true"
            ),
            None,
        )
        cls = default.name if default else None
    if cls:
        klass = snap.find("IngressClass", None, cls)
        if klass is not None:
            name = str(klass.spec.get("controller", ""))
            for prefix, controller in CONTROLLER_NAMES.items():
                if name.startswith(prefix):
                    return controller, cls
        for word, controller in (
            ("nginx", "ingress-nginx"),
            ("traefik", "traefik"),
            ("haproxy", "haproxytech"),
            ("istio", "istio"),
            ("alb", "aws-alb"),
        ):
            if word in cls:
                return controller, cls
    for key in obj.annotations:
        if key.startswith("nginx.ingress.kubernetes.io/"):
            return "ingress-nginx", cls
        if key.startswith("haproxy.org/"):
            return "haproxytech", cls
        if key.startswith("haproxy-ingress.github.io/"):
            return "haproxy-ingress", cls
        if key.startswith("traefik.ingress.kubernetes.io/"):
            return "traefik", cls
    return "unknown", cls


def ingress_rules(snap: ClusterSnapshot, obj: KubeObject) -> Iterator[RouteRule]:
    ns = obj.namespace or "default"
    controller, cls = ingress_controller(snap, obj)
    base = {
        "kind": obj.kind,
        "api_version": obj.api_version,
        "namespace": ns,
        "name": obj.name,
        "controller": controller,
        "class_name": cls,
    }

    def backend(raw: Any, where: str) -> list[Backend]:
        svc = (raw or {}).get("service") or {}
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

    if obj.spec.get("defaultBackend"):
        where = field_path("spec", "defaultBackend")
        yield RouteRule(
            **base, hosts=[], backends=backend(obj.spec["defaultBackend"], where), field=where
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
            gateway = snap.find("Gateway", parent.get("namespace") or ns, str(parent.get("name")))
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


def _ingressroute_rules(obj: KubeObject) -> Iterator[RouteRule]:
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


def route_rules(snap: ClusterSnapshot) -> list[RouteRule]:
    """Every routing rule of every route object in the snapshot."""
    rules: list[RouteRule] = []
    for obj in snap.objects:
        if obj.kind == "Ingress":
            rules.extend(ingress_rules(snap, obj))
        elif obj.kind == "HTTPRoute" and obj.group == GATEWAY_GROUP:
            rules.extend(_httproute_rules(snap, obj))
        elif obj.kind == "IngressRoute" and obj.group in TRAEFIK_GROUPS:
            rules.extend(_ingressroute_rules(obj))
        elif obj.kind == "VirtualService" and obj.group == ISTIO_GROUP:
            rules.extend(_virtualservice_rules(obj))
    return rules


def routes_for(snap: ClusterSnapshot, host: str, path: str) -> list[RouteRule]:
    """The rules that match host and path, most specific first (exact host, longest path)."""
    found = [
        r
        for r in route_rules(snap)
        if (not r.hosts or any(host_matches(h, host) for h in r.hosts))
        and path_matches(r.path_type, r.path, path)
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


def pod_templates(snap: ClusterSnapshot) -> Iterator[tuple[KubeObject, dict[str, Any], str]]:
    """(owner, pod template, field prefix) for workloads and bare Pods."""
    for obj in snap.of_kind(*WORKLOAD_KINDS):
        if obj.kind == "Pod":
            yield obj, {"metadata": {"labels": obj.labels}, "spec": obj.spec}, "spec"
        elif obj.kind != "ReplicaSet" or not obj.body.get("ownerReferences"):
            template = obj.spec.get("template") or {}
            yield obj, template, field_path("spec", "template", "spec")


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Equality selector (Service ``spec.selector``, ``matchLabels``) and ``matchExpressions``."""
    if "matchLabels" in selector or "matchExpressions" in selector:
        if not all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items()):
            return False
        for expr in selector.get("matchExpressions") or []:
            key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
            if op == "In" and labels.get(key) not in values:
                return False
            if op == "NotIn" and labels.get(key) in values:
                return False
            if op == "Exists" and key not in labels:
                return False
            if op == "DoesNotExist" and key in labels:
                return False
        return True
    return all(labels.get(str(k)) == str(v) for k, v in selector.items())


def selected_templates(
    snap: ClusterSnapshot, namespace: str | None, selector: dict[str, Any]
) -> list[tuple[KubeObject, dict[str, Any], str]]:
    """Pod templates (and Pods) in ``namespace`` whose labels the selector matches."""
    if not selector:
        return []
    return [
        (owner, tpl, prefix)
        for owner, tpl, prefix in pod_templates(snap)
        if owner.namespace == namespace
        and selector_matches(selector, (tpl.get("metadata") or {}).get("labels") or {})
    ]


def service_port(service: KubeObject, port: str | int | None) -> dict[str, Any] | None:
    """The Service port a backend names (by name or number; the only port when unnamed)."""
    ports = service.spec.get("ports") or []
    if port is None:
        return ports[0] if len(ports) == 1 else None
    for entry in ports:
        if (isinstance(port, int) and entry.get("port") == port) or entry.get("name") == port:
            return dict(entry)
    return None


def endpoint_slices(snap: ClusterSnapshot, namespace: str, service: str) -> list[KubeObject]:
    """EndpointSlices of a Service (label ``kubernetes.io/service-name``)."""
    return [
        s
        for s in snap.of_kind("EndpointSlice")
        if s.namespace == namespace and s.labels.get("kubernetes.io/service-name") == service
    ]


def endpoint_counts(slices: list[KubeObject]) -> dict[str, int]:
    """Endpoints by condition: ready, serving, terminating (unset ready counts as ready)."""
    counts = {"total": 0, "ready": 0, "serving": 0, "terminating": 0}
    for slice_ in slices:
        for endpoint in slice_.body.get("endpoints") or []:
            cond = endpoint.get("conditions") or {}
            counts["total"] += 1
            counts["ready"] += cond.get("ready") is not False
            counts["serving"] += cond.get("serving", cond.get("ready")) is not False
            counts["terminating"] += cond.get("terminating") is True
    return counts


def image_controller(image: str, labels: dict[str, str]) -> str | None:
    """The controller a container image runs, if it is one. Istio's proxy image also runs
    every sidecar, so only gateway pods (``istio: ingressgateway``) count as Istio's."""
    repository = image.split("@")[0].rsplit(":", 1)[0]
    name = repository.rsplit("/", 1)[-1]
    if "ingress-nginx/controller" in repository:
        return "ingress-nginx"
    if "haproxytech/kubernetes-ingress" in repository:
        return "haproxytech"
    if name == "haproxy-ingress":
        return "haproxy-ingress"
    if name == "traefik":
        return "traefik"
    if name == "proxyv2" and "gateway" in labels.get("istio", labels.get("app", "")):
        return "istio"
    return None


def controller_workloads(snap: ClusterSnapshot, controller: str) -> list[KubeObject]:
    """Workloads (or Pods) whose container image is this controller's."""
    found = []
    for owner, tpl, _ in pod_templates(snap):
        labels = (tpl.get("metadata") or {}).get("labels") or {}
        images = [str(c.get("image", "")) for c in (tpl.get("spec") or {}).get("containers") or []]
        if any(image_controller(image, labels) == controller for image in images):
            found.append(owner)
    return found


def container_args(template: dict[str, Any]) -> list[str]:
    """Every ``args``/``command`` entry of every container of a pod template."""
    return [
        str(a)
        for c in (template.get("spec") or {}).get("containers") or []
        for a in [*(c.get("command") or []), *(c.get("args") or [])]
    ]


def template_of(obj: KubeObject) -> dict[str, Any]:
    """The pod template of a workload, or a Pod's own spec as one."""
    if obj.kind == "Pod":
        return {"metadata": {"labels": obj.labels}, "spec": obj.spec}
    return dict(obj.spec.get("template") or {})


def flag_value(args: list[str], flag: str) -> str | None:
    """``--flag=value`` or ``--flag value`` from container args."""
    for i, arg in enumerate(args):
        if arg.startswith(f"{flag}="):
            return arg.split("=", 1)[1]
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
    return None


def controller_configmaps(snap: ClusterSnapshot, controller: str) -> list[tuple[str, str]]:
    """(namespace, name) of the ConfigMaps the controller's ``--configmap`` flag names."""
    found = []
    for owner in controller_workloads(snap, controller):
        value = flag_value(container_args(template_of(owner)), "--configmap")
        if value:
            value = value.replace("$(POD_NAMESPACE)", owner.namespace or "default")
            ns, _, name = value.rpartition("/")
            found.append((ns or owner.namespace or "default", name))
    return found


def load_balancer_services(snap: ClusterSnapshot, controller: str) -> list[KubeObject]:
    """``type: LoadBalancer`` Services that select the controller's pods."""
    owners = controller_workloads(snap, controller)
    found = []
    for svc in snap.of_kind("Service"):
        if svc.spec.get("type") != "LoadBalancer":
            continue
        selector = svc.spec.get("selector") or {}
        for owner in owners:
            labels = (template_of(owner).get("metadata") or {}).get("labels") or {}
            if owner.namespace == svc.namespace and selector and selector_matches(selector, labels):
                found.append(svc)
                break
    return found


def lb_addresses(services: list[KubeObject]) -> list[str]:
    """External addresses (IP or hostname) from the Services' load-balancer status."""
    return [
        str(entry.get("ip") or entry.get("hostname"))
        for svc in services
        for entry in (svc.status.get("loadBalancer") or {}).get("ingress") or []
        if entry.get("ip") or entry.get("hostname")
    ]
