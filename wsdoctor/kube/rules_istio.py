"""Rules for Istio: VirtualService and DestinationRule fields that break or cut WebSockets
(port-level settings included), Service port naming where the mesh applies, and Gateway TLS
credentials (in the gateway workload's namespace)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wsdoctor.codes import Code
from wsdoctor.kube import backends, discover
from wsdoctor.kube.discover import ISTIO_GROUP
from wsdoctor.kube.istio_mesh import credential_findings, in_mesh
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions, human_seconds, parse_go_duration
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, field_path
from wsdoctor.kube.websocket import WebSocketScope, websocket_scope
from wsdoctor.models import Finding, Fix, Status

WEBSOCKET_UPGRADE = Code(
    "WSD-ISTIO-WEBSOCKET-UPGRADE", Status.WARN, "websocketUpgrade was removed from VirtualService"
)
LB_CONFLICT = Code(
    "WSD-ISTIO-LB-CONFLICT", Status.FAIL, "DestinationRule sets both simple and consistentHash"
)
H2_UPGRADE = Code("WSD-ISTIO-H2-UPGRADE", Status.FAIL, "h2UpgradePolicy UPGRADE breaks WebSocket")
ONE_REQUEST = Code(
    "WSD-ISTIO-ONE-REQUEST-PER-CONN",
    Status.INFO,
    "maxRequestsPerConnection does not limit WebSockets",
)
CONN_LIMIT = Code(
    "WSD-ISTIO-CONN-LIMIT", Status.WARN, "Connection pool limit caps concurrent WebSockets"
)
DEPRECATED = Code("WSD-ISTIO-DEPRECATED-FIELD", Status.INFO, "Deprecated Istio field")
PORT_PROTOCOL = Code(
    "WSD-ISTIO-PORT-PROTOCOL", Status.INFO, "Service port protocol left to Istio's sniffing"
)
TCP_IDLE = Code(
    "WSD-ISTIO-TCP-IDLE", Status.WARN, "Istio TCP idle timeout closes idle WebSockets early"
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


class Policy:
    """One traffic policy of a DestinationRule: where it is, and the port it is for."""

    def __init__(self, where: str, body: dict[str, Any], port: int | None) -> None:
        self.where = where
        self.body = body
        self.port = port

    def get(self, key: str) -> dict[str, Any]:
        value = self.body.get(key)
        return value if isinstance(value, dict) else {}


def _policies(dr: KubeObject) -> Iterator[tuple[Policy, list[Policy]]]:
    """(destination- or subset-level policy, its port-level policies)."""
    sources: list[tuple[str, Any]] = [("spec.trafficPolicy", dr.spec.get("trafficPolicy"))]
    for i, subset in enumerate(dr.spec.get("subsets") or []):
        sources.append(
            (field_path("spec", "subsets", i, "trafficPolicy"), subset.get("trafficPolicy"))
        )
    for where, body in sources:
        if not isinstance(body, dict):
            continue
        ports = []
        for j, entry in enumerate(body.get("portLevelSettings") or []):
            number = (entry.get("port") or {}).get("number")
            ports.append(
                Policy(
                    f"{where}.portLevelSettings[{j}]",
                    entry,
                    number if isinstance(number, int) else None,
                )
            )
        yield Policy(where, body, None), ports


def websocket_ports(
    snap: ClusterSnapshot, scope: WebSocketScope, svc: KubeObject
) -> set[int] | None:
    """Port numbers of the Service that WebSocket routes send to (None: cannot tell which)."""
    ports: set[int] = set()
    for rule in discover.route_rules(snap):
        if not scope.rule(rule):
            continue
        for backend in rule.backends:
            if (backend.namespace, backend.service) != (svc.namespace, svc.name):
                continue
            entry = backends.service_port(svc, backend.port)
            if entry is None or not isinstance(entry.get("port"), int):
                return None
            ports.add(entry["port"])
    return ports or None


def _effective(top: Policy, ports: list[Policy], ws_ports: set[int] | None) -> list[Policy]:
    """The policies that govern WebSocket traffic: for each WebSocket port its port-level
    policy (which replaces the destination-level fields it sets), else the destination's."""
    if ws_ports is None:
        return [top, *ports]
    chosen = []
    for number in sorted(ws_ports):
        port = next((p for p in ports if p.port == number), None)
        chosen.append(port if port is not None else top)
    return chosen


def _pool(top: Policy, policy: Policy) -> tuple[Policy, dict[str, Any], dict[str, Any]]:
    """The policy whose connectionPool applies, and that pool's http and tcp parts."""
    owner = policy if policy.get("connectionPool") or policy is top else top
    pool = owner.get("connectionPool")
    http, tcp = pool.get("http"), pool.get("tcp")
    return owner, http if isinstance(http, dict) else {}, tcp if isinstance(tcp, dict) else {}


def _destination_rule(
    snap: ClusterSnapshot, dr: KubeObject, options: RuleOptions
) -> Iterator[Finding]:
    scope = websocket_scope(snap, options)
    ns, name = discover.istio_service(str(dr.spec.get("host", "")), dr.namespace or "default")
    svc = snap.find("Service", ns, name)
    websocket = scope.service(ns, name)
    ws_ports = websocket_ports(snap, scope, svc) if svc is not None and websocket else None
    seen: set[str] = set()
    for top, ports in _policies(dr):
        for policy in [top, *ports]:
            yield from _correctness(dr, policy)
        if not websocket:
            continue
        for policy in _effective(top, ports, ws_ports):
            owner, http, tcp = _pool(top, policy)
            if owner.where in seen:
                continue
            seen.add(owner.where)
            yield from _pool_rules(dr, owner.where, http, tcp, options)


