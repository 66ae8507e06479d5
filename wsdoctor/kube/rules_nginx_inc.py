"""Rules for NGINX Inc's (F5) NGINX Ingress Controller (``nginx.org/`` annotations, the
IngressClass controller ``nginx.org/ingress-controller``; not the community ingress-nginx).

It proxies an Ingress backend with the WebSocket headers (``proxy_http_version 1.1``,
``Upgrade``, ``Connection``) only when the Service is listed in the Ingress's
``nginx.org/websocket-services`` annotation; any other backend gets the upgrade stripped
(:data:`wsdoctor.knowledge.NGINX_INC_WEBSOCKET_SERVICES` has the sources)."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.codes import Code
from wsdoctor.knowledge import NGINX_INC_WEBSOCKET_SERVICES as KEY
from wsdoctor.kube import discover
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions
from wsdoctor.kube.snapshot import ClusterSnapshot, annotation_field
from wsdoctor.kube.websocket import websocket_scope
from wsdoctor.models import Finding, Fix, Status

WEBSOCKET_SERVICES = Code(
    "WSD-NGINXINC-WEBSOCKET-SERVICES",
    Status.FAIL,
    "NGINX Inc's controller passes WebSocket upgrades only to Services it lists",
)
CODES = (WEBSOCKET_SERVICES,)


def listed_services(value: str) -> list[str]:
    """The Service names of a ``nginx.org/websocket-services`` value (comma-separated)."""
    return [s.strip() for s in value.split(",") if s.strip()]


def rules_for_nginx_inc(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """A WebSocket rule of an Ingress served by NGINX Inc's controller whose Service is not in
    the Ingress's ``nginx.org/websocket-services``: the upgrade never reaches the pod."""
    scope = websocket_scope(snap, options)
    seen: set[tuple[str, str, str]] = set()
    for ing in snap.of_kind("Ingress"):
        if discover.ingress_controller(snap, ing)[0] != "nginx-inc":
            continue
        listed = listed_services(ing.annotations.get(KEY, ""))
        for rule in discover.ingress_rules(snap, ing):
            if not scope.rule(rule):
                continue
            for backend in rule.backends:
                key = (ing.namespace or "default", ing.name, backend.service)
                if backend.service in listed or key in seen:
                    continue
                seen.add(key)
                wanted = ",".join([*listed, backend.service])
                field = annotation_field(KEY) if KEY in ing.annotations else "metadata.annotations"
                yield WEBSOCKET_SERVICES.finding(
                    CHECK_ID,
                    f"{ing.ref} sends {rule.path} to Service {backend.service}, which its "
                    f"{KEY} annotation does not list"
                    + (f" (it lists {', '.join(listed)})" if listed else " (it has none)")
                    + ": NGINX Inc's controller proxies that Service without the Upgrade and "
                    "Connection headers, so WebSocket handshakes never reach the pod.",
                    title=f"Service {backend.service} is not in {KEY}",
                    resource=ing.resource(field),
                    evidence={"service": backend.service, "listed": ", ".join(listed),
                              "path": rule.path},
                    fix=Fix(
                        summary=f"List the Service in {KEY} on {ing.ref} (comma-separated "
                        "Service names of the Ingress's namespace).",
                        snippet=f'metadata:\n  annotations:\n    {KEY}: "{wanted}"\n',
                        language="yaml",
                    ),
                )
