"""Every connection limit configured on the path of the route serving the target, with the
object and field that sets it and the caps it would give one client (a measured cap is
then held against them by :mod:`wsdoctor.load.crosscheck`).

Read: ingress-nginx ``limit-connections``/``limit-rps``/``limit-rpm`` (annotations) and
``max-worker-connections``/``worker-processes`` (ConfigMap); HAProxy ``maxconn`` and
``pod-maxconn`` (haproxytech), ``max-connections``, ``maxconn-server`` and
``limit-connections`` (haproxy-ingress); Istio DestinationRule ``connectionPool``; Traefik
``inFlightReq`` middlewares of an IngressRoute's routes or of an Ingress's
``router.middlewares`` annotation; and the application's own
``MAX_CONNECTIONS``-like setting in its containers' environment or flags.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from wsdoctor.kube import backends
from wsdoctor.kube.discover import RouteRule
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, annotation_field, field_path
from wsdoctor.kube.timeouts import NGINX, destination_rules_for, nginx_configmap
from wsdoctor.models import Fix, Model, Resource

#: Replica counts tried when spreading is unknown: a per-replica limit times 1..this.
MAX_SPREAD = 8
#: nginx listening sockets assumed per worker (ingress-nginx: http, https, status, metrics…).
NGINX_LISTENERS = 8
#: Environment variables and flags that look like an application's connection limit.
APP_LIMIT = re.compile(r"max[_-]?(?:ws[_-]|websocket[_-]|concurrent[_-])?conn(?:ection)?s?$",
                       re.IGNORECASE)
HAPROXYTECH = "haproxy.org/"
HAPROXY_INGRESS = "haproxy-ingress.github.io/"
TRAEFIK_MIDDLEWARES = "traefik.ingress.kubernetes.io/router.middlewares"


class ConfiguredLimit(Model):
    """A connection (or connection-rate) limit on the path, and the caps it allows."""

    kind: str
    """Key of a :data:`wsdoctor.knowledge_limits.CAP_KINDS` entry."""
    component: str
    setting: str
    value: int
    caps: list[int]
    """Connections one client could hold under it (several when it counts per replica and
    the client may have reached 1, 2… replicas); empty for a rate."""
    slack: int = 1
    """How far a measured cap may be from one of ``caps`` and still be this limit."""
    per: str
    """What one unit of ``value`` is counted per."""
    resource: Resource | None = None
    default: bool = False
    fix: Fix | None = None
    status: int | None = None
    """The HTTP status it refuses with when the configuration sets one (ingress-nginx
    ``limit-conn-status-code``); None: its kind's usual refusal."""

    def describe(self) -> str:
        """``ingress-nginx limit-connections 20 (Ingress chat/chat)``."""
        where = " (default)" if self.default else (f" ({self.resource})" if self.resource else "")
        return f"{self.component} {self.setting} {self.value}{where}"


def _int(raw: object) -> int | None:
    text = str(raw).strip()
    return int(text) if text.isdigit() else None


def _replicas(objects: list[KubeObject]) -> int:
    """Replicas of workloads (a DaemonSet or a bare Pod counts as one)."""
    total = 0
    for obj in objects:
        count = _int(obj.spec.get("replicas", 1)) if obj.kind in ("Deployment", "StatefulSet",
                                                                 "ReplicaSet") else 1
        total += count if count is not None else 1
    return max(total, 1)


def _spread(value: int, replicas: int) -> list[int]:
    return [value * k for k in range(1, min(replicas, MAX_SPREAD) + 1)]


def _annotation_fix(prefix: str, key: str, value: int, on: str = "Ingress") -> Fix:
    return Fix(summary=f"Raise {key} on the {on} above the connections you need (or remove it).",
               snippet=f'metadata:\n  annotations:\n    {prefix}{key}: "{value}"\n',
               language="yaml")


def _configmap_fix(key: str, value: int) -> Fix:
    return Fix(summary=f"Raise {key} in the controller's ConfigMap.",
               snippet=f'data:\n  {key}: "{value}"\n', language="yaml")


def path_limits(snap: ClusterSnapshot, route: RouteRule | None,
                ready_pods: int | None = None) -> list[ConfiguredLimit]:
    """The limits on the path of ``route`` (the route serving the target)."""
    if route is None:
        return []
    obj = snap.find(route.kind, route.namespace, route.name)
    if obj is None:
        return []
    controllers = _replicas(backends.controller_workloads(snap, route.controller))
    found: list[ConfiguredLimit] = []
    if route.controller == "ingress-nginx":
        found += _nginx(snap, obj, controllers)
    elif route.controller in ("haproxytech", "haproxy-ingress"):
        found += _haproxy(snap, obj, route, controllers, ready_pods)
    elif route.controller == "traefik":
        found += _traefik(snap, obj, controllers)
    found += _istio(snap, route)
    found += _application(snap, route, ready_pods)
    return found


