"""Rules for Gateway API and cloud load balancers in front of any controller."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.codes import Code
from wsdoctor.kube import discover
from wsdoctor.kube.absent import missing
from wsdoctor.kube.discover import GATEWAY_GROUP
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions, human_seconds
from wsdoctor.kube.snapshot import ClusterSnapshot, field_path
from wsdoctor.kube.timeouts import path_timeouts
from wsdoctor.kube.websocket import websocket_scope
from wsdoctor.models import Finding, Fix, Status

PARENT_MISSING = Code(
    "WSD-GATEWAY-PARENT-MISSING", Status.FAIL, "HTTPRoute parent Gateway not found"
)
HOSTNAME_MISMATCH = Code(
    "WSD-GATEWAY-HOSTNAME-MISMATCH", Status.FAIL, "HTTPRoute hostname matches no Gateway listener"
)
ROUTE_TIMEOUT = Code("WSD-GATEWAY-TIMEOUT-SHORT", Status.WARN, "HTTPRoute timeout ends WebSockets")
LB_IDLE_SHORT = Code(
    "WSD-LB-IDLE-SHORT", Status.WARN, "Cloud load balancer timeout ends WebSockets early"
)
CODES = (PARENT_MISSING, HOSTNAME_MISMATCH, ROUTE_TIMEOUT, LB_IDLE_SHORT)


def rules_for_gateway_api(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Parents exist, hostnames meet a listener, no request timeout cuts upgraded streams."""
    for route in snap.of_kind("HTTPRoute"):
        if route.group != GATEWAY_GROUP:
            continue
        hostnames = [str(h) for h in route.spec.get("hostnames") or []]
        for i, parent in enumerate(route.spec.get("parentRefs") or []):
            if parent.get("kind", "Gateway") != "Gateway":
                continue
            ns = parent.get("namespace") or route.namespace
            gateway = snap.find("Gateway", ns, str(parent.get("name")), group=GATEWAY_GROUP)
            if gateway is None or gateway.group != GATEWAY_GROUP:
                yield missing(
                    snap,
                    PARENT_MISSING,
                    "Gateway",
                    ns,
                    str(parent.get("name")),
                    detail=f"{route.ref}: parent Gateway {ns}/{parent.get('name')} does not "
                    "exist; the route is not attached and serves nothing.",
                    resource=route.resource(field_path("spec", "parentRefs", i)),
                    fix=Fix(summary="Name an existing Gateway (and its namespace)."),
                    referrer=route.ref,
                )
                continue
            listeners = [
                str(li["hostname"])
                for li in gateway.spec.get("listeners") or []
                if li.get("hostname")
            ]
            if (
                hostnames
                and listeners
                and len(listeners) == len(gateway.spec.get("listeners") or [])
            ) and not any(
                discover.host_matches(li, h) or discover.host_matches(h, li)
                for li in listeners
                for h in hostnames
            ):
                yield HOSTNAME_MISMATCH.finding(
                    CHECK_ID,
                    f"{route.ref}: hostnames {', '.join(hostnames)} match no listener of "
                    f"{gateway.ref} ({', '.join(listeners)}); the route is not accepted.",
                    resource=route.resource("spec.hostnames"),
                    fix=Fix(summary="Add a listener for the hostname, or fix the hostname."),
                )
    scope = websocket_scope(snap, options)
    seen: set[str] = set()
    for rule in discover.route_rules(snap):
        if not scope.rule(rule):
            continue
        silence = scope.silence(rule.kind, rule.namespace, rule.name, options.expect_idle)
        for timeout in path_timeouts(snap, rule):
            key = f"{timeout.component} {timeout.setting} {timeout.resource}"
            limit = silence if timeout.scope == "idle" else options.expect_idle
            if key in seen or timeout.seconds >= limit:
                continue
            seen.add(key)
            if timeout.default and timeout.component not in ("AWS ALB", "GCP backend service"):
                continue
            if timeout.component.startswith("Gateway API"):
                code, summary = (
                    ROUTE_TIMEOUT,
                    "Remove the request timeout for the WebSocket rule (or set it above the "
                    "connection lifetime).",
                )
                snippet = "rules:\n- timeouts:\n    request: 0s\n"
            elif timeout.setting in ("timeoutSec",) or timeout.component.startswith(
                ("AWS", "Azure", "DigitalOcean")
            ):
                code, summary = LB_IDLE_SHORT, f"Raise the {timeout.component} timeout."
                snippet = _LB_SNIPPETS.get(timeout.component, "")
            else:
                continue
            yield code.finding(
                CHECK_ID,
                f"{timeout.resource}: {timeout.component} {timeout.setting} is "
                f"{human_seconds(timeout.seconds)} ({'its default, ' if timeout.default else ''}"
                f"{timeout.scope}); WebSockets through "
                f"{rule.kind} {rule.namespace}/{rule.name} are closed "
                + (
                    "after that long even with traffic."
                    if timeout.scope == "lifetime"
                    else "after that much silence."
                ),
                resource=timeout.resource,
                evidence={
                    "component": timeout.component,
                    "seconds": timeout.seconds,
                    "scope": timeout.scope,
                },
                fix=Fix(
                    summary=summary, snippet=snippet or None, language="yaml" if snippet else None
                ),
            )


_LB_SNIPPETS = {
    "AWS ELB": "metadata:\n  annotations:\n    "
    'service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout: "3600"\n',
    "AWS ALB": "metadata:\n  annotations:\n    "
    "alb.ingress.kubernetes.io/load-balancer-attributes: idle_timeout.timeout_seconds=3600\n",
    "Azure Load Balancer": "metadata:\n  annotations:\n    "
    'service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout: "30"\n',
    "DigitalOcean LB": "metadata:\n  annotations:\n    "
    'service.beta.kubernetes.io/do-loadbalancer-http-idle-timeout-seconds: "3600"\n',
    "GCP backend service": "apiVersion: cloud.google.com/v1\nkind: BackendConfig\nmetadata:\n"
    "  name: websocket\nspec:\n  timeoutSec: 86400\n---\n# on the Service\nmetadata:\n"
    '  annotations:\n    cloud.google.com/backend-config: \'{"default": "websocket"}\'\n',
}