def _correctness(dr: KubeObject, policy: Policy) -> Iterator[Finding]:
    """What is wrong for any traffic: conflicting load balancers, deprecated fields."""
    lb = policy.get("loadBalancer")
    if "simple" in lb and "consistentHash" in lb:
        yield LB_CONFLICT.finding(
            CHECK_ID,
            f"{dr.ref}: loadBalancer sets simple ({lb['simple']}) and consistentHash; they "
            "are alternatives (a oneof) and the rule is rejected.",
            resource=dr.resource(f"{policy.where}.loadBalancer"),
            fix=Fix(summary="Keep consistentHash (for affinity) and remove simple."),
        )
    if "consecutiveErrors" in policy.get("outlierDetection"):
        yield DEPRECATED.finding(
            CHECK_ID,
            f"{dr.ref}: outlierDetection.consecutiveErrors is deprecated (it counted 502/503/504 "
            "only); for WebSocket backends the upgrade's gateway errors are what eject a pod.",
            resource=dr.resource(f"{policy.where}.outlierDetection.consecutiveErrors"),
            fix=Fix(summary="Use consecutiveGatewayErrors (or consecutive5xxErrors)."),
        )


def _pool_rules(
    dr: KubeObject, where: str, http: dict[str, Any], tcp: dict[str, Any], options: RuleOptions
) -> Iterator[Finding]:
    """Connection-pool settings as they act on WebSocket traffic."""
    if http.get("h2UpgradePolicy") == "UPGRADE":
        yield H2_UPGRADE.finding(
            CHECK_ID,
            f"{dr.ref}: h2UpgradePolicy UPGRADE sends HTTP/1.1 upgrades over HTTP/2, which "
            "needs RFC 8441 extended CONNECT; WebSocket upgrades fail.",
            resource=dr.resource(f"{where}.connectionPool.http.h2UpgradePolicy"),
            fix=Fix(
                summary="Do not upgrade the WebSocket port to HTTP/2 (a portLevelSettings "
                "entry for it can keep the rest upgraded).",
                snippet="trafficPolicy:\n  connectionPool:\n    http:\n      "
                "h2UpgradePolicy: DO_NOT_UPGRADE\n",
                language="yaml",
            ),
        )
    value = http.get("maxRequestsPerConnection")
    if isinstance(value, int) and value > 0:
        yield ONE_REQUEST.finding(
            CHECK_ID,
            f"{dr.ref}: maxRequestsPerConnection {value} limits HTTP requests per upstream "
            "connection; an upgraded WebSocket is one request that keeps its connection, so "
            "this neither caps nor closes WebSockets.",
            resource=dr.resource(f"{where}.connectionPool.http.maxRequestsPerConnection"),
            evidence={"maxRequestsPerConnection": value},
            fix=Fix(summary="Look elsewhere for WebSocket drops (maxConnections, idleTimeout)."),
        )
    for section, part, key in ((tcp, "tcp", "maxConnections"), (http, "http", "http2MaxRequests")):
        value = section.get(key)
        if isinstance(value, int) and 0 < value < LOW_LIMIT:
            pending = http.get("http1MaxPendingRequests")
            queue = (
                f"; http1MaxPendingRequests {pending} more wait, then 503"
                if isinstance(pending, int)
                else ""
            )
            yield CONN_LIMIT.finding(
                CHECK_ID,
                f"{dr.ref}: {key} {value}; every WebSocket holds one connection and one active "
                f"request for its whole life, so WebSocket {value + 1} gets no connection"
                f"{queue} ('upstream connect error ... overflow').",
                resource=dr.resource(f"{where}.connectionPool.{part}.{key}"),
                evidence={
                    key: value,
                    "http1MaxPendingRequests": pending if isinstance(pending, int) else None,
                },
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


def rules_for_istio(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Istio configuration facts of KNOWLEDGE.md §3."""
    for obj in snap.of_kind("VirtualService", "DestinationRule", "Gateway"):
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
            yield from _destination_rule(snap, obj, options)
        else:
            yield from credential_findings(snap, obj)
    yield from _port_protocols(snap, options)


def _port_protocols(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """WebSocket ports of meshed Services whose protocol Istio has to sniff (IST0118)."""
    scope = websocket_scope(snap, options)
    for ns, name in sorted(scope.services):
        svc = snap.find("Service", ns, name)
        if svc is None or not in_mesh(snap, svc):
            continue
        ws_ports = websocket_ports(snap, scope, svc)
        for i, port in enumerate(svc.spec.get("ports") or []):
            if ws_ports is not None and port.get("port") not in ws_ports:
                continue
            port_name = str(port.get("name") or "")
            if port.get("appProtocol") or port_name.split("-")[0] in PROTOCOL_PREFIXES:
                continue
            yield PORT_PROTOCOL.finding(
                CHECK_ID,
                f"{svc.ref} port {port.get('port')} is named {port_name or '(unnamed)'!r} and has "
                "no appProtocol: Istio detects the protocol from the first bytes (IST0118); "
                "WebSocket upgrades are detected as HTTP, but explicit is faster and certain.",
                resource=svc.resource(field_path("spec", "ports", i, "name")),
                fix=Fix(
                    summary="Set appProtocol (or prefix the port name with http-).",
                    snippet=f"ports:\n- name: http-ws\n  port: {port.get('port')}\n  "
                    "appProtocol: http\n",
                    language="yaml",
                ),
            )