def _nginx(snap: ClusterSnapshot, ing: KubeObject, controllers: int) -> Iterator[ConfiguredLimit]:
    a = ing.annotations
    cm = nginx_configmap(snap)
    data = cm.data if cm is not None else {}
    value = _int(a.get(NGINX + "limit-connections", ""))
    if value:
        yield ConfiguredLimit(
            kind="nginx-limit-connections", component="ingress-nginx",
            setting="limit-connections", value=value, caps=_spread(value, controllers),
            per="client address, per controller replica",
            resource=ing.resource(annotation_field(NGINX + "limit-connections")),
            fix=_annotation_fix(NGINX, "limit-connections", max(value * 10, 1000)),
            status=_int(data.get("limit-conn-status-code", "")))
    for key in ("limit-rps", "limit-rpm"):
        rate = _int(a.get(NGINX + key, ""))
        if rate:
            yield ConfiguredLimit(
                kind="nginx-limit-rps", component="ingress-nginx", setting=key, value=rate,
                caps=[], per="client address, per controller replica",
                resource=ing.resource(annotation_field(NGINX + key)),
                fix=_annotation_fix(NGINX, key, rate * 10),
                status=_int(data.get("limit-req-status-code", "")))
    raw = data.get("max-worker-connections")
    connections = _int(raw) if raw is not None else 16384
    if not connections:  # 0: max-worker-open-files decides; unknown here
        return
    workers_raw = data.get("worker-processes", "auto")
    workers = _int(workers_raw)
    per_worker = max((connections - NGINX_LISTENERS) // 2, 1)
    spread = [per_worker * w for w in ([workers] if workers else range(1, 65))]
    yield ConfiguredLimit(
        kind="nginx-worker-connections", component="ingress-nginx",
        setting="max-worker-connections", value=connections,
        caps=[c * r for c in spread for r in range(1, min(controllers, MAX_SPREAD) + 1)],
        slack=NGINX_LISTENERS, per=f"nginx worker ({workers_raw} workers), two per WebSocket",
        resource=cm.resource(field_path("data", "max-worker-connections"))
        if cm is not None and raw is not None else None,
        default=raw is None, fix=_configmap_fix("max-worker-connections", connections * 4))


def _haproxy(snap: ClusterSnapshot, obj: KubeObject, route: RouteRule, controllers: int,
             ready_pods: int | None) -> Iterator[ConfiguredLimit]:
    tech = route.controller == "haproxytech"
    prefix = HAPROXYTECH if tech else HAPROXY_INGRESS
    maps = [snap.find("ConfigMap", ns, name)
            for ns, name in backends.controller_configmaps(snap, route.controller)]
    configmaps = [cm for cm in maps if cm is not None]
    key = "maxconn" if tech else "max-connections"
    for cm in configmaps:
        value = _int(cm.data.get(key, ""))
        if value:
            yield ConfiguredLimit(
                kind="haproxy-maxconn", component=route.controller, setting=key, value=value,
                caps=_spread(value, controllers), per="HAProxy instance",
                resource=cm.resource(field_path("data", key)), fix=_configmap_fix(key, value * 4))
    services = [snap.find("Service", b.namespace, b.service) for b in route.backends]
    server_key = "pod-maxconn" if tech else "maxconn-server"
    holders = [o for o in (obj, *services, *configmaps) if o is not None]
    for holder in holders:
        raw = holder.data.get(server_key) if holder.kind == "ConfigMap" else \
            holder.annotations.get(prefix + server_key)
        value = _int(raw) if raw is not None else None
        if value:
            pods = ready_pods or 1
            # haproxytech divides pod-maxconn among its instances; haproxy-ingress does not.
            total = value * pods if tech else value * pods * controllers
            where = field_path("data", server_key) if holder.kind == "ConfigMap" else \
                annotation_field(prefix + server_key)
            yield ConfiguredLimit(
                kind="haproxy-server-maxconn", component=route.controller, setting=server_key,
                value=value, caps=sorted({total, value}), per="backend pod",
                resource=holder.resource(where),
                fix=_annotation_fix(prefix, server_key, value * 4, holder.kind))
    if not tech:
        value = _int(obj.annotations.get(prefix + "limit-connections", ""))
        if value:
            yield ConfiguredLimit(
                kind="nginx-limit-connections", component=route.controller,
                setting="limit-connections", value=value, caps=_spread(value, controllers),
                per="client address, per HAProxy instance",
                resource=obj.resource(annotation_field(prefix + "limit-connections")),
                fix=_annotation_fix(prefix, "limit-connections", value * 10))


def _istio(snap: ClusterSnapshot, route: RouteRule) -> Iterator[ConfiguredLimit]:
    gateways = _replicas(backends.controller_workloads(snap, "istio")) \
        if backends.controller_workloads(snap, "istio") else 1
    for backend in route.backends:
        for dr in destination_rules_for(snap, backend.namespace, backend.service):
            policy = dr.spec.get("trafficPolicy") or {}
            tcp = (policy.get("connectionPool") or {}).get("tcp") or {}
            value = tcp.get("maxConnections")
            if isinstance(value, int) and value > 0:
                yield ConfiguredLimit(
                    kind="envoy-max-connections", component="Istio",
                    setting="connectionPool.tcp.maxConnections", value=value,
                    caps=_spread(value, gateways), per="Envoy (gateway or sidecar) instance",
                    resource=dr.resource("spec.trafficPolicy.connectionPool.tcp.maxConnections"),
                    fix=Fix(summary="Raise maxConnections above the WebSockets you expect "
                            "(every WebSocket holds one upstream connection).",
                            snippet=f"trafficPolicy:\n  connectionPool:\n    tcp:\n      "
                            f"maxConnections: {value * 10}\n", language="yaml"))


def _traefik_middlewares(snap: ClusterSnapshot, obj: KubeObject
                         ) -> Iterator[tuple[KubeObject, str]]:
    """(Middleware, where it is used) for each middleware on the route: an IngressRoute's
    ``routes[].middlewares``, or an Ingress's ``router.middlewares`` annotation
    (``namespace-name@kubernetescrd``: the namespace may itself hold dashes, so every split
    is tried)."""
    for index, rule in enumerate(obj.spec.get("routes") or []):
        refs = rule.get("middlewares") if isinstance(rule, dict) else None
        for ref in refs if isinstance(refs, list) else []:
            if isinstance(ref, dict):
                mw = snap.find("Middleware", str(ref.get("namespace") or obj.namespace),
                               str(ref.get("name")))
                if mw is not None:
                    yield mw, f"route {index} of {obj.ref}"
    listed = obj.annotations.get(TRAEFIK_MIDDLEWARES, "")
    for entry in (e.strip() for e in listed.split(",")):
        name, _, provider = entry.partition("@")
        if provider not in ("", "kubernetescrd"):
            continue
        for cut in (i for i, c in enumerate(name) if c == "-"):
            mw = snap.find("Middleware", name[:cut], name[cut + 1:])
            if mw is not None:
                yield mw, f"the {TRAEFIK_MIDDLEWARES} annotation of {obj.ref}"
                break


def _traefik(snap: ClusterSnapshot, obj: KubeObject,
             controllers: int) -> Iterator[ConfiguredLimit]:
    for mw, used in _traefik_middlewares(snap, obj):
        amount = _int((mw.spec.get("inFlightReq") or {}).get("amount", ""))
        if amount:
            yield ConfiguredLimit(
                kind="traefik-inflightreq", component="Traefik",
                setting="inFlightReq.amount", value=amount,
                caps=_spread(amount, controllers),
                per="source (the request's Host by default), per Traefik instance",
                resource=mw.resource("spec.inFlightReq.amount"),
                fix=Fix(summary=f"Raise the Middleware's amount (it is on {used}), or remove "
                        "it from the WebSocket route: every open WebSocket is a request in "
                        "flight.",
                        snippet=f"spec:\n  inFlightReq:\n    amount: {amount * 10}\n",
                        language="yaml"))


def _application(snap: ClusterSnapshot, route: RouteRule,
                 ready_pods: int | None) -> Iterator[ConfiguredLimit]:
    for backend in route.backends:
        svc = snap.find("Service", backend.namespace, backend.service)
        if svc is None:
            continue
        for owner, template, _ in backends.selected_templates(
                snap, svc.namespace, svc.spec.get("selector") or {}):
            pods = ready_pods or _replicas([owner])
            prefix = "spec" if owner.kind == "Pod" else "spec.template.spec"
            for i, container in enumerate((template.get("spec") or {}).get("containers") or []):
                if not isinstance(container, dict):
                    continue
                for name, value, where in _app_settings(container, f"{prefix}.containers[{i}]"):
                    yield ConfiguredLimit(
                        kind="application", component=f"the application ({owner.ref})",
                        setting=name, value=value, caps=sorted({value, value * pods}),
                        per="replica", resource=owner.resource(where),
                        fix=Fix(summary=f"Raise {name} on {owner.ref}, or run more replicas "
                                f"(each takes {value})."))


def _app_settings(container: dict[str, object], at: str) -> Iterator[tuple[str, int, str]]:
    """(name, value, field) of each setting that looks like a connection limit."""
    env = container.get("env")
    for j, var in enumerate(env if isinstance(env, list) else []):
        if isinstance(var, dict) and APP_LIMIT.search(str(var.get("name", ""))):
            value = _int(var.get("value", ""))
            if value:
                yield str(var["name"]), value, f"{at}.env[{j}].value"
    args = container.get("args")
    for j, arg in enumerate(args if isinstance(args, list) else []):
        flag, sep, raw = str(arg).lstrip("-").partition("=")
        value = _int(raw) if sep else None
        if value and APP_LIMIT.search(flag):
            yield f"--{flag}", value, f"{at}.args[{j}]"
