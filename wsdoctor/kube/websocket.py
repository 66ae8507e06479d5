"""Which routes carry WebSockets, and on what evidence.

WebSocket-specific judgements (timeouts, affinity, drain, PDB, replicas, readiness, mesh
connection caps) apply only to routes that carry WebSockets; correctness rules that break
any route apply to all. Live, the route that serves the target is the WebSocket route.
Offline, a route is judged one on evidence: an explicit choice (the annotation
``wsdoctor.io/websocket``, ``--websocket-route``, ``--all-routes``), WebSocket settings of
its controller, ``appProtocol: kubernetes.io/ws``, WebSocket-looking paths and names, or a
backend that runs a known WebSocket application."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.codes import Code
from wsdoctor.kube import backends, discover
from wsdoctor.kube.discover import RouteRule
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject
from wsdoctor.kube.wsevidence import (
    backend_evidence,
    heartbeat,
    route_evidence,
    rule_evidence,
)
from wsdoctor.modelbase import Field
from wsdoctor.models import Finding, Fix, Model, Resource, Status
from wsdoctor.records import dataclass

#: The annotation that settles it for one route: "true" or "false".
ANNOTATION = "wsdoctor.io/websocket"

NOT_WEBSOCKET = Code(
    "WSD-K8S-NOT-WEBSOCKET",
    Status.INFO,
    "Routes without WebSocket evidence were checked for correctness only",
)
CODES = (NOT_WEBSOCKET,)


class RouteJudgement(Model):
    """One route object: whether it was judged to carry WebSockets, and why."""

    kind: str
    namespace: str
    name: str
    websocket: bool
    evidence: list[str] = Field(default_factory=list)
    """What made it one (or, for ``websocket: false``, an explicit choice if any)."""
    paths: list[str] = Field(default_factory=list)
    """The paths judged WebSocket (all of them when the evidence is the whole route's)."""
    heartbeat: str | None = None
    """The protocol on it that keeps an idle WebSocket busy (socket.io...), if known."""
    heartbeat_s: float | None = None

    @property
    def ref(self) -> str:
        """``Ingress chat/chat``."""
        return f"{self.kind} {self.namespace}/{self.name}"


RouteKey = tuple[str, str, str]


@dataclass(frozen=True)
class WebSocketScope:
    """The routes judged WebSocket, and the Services and workloads behind them."""

    judgements: tuple[RouteJudgement, ...]
    by_route: dict[RouteKey, RouteJudgement]
    routes: frozenset[RouteKey]
    """(kind, namespace, name) of each route object with a WebSocket rule."""
    rules: frozenset[tuple[str, str, str, str]]
    """(kind, namespace, name, field) of each WebSocket route rule."""
    services: frozenset[tuple[str, str]]
    workloads: frozenset[tuple[str, str | None, str]]
    controllers: frozenset[str]

    def route(self, obj: KubeObject) -> bool:
        """Whether any rule of the route object carries WebSockets."""
        return (obj.kind, obj.namespace or "default", obj.name) in self.routes

    def rule(self, rule: RouteRule) -> bool:
        """Whether this route rule carries WebSockets."""
        return (rule.kind, rule.namespace, rule.name, rule.field) in self.rules

    def service(self, namespace: str | None, name: str) -> bool:
        """Whether a WebSocket route sends to this Service."""
        return (namespace or "default", name) in self.services

    def workload(self, obj: KubeObject) -> bool:
        """Whether this workload (or Pod) serves a WebSocket route."""
        return (obj.kind, obj.namespace, obj.name) in self.workloads

    def silence(self, kind: str, namespace: str | None, name: str, expect: float) -> float:
        """How long a WebSocket of this route may stay silent: --expect-idle, or less when
        its protocol sends a heartbeat more often."""
        judged = self.by_route.get((kind, namespace or "default", name))
        if judged is not None and judged.heartbeat_s is not None:
            return min(expect, judged.heartbeat_s)
        return expect

    def heartbeat_note(self, kind: str, namespace: str | None, name: str) -> str:
        """`` (socket.io sends a heartbeat every 25 s)`` when one is known, else ''."""
        judged = self.by_route.get((kind, namespace or "default", name))
        if judged is None or judged.heartbeat is None:
            return ""
        return f" ({judged.heartbeat} sends a heartbeat every {judged.heartbeat_s:g} s)"


def _explicit(obj: KubeObject, options: RuleOptions) -> tuple[bool | None, str]:
    """(choice, why) from --all-routes (every route), --websocket-route or the annotation."""
    if options.all_routes:
        return True, "--all-routes"
    for selector in options.websocket_routes:
        if _selects(selector, obj):
            return True, f"--websocket-route {selector}"
    raw = obj.annotations.get(ANNOTATION)
    if raw is not None and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true", f'annotation {ANNOTATION}: "{raw.strip()}"'
    return None, ""


def _selects(selector: str, obj: KubeObject) -> bool:
    """``[KIND/][NAMESPACE/]NAME`` against a route object (kind case-insensitive)."""
    parts = selector.split("/")
    name = parts[-1]
    namespace = parts[-2] if len(parts) >= 2 else None
    kind = parts[-3] if len(parts) >= 3 else None
    return (
        obj.name == name
        and (namespace is None or (obj.namespace or "default") == namespace)
        and (kind is None or obj.kind.lower() == kind.lower())
    )


def _judge_route(
    snap: ClusterSnapshot, obj: KubeObject, rules: list[RouteRule], options: RuleOptions
) -> tuple[RouteJudgement, list[RouteRule]]:
    """The route object's judgement and its WebSocket rules."""
    ns = obj.namespace or "default"
    if options.serving is not None:
        kind, serving_ns, name, path = options.serving
        if (obj.kind, ns, obj.name) != (kind, serving_ns, name):
            return RouteJudgement(kind=obj.kind, namespace=ns, name=obj.name, websocket=False), []
        chosen = [r for r in rules if r.path == path] or rules
        return (
            RouteJudgement(
                kind=obj.kind,
                namespace=ns,
                name=obj.name,
                websocket=True,
                evidence=["serves the target"],
                paths=sorted({r.path for r in chosen}),
            ),
            chosen,
        )
    choice, why = _explicit(obj, options)
    if choice is not None:
        judged = RouteJudgement(
            kind=obj.kind,
            namespace=ns,
            name=obj.name,
            websocket=choice,
            evidence=[why],
            paths=sorted({r.path for r in rules}) if choice else [],
        )
        return judged, rules if choice else []
    whole = list(dict.fromkeys(route_evidence(obj)))
    evidence = list(whole)
    chosen = []
    for rule in rules:
        found = [*rule_evidence(obj, rule), *backend_evidence(snap, rule)]
        if whole or found:
            chosen.append(rule)
        evidence.extend(e for e in found if e not in evidence)
    judged = RouteJudgement(
        kind=obj.kind,
        namespace=ns,
        name=obj.name,
        websocket=bool(chosen),
        evidence=evidence,
        paths=sorted({r.path for r in chosen}),
    )
    return judged, chosen


def websocket_scope(snap: ClusterSnapshot, options: RuleOptions) -> WebSocketScope:
    """The WebSocket routes of the snapshot and what is behind them (computed once)."""
    return snap.memo(("websocket-scope", options), lambda: _scope(snap, options))


def _scope(snap: ClusterSnapshot, options: RuleOptions) -> WebSocketScope:
    by_route: dict[RouteKey, list[RouteRule]] = {}
    for rule in discover.route_rules(snap):
        by_route.setdefault((rule.kind, rule.namespace, rule.name), []).append(rule)
    judgements: list[RouteJudgement] = []
    ws_rules: set[tuple[str, str, str, str]] = set()
    services: set[tuple[str, str]] = set()
    controllers: set[str] = set()
    for (kind, ns, name), rules in by_route.items():
        obj = snap.find(kind, ns, name)
        if obj is None:
            continue
        judged, chosen = _judge_route(snap, obj, rules, options)
        beat = heartbeat(snap, chosen) if chosen else None
        if beat is not None:
            judged = judged.model_copy(
                update={"heartbeat": beat.protocol, "heartbeat_s": beat.seconds}
            )
        judgements.append(judged)
        for rule in chosen:
            ws_rules.add((rule.kind, rule.namespace, rule.name, rule.field))
            controllers.add(rule.controller)
            services.update((b.namespace, b.service) for b in rule.backends)
    workloads: set[tuple[str, str | None, str]] = set()
    for ns, name in services:
        svc = snap.find("Service", ns, name)
        if svc is None:
            continue
        for owner, _, _ in backends.selected_templates(
            snap, svc.namespace, svc.spec.get("selector") or {}
        ):
            workloads.add((owner.kind, owner.namespace, owner.name))
    return WebSocketScope(
        judgements=tuple(judgements),
        by_route={(j.kind, j.namespace, j.name): j for j in judgements},
        routes=frozenset((j.kind, j.namespace, j.name) for j in judgements if j.websocket),
        rules=frozenset(ws_rules),
        services=frozenset(services),
        workloads=frozenset(workloads),
        controllers=frozenset(controllers),
    )


def not_websocket_note(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """At most one note naming the routes judged for correctness only (offline)."""
    if options.serving is not None:
        return
    others = [j for j in websocket_scope(snap, options).judgements if not j.websocket]
    if not others:
        return
    shown = ", ".join(j.ref for j in others[:8]) + (
        f" and {len(others) - 8} more" if len(others) > 8 else ""
    )
    yield NOT_WEBSOCKET.finding(
        CHECK_ID,
        f"{len(others)} route(s) showed no sign of carrying WebSockets and were checked for "
        f"correctness only (missing Services, ports, policies): {shown}.",
        resource=Resource(
            kind=others[0].kind,
            namespace=others[0].namespace,
            name=others[0].name,
            field="metadata.annotations",
        ),
        evidence={"routes": [j.ref for j in others]},
        fix=Fix(
            summary=f'If one carries WebSockets, annotate it {ANNOTATION}: "true" (or pass '
            "--websocket-route KIND/NAMESPACE/NAME, or --all-routes to judge every route).",
            snippet=f'metadata:\n  annotations:\n    {ANNOTATION}: "true"\n',
            language="yaml",
        ),
    )
