"""Every timeout configured on the path of a route that can end an open WebSocket, with the
object and field that sets it (or the component default that applies when nothing does)."""

from __future__ import annotations

import json

from wsdoctor.kube import backends, discover
from wsdoctor.kube.configured import ConfiguredTimeout as ConfiguredTimeout
from wsdoctor.kube.discover import RouteRule
from wsdoctor.kube.rulebase import parse_go_duration, parse_haproxy_time, parse_unitless_seconds
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, annotation_field, field_path

NGINX = "nginx.ingress.kubernetes.io/"
NGINX_DEFAULT_TIMEOUT = 60
AWS_IDLE = "service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout"
AZURE_IDLE = "service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout"
DO_IDLE = "service.beta.kubernetes.io/do-loadbalancer-http-idle-timeout-seconds"
ALB_ATTRIBUTES = "alb.ingress.kubernetes.io/load-balancer-attributes"
BACKEND_CONFIG = ("cloud.google.com/backend-config", "beta.cloud.google.com/backend-config")


def nginx_configmap(snap: ClusterSnapshot) -> KubeObject | None:
    """The ConfigMap the ingress-nginx controller reads (its ``--configmap`` flag)."""
    for ns, name in backends.controller_configmaps(snap, "ingress-nginx"):
        found = snap.find("ConfigMap", ns, name)
        if found is not None:
            return found
    return None


def passthrough(ingress: KubeObject) -> bool:
    """An ingress-nginx Ingress whose TLS stream goes to the pod untouched (layer 4)."""
    return ingress.annotations.get(NGINX + "ssl-passthrough") == "true"


#: Annotation prefixes of haproxy-ingress (jcmoraisjr): its own and the legacy one.
HAPROXY_INGRESS_PREFIXES = ("haproxy-ingress.github.io/", "ingress.kubernetes.io/")


def nginx_timeout(snap: ClusterSnapshot, ingress: KubeObject, key: str) -> ConfiguredTimeout:
    """Effective ingress-nginx timeout: a valid annotation, else the ConfigMap, else 60 s."""
    raw = ingress.annotations.get(NGINX + key)
    value = parse_unitless_seconds(raw) if raw is not None else None
    if value is not None:
        return ConfiguredTimeout(
            component="ingress-nginx",
            setting=key,
            seconds=value,
            scope="idle",
            resource=ingress.resource(annotation_field(NGINX + key)),
        )
    cm = nginx_configmap(snap)
    if cm is not None and key in cm.data:
        value = parse_unitless_seconds(cm.data[key])
        if value is not None:
            return ConfiguredTimeout(
                component="ingress-nginx",
                setting=key,
                seconds=value,
                scope="idle",
                resource=cm.resource(field_path("data", key)),
            )
    return ConfiguredTimeout(
        component="ingress-nginx",
        setting=key,
        seconds=NGINX_DEFAULT_TIMEOUT,
        scope="idle",
        default=True,
        resource=ingress.resource(annotation_field(NGINX + key)),
    )


def haproxy_tunnel(snap: ClusterSnapshot, controller: str, route: KubeObject) -> ConfiguredTimeout:
    """HAProxy ``timeout tunnel``: annotation (haproxy-ingress only), ConfigMap, or 1 h."""
    key = "timeout-tunnel"
    if controller == "haproxy-ingress":
        for prefix in HAPROXY_INGRESS_PREFIXES:
            raw = route.annotations.get(prefix + key)
            value = parse_haproxy_time(raw) if raw else None
            if value is not None:
                return ConfiguredTimeout(
                    component=controller,
                    setting=key,
                    seconds=value,
                    scope="idle",
                    resource=route.resource(annotation_field(prefix + key)),
                )
    for ns, name in backends.controller_configmaps(snap, controller):
        cm = snap.find("ConfigMap", ns, name)
        if cm is not None and key in cm.data:
            value = parse_haproxy_time(cm.data[key])
            if value is not None:
                return ConfiguredTimeout(
                    component=controller,
                    setting=key,
                    seconds=value,
                    scope="idle",
                    resource=cm.resource(field_path("data", key)),
                )
    return ConfiguredTimeout(
        component=controller, setting=key, seconds=3600, scope="idle", default=True
    )


def destination_rules_for(snap: ClusterSnapshot, namespace: str, service: str) -> list[KubeObject]:
    """Istio DestinationRules whose host is the Service."""

    def index() -> dict[tuple[str, str], list[KubeObject]]:
        by_service: dict[tuple[str, str], list[KubeObject]] = {}
        for dr in snap.of_kind("DestinationRule"):
            host = str(dr.spec.get("host", ""))
            key = discover.istio_service(host, dr.namespace or "default")
            by_service.setdefault(key, []).append(dr)
        return by_service

    return snap.memo("destination-rules", index).get((namespace, service), [])


