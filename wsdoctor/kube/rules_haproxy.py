"""Rules for both HAProxy controllers: haproxytech (``haproxy.org/``) and jcmoraisjr
haproxy-ingress (``haproxy-ingress.github.io/``)."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.codes import Code
from wsdoctor.kube import backends, discover
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions, human_seconds, parse_haproxy_time
from wsdoctor.kube.snapshot import ClusterSnapshot, annotation_field
from wsdoctor.kube.timeouts import haproxy_tunnel
from wsdoctor.models import Finding, Fix, Status

INGRESS_IGNORED = Code(
    "WSD-HAPROXY-INGRESS-IGNORED",
    Status.WARN,
    "haproxytech ignores this annotation on an Ingress",
)
TUNNEL_SHORT = Code(
    "WSD-HAPROXY-TUNNEL-SHORT", Status.WARN, "HAProxy timeout tunnel closes idle WebSockets early"
)
TIME_INVALID = Code("WSD-HAPROXY-TIME-INVALID", Status.FAIL, "HAProxy will not parse this time")
CODES = (INGRESS_IGNORED, TUNNEL_SHORT, TIME_INVALID)

SERVICE_ONLY = ("timeout-tunnel", "cookie-persistence")


def rules_for_haproxy(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Annotation placement, time syntax, and the tunnel timeout that governs WebSocket."""
    for ing in snap.of_kind("Ingress"):
        controller = discover.ingress_controller(snap, ing)[0]
        for key in SERVICE_ONLY:
            name = f"haproxy.org/{key}"
            if name in ing.annotations:
                where = "the ConfigMap" if key == "timeout-tunnel" else "the backend Service"
                yield INGRESS_IGNORED.finding(
                    CHECK_ID,
                    f"{ing.ref}: {name} is read from {where} only (Service/ConfigMap scope); on "
                    "an Ingress it is ignored.",
                    resource=ing.resource(annotation_field(name)),
                    fix=Fix(
                        summary=f"Move {key} to {where}.",
                        snippet=(
                            f"# ConfigMap of the controller\ndata:\n  {key}: "
                            f'"{ing.annotations[name]}"\n'
                            if key == "timeout-tunnel"
                            else f"# Service\nmetadata:\n  annotations:\n    {name}: "
                            f"{ing.annotations[name]}\n"
                        ),
                        language="yaml",
                    ),
                )
        for name, raw in ing.annotations.items():
            prefixes = ("haproxy.org/timeout-", "haproxy-ingress.github.io/timeout-")
            if name.startswith(prefixes) and parse_haproxy_time(raw) is None:
                yield TIME_INVALID.finding(
                    CHECK_ID,
                    f"{ing.ref}: {name}: {raw!r} is not an HAProxy time (a number of "
                    "milliseconds, or with a unit: 30s, 1h).",
                    resource=ing.resource(annotation_field(name)),
                    evidence={"annotation": name, "value": raw},
                    fix=Fix(summary="Write it as e.g. 3600s or 1h."),
                )
        if controller in ("haproxytech", "haproxy-ingress"):
            tunnel = haproxy_tunnel(snap, controller, ing)
            if tunnel.seconds < options.expect_idle:
                yield TUNNEL_SHORT.finding(
                    CHECK_ID,
                    f"{ing.ref} ({controller}): timeout tunnel is {human_seconds(tunnel.seconds)}; "
                    "it governs an upgraded connection, so a WebSocket silent for longer is cut.",
                    resource=tunnel.resource or ing.resource(),
                    evidence={"seconds": tunnel.seconds},
                    fix=Fix(
                        summary="Raise timeout-tunnel in the controller ConfigMap.",
                        snippet='data:\n  timeout-tunnel: "1h"\n',
                        language="yaml",
                    ),
                )
    for cm in snap.of_kind("ConfigMap"):
        for key in ("timeout-tunnel", "timeout-client", "timeout-server"):
            value = cm.data.get(key)
            if (
                value is not None
                and parse_haproxy_time(value) is None
                and _is_haproxy_configmap(snap, cm.namespace, cm.name)
            ):
                yield TIME_INVALID.finding(
                    CHECK_ID,
                    f"{cm.ref}: {key}: {value!r} is not an HAProxy time.",
                    resource=cm.resource(f"data.{key}"),
                    evidence={"key": key, "value": value},
                    fix=Fix(summary="Write it as e.g. 3600s or 1h."),
                )


def _is_haproxy_configmap(snap: ClusterSnapshot, namespace: str | None, name: str) -> bool:
    return (
        any(
            (ns, n) == (namespace, name)
            for controller in ("haproxytech", "haproxy-ingress")
            for ns, n in backends.controller_configmaps(snap, controller)
        )
        or "haproxy" in name
    )
