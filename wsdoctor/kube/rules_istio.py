"""Rules for Istio: VirtualService and DestinationRule fields that break or cut WebSockets,
Service port naming, and Gateway TLS credentials."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wsdoctor.codes import Code
from wsdoctor.kube.discover import ISTIO_GROUP
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions, human_seconds, parse_go_duration
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, field_path
from wsdoctor.models import Finding, Fix, Status

WEBSOCKET_UPGRADE = Code(
    "WSD-ISTIO-WEBSOCKET-UPGRADE", Status.WARN, "websocketUpgrade was removed from VirtualService"
)
LB_CONFLICT = Code(
    "WSD-ISTIO-LB-CONFLICT", Status.FAIL, "DestinationRule sets both simple and consistentHash"
)
H2_UPGRADE = Code("WSD-ISTIO-H2-UPGRADE", Status.FAIL, "h2UpgradePolicy UPGRADE breaks WebSocket")
ONE_REQUEST = Code(
    "WSD-ISTIO-ONE-REQUEST-PER-CONN", Status.WARN, "maxRequestsPerConnection 1 disables keep-alive"
)
CONN_LIMIT = Code(
    "WSD-ISTIO-CONN-LIMIT", Status.WARN, "Connection pool limit caps concurrent WebSockets"
)
DEPRECATED = Code("WSD-ISTIO-DEPRECATED-FIELD", Status.INFO, "Deprecated Istio field")
PORT_PROTOCOL = Code(
    "WSD-ISTIO-PORT-PROTOCOL", Status.WARN, "Service port protocol left to Istio's sniffing"
)
TCP_IDLE = Code(
    "WSD-ISTIO-TCP-IDLE", Status.WARN, "Istio TCP idle timeout closes idle WebSockets early"
)
CREDENTIAL_MISSING = Code(
    "WSD-ISTIO-CREDENTIAL-MISSING", Status.FAIL, "Gateway TLS credential secret not found"
)
CODES = (
    WEBSOCKET_UPGRADE,
    LB_CONFLICT,
    H2_UPGRADE,
    ONE_REQUEST,
    CONN_LIMIT,
    DEPRECATED,
    PORT_PROTOCOL,
    TCP_IDLE,
    CREDENTIAL_MISSING,
)

#: Below this, a connection-pool limit is reached by ordinary WebSocket fan-in.
LOW_LIMIT = 1000
PROTOCOL_PREFIXES = (
    "http",
    "http2",
    "https",
    "grpc",
    "grpc-web",
    "tcp",
    "tls",
    "mongo",
    "mysql",
    "redis",
    "udp",
)


def _policies(dr: KubeObject) -> Iterator[tuple[str, dict[str, Any]]]:
    top = dr.spec.get("trafficPolicy")
    if isinstance(top, dict):
        yield "spec.trafficPolicy", top
    for i, subset in enumerate(dr.spec.get("subsets") or []):
        if isinstance(subset.get("trafficPolicy"), dict):
            yield field_path("spec", "subsets", i, "trafficPolicy"), subset["trafficPolicy"]


def _destination_rule(dr: KubeObject, options: RuleOptions) -> Iterator[Finding]:
    for where, policy in _policies(dr):
        lb = policy.get("loadBalancer") or {}
        if "simple" in lb and "consistentHash" in lb:
            yield LB_CONFLICT.finding(
                CHECK_ID,
                f"{dr.ref}: loadBalancer sets simple ({lb['simple']}) and consistentHash; they "
                "are alternatives (a oneof) and the rule is rejected.",
                resource=dr.resource(f"{where}.loadBalancer"),
                fix=Fix(summary="Keep consistentHash (for affinity) and remove simple."),
            )
        pool = policy.get("connectionPool") or {}
        http, tcp = pool.get("http") or {}, pool.get("tcp") or {}
        if http.get("h2UpgradePolicy") == "UPGRADE":
            yield H2_UPGRADE.finding(
                CHECK_ID,
                f"{dr.ref}: h2UpgradePolicy UPGRADE sends HTTP/1.1 upgrades over HTTP/2, which "
                "needs RFC 8441 extended CONNECT; WebSocket upgrades fail.",
                resource=dr.resource(f"{where}.connectionPool.http.h2UpgradePolicy"),
                fix=Fix(
                    summary="Do not upgrade this host to HTTP/2.",
                    snippet="trafficPolicy:\n  connectionPool:\n    http:\n      "
                    "h2UpgradePolicy: DO_NOT_UPGRADE\n",
                    language="yaml",
                ),
            )
        if http.get("maxRequestsPerConnection") == 1:
            yield ONE_REQUEST.finding(
                CHECK_ID,
                f"{dr.ref}: maxRequestsPerConnection 1 closes the upstream connection after each "
                "request (no keep-alive).",
                resource=dr.resource(f"{where}.connectionPool.http.maxRequestsPerConnection"),
                fix=Fix(summary="Remove maxRequestsPerConnection (0 = unlimited)."),
            )
        for section, key in (
            (tcp, "maxConnections"),
            (http, "http2MaxRequests"),
            (http, "http1MaxPendingRequests"),
        ):
            value = section.get(key)
            if isinstance(value, int) and 0 < value < LOW_LIMIT:
                part = "tcp" if section is tcp else "http"
                yield CONN_LIMIT.finding(
                    CHECK_ID,
                    f"{dr.ref}: {key} {value}; every WebSocket holds one connection and one "
                    f"request for its whole life, so connection {value + 1} gets 503 "
                    "'upstream connect error ... overflow'.",
                    resource=dr.resource(f"{where}.connectionPool.{part}.{key}"),
                    evidence={key: value},
                    fix=Fix(summary=f"Raise {key} above the expected number of open WebSockets."),
                )
        seconds = parse_go_duration(str(tcp.get("idleTimeout", "")))
        if seconds and seconds < options.expect_idle:
            yield TCP_IDLE.finding(
                CHECK_ID,
                f"{dr.ref}: connectionPool.tcp.idleTimeout {human_seconds(seconds)} closes "
                "WebSockets carried as TCP (opaque ports) after that much silence.",
                resource=dr.resource(f"{where}.connectionPool.tcp.idleTimeout"),
                evidence={"seconds": seconds},
                fix=Fix(
                    summary="Raise the idle timeout, or send heartbeats more often.",
                    snippet="trafficPolicy:\n  connectionPool:\n    tcp:\n      idleTimeout: 24h\n",
                    language="yaml",
                ),
            )
        if "consecutiveErrors" in (policy.get("outlierDetection") or {}):
            yield DEPRECATED.finding(
                CHECK_ID,
                f"{dr.ref}: outlierDetection.consecutiveErrors is deprecated.",
                resource=dr.resource(f"{where}.outlierDetection.consecutiveErrors"),
                fix=Fix(summary="Use consecutive5xxErrors (or consecutiveGatewayErrors)."),
            )


def istio_in_use(snap: ClusterSnapshot) -> bool:
    """Istio objects, or a namespace labelled for injection, are present."""
    return any(o.group == ISTIO_GROUP for o in snap.objects) or any(
        o.labels.get("istio-injection") == "enabled" or "istio.io/rev" in o.labels
        for o in snap.of_kind("Namespace")
    )


def rules_for_istio(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Istio configuration facts of KNOWLEDGE.md §3."""
    for obj in snap.objects:
        if obj.group != ISTIO_GROUP:
            continue
        if obj.kind == "VirtualService":
            for i, http in enumerate(obj.spec.get("http") or []):
                if "websocketUpgrade" in http:
                    yield WEBSOCKET_UPGRADE.finding(
                        CHECK_ID,
                        f"{obj.ref}: http[{i}].websocketUpgrade no longer exists; upgrades are "
                        "automatic and the field makes the object invalid on recent Istio.",
                        resource=obj.resource(field_path("spec", "http", i, "websocketUpgrade")),
                        fix=Fix(summary="Delete the field."),
                    )
        elif obj.kind == "DestinationRule":
            yield from _destination_rule(obj, options)
        elif obj.kind == "Gateway" and snap.knows("Secret"):
            for i, server in enumerate(obj.spec.get("servers") or []):
                name = (server.get("tls") or {}).get("credentialName")
                if name and snap.find("Secret", obj.namespace, str(name)) is None:
                    yield CREDENTIAL_MISSING.finding(
                        CHECK_ID,
                        f"{obj.ref}: credentialName {name!r} is not a Secret in {obj.namespace} "
                        "(it must be in the gateway workload's namespace); the gateway resets "
                        "the TLS handshake.",
                        resource=obj.resource(
                            field_path("spec", "servers", i, "tls", "credentialName")
                        ),
                        fix=Fix(
                            summary="Create the TLS Secret in the gateway's namespace.",
                            snippet=f"kubectl -n {obj.namespace} create secret tls {name} "
                            f"--cert=tls.crt --key=tls.key",
                            language="shell",
                        ),
                    )
    if istio_in_use(snap):
        for svc in snap.of_kind("Service"):
            for i, port in enumerate(svc.spec.get("ports") or []):
                name = str(port.get("name") or "")
                if port.get("appProtocol") or name.split("-")[0] in PROTOCOL_PREFIXES:
                    continue
                yield PORT_PROTOCOL.finding(
                    CHECK_ID,
                    f"{svc.ref} port {port.get('port')} is named {name or '(unnamed)'!r}: Istio "
                    "cannot tell its protocol and sniffs it (IST0118); WebSockets may be "
                    "treated as opaque TCP.",
                    resource=svc.resource(field_path("spec", "ports", i, "name")),
                    fix=Fix(
                        summary="Set appProtocol (or prefix the port name with http-).",
                        snippet=f"ports:\n- name: http-ws\n  port: {port.get('port')}\n  "
                        f"appProtocol: http\n",
                        language="yaml",
                    ),
                )