def lb_service_timeouts(svc: KubeObject) -> list[ConfiguredTimeout]:
    """Cloud load-balancer idle timeouts set by annotations on a LoadBalancer Service."""
    found = []
    for key, component, factor in (
        (AWS_IDLE, "AWS ELB", 1.0),
        (AZURE_IDLE, "Azure Load Balancer", 60.0),
        (DO_IDLE, "DigitalOcean LB", 1.0),
    ):
        raw = svc.annotations.get(key)
        if raw is not None and raw.strip().isdigit():
            found.append(
                ConfiguredTimeout(
                    component=component,
                    setting=key,
                    seconds=int(raw) * factor,
                    scope="idle",
                    resource=svc.resource(annotation_field(key)),
                )
            )
    return found


def alb_idle(ingress: KubeObject) -> ConfiguredTimeout:
    """AWS ALB idle timeout from ``load-balancer-attributes`` (default 60 s)."""
    raw = ingress.annotations.get(ALB_ATTRIBUTES, "")
    for part in raw.split(","):
        key, _, value = part.strip().partition("=")
        if key == "idle_timeout.timeout_seconds" and value.strip().isdigit():
            return ConfiguredTimeout(
                component="AWS ALB",
                setting="idle_timeout.timeout_seconds",
                seconds=int(value),
                scope="idle",
                resource=ingress.resource(annotation_field(ALB_ATTRIBUTES)),
            )
    return ConfiguredTimeout(
        component="AWS ALB",
        setting="idle_timeout.timeout_seconds",
        seconds=60,
        scope="idle",
        default=True,
        resource=ingress.resource(annotation_field(ALB_ATTRIBUTES)),
    )


def backend_config_timeout(snap: ClusterSnapshot, svc: KubeObject) -> ConfiguredTimeout | None:
    """GKE BackendConfig ``timeoutSec`` for a Service (a total-lifetime limit for WebSocket)."""
    for key in BACKEND_CONFIG:
        raw = svc.annotations.get(key)
        if not raw:
            continue
        try:
            names = json.loads(raw)
        except ValueError:
            continue
        refs = [names.get("default"), *list((names.get("ports") or {}).values())]
        for name in filter(None, refs):
            bc = snap.find("BackendConfig", svc.namespace, str(name))
            if bc is not None and isinstance(bc.spec.get("timeoutSec"), int):
                return ConfiguredTimeout(
                    component="GCP backend service",
                    setting="timeoutSec",
                    seconds=bc.spec["timeoutSec"],
                    scope="lifetime",
                    resource=bc.resource(field_path("spec", "timeoutSec")),
                )
    return None


def path_timeouts(snap: ClusterSnapshot, route: RouteRule) -> list[ConfiguredTimeout]:
    """Timeouts that apply to an upgraded connection on this route, outermost first."""
    obj = snap.find(route.kind, route.namespace, route.name)
    if obj is None:
        return []
    found: list[ConfiguredTimeout] = []
    for svc in backends.load_balancer_services(snap, route.controller):
        found.extend(lb_service_timeouts(svc))
    if route.controller == "aws-alb":
        found.append(alb_idle(obj))
    if route.controller == "ingress-nginx" and obj.kind == "Ingress" and not passthrough(obj):
        found.append(nginx_timeout(snap, obj, "proxy-read-timeout"))
        found.append(nginx_timeout(snap, obj, "proxy-send-timeout"))
    if route.controller in ("haproxytech", "haproxy-ingress"):
        found.append(haproxy_tunnel(snap, route.controller, obj))
    if obj.kind == "HTTPRoute":
        index = int(route.field.rsplit("[", 1)[1].rstrip("]"))
        timeouts = ((obj.spec.get("rules") or [{}])[index].get("timeouts")) or {}
        for key in ("request", "backendRequest"):
            seconds = parse_go_duration(str(timeouts.get(key, "")))
            if seconds:
                found.append(
                    ConfiguredTimeout(
                        component=f"Gateway API ({route.controller})",
                        setting=f"timeouts.{key}",
                        seconds=seconds,
                        scope="lifetime",
                        resource=obj.resource(f"{route.field}.timeouts.{key}"),
                    )
                )
    for backend in route.backends:
        backend_svc = snap.find("Service", backend.namespace, backend.service)
        if backend_svc is not None:
            bc = backend_config_timeout(snap, backend_svc)
            if bc is not None:
                found.append(bc)
            elif route.controller == "gce":
                found.append(
                    ConfiguredTimeout(
                        component="GCP backend service",
                        setting="timeoutSec",
                        seconds=30,
                        scope="lifetime",
                        default=True,
                        resource=backend_svc.resource(
                            f'metadata.annotations["{BACKEND_CONFIG[0]}"]'
                        ),
                    )
                )
        for dr in destination_rules_for(snap, backend.namespace, backend.service):
            tcp = ((dr.spec.get("trafficPolicy") or {}).get("connectionPool") or {}).get("tcp")
            seconds = parse_go_duration(str((tcp or {}).get("idleTimeout", "")))
            if seconds:
                found.append(
                    ConfiguredTimeout(
                        component="Istio sidecar (tcp_proxy)",
                        setting="connectionPool.tcp.idleTimeout",
                        seconds=seconds,
                        scope="idle",
                        resource=dr.resource("spec.trafficPolicy.connectionPool.tcp.idleTimeout"),
                    )
                )
    return found
