"""Rules for what every controller sends traffic to: backend Services, ports, selectors,
endpoints and the workloads behind them (probes, draining, replicas, PDB, HPA, policy)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wsdoctor.checks.base import Code
from wsdoctor.kube import backends, discover
from wsdoctor.kube.discover import Backend, RouteRule
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, field_path
from wsdoctor.models import Finding, Fix, Scalar, Status

SERVICE_MISSING = Code("WSD-K8S-SERVICE-MISSING", Status.FAIL, "Backend Service does not exist")
PORT_MISSING = Code("WSD-K8S-PORT-MISSING", Status.FAIL, "Backend Service has no such port")
SELECTOR_NO_PODS = Code("WSD-K8S-SELECTOR-NO-PODS", Status.FAIL, "Service selector matches no Pod")
TARGETPORT_UNDECLARED = Code(
    "WSD-K8S-TARGETPORT-UNDECLARED", Status.FAIL, "targetPort name is declared by no container"
)
NO_READY_ENDPOINTS = Code(
    "WSD-K8S-NO-READY-ENDPOINTS", Status.FAIL, "No ready endpoints for the backend Service"
)
SINGLE_REPLICA = Code(
    "WSD-K8S-SINGLE-REPLICA", Status.WARN, "A single replica serves the WebSocket backend"
)
NO_READINESS = Code("WSD-K8S-NO-READINESS-PROBE", Status.WARN, "Container has no readiness probe")
NO_DRAIN = Code(
    "WSD-K8S-NO-DRAIN", Status.WARN, "Pods are stopped without time to drain WebSockets"
)
NO_PDB = Code("WSD-K8S-NO-PDB", Status.WARN, "No PodDisruptionBudget covers the backend")
HPA_SCALEDOWN = Code(
    "WSD-K8S-HPA-SCALEDOWN", Status.WARN, "HPA scales down faster than WebSockets drain"
)
NETPOL_BLOCKS = Code(
    "WSD-K8S-NETPOL-BLOCKS", Status.WARN, "A NetworkPolicy may block the ingress controller"
)
RESTARTS = Code("WSD-K8S-POD-RESTARTS", Status.WARN, "Backend pods restart")

CODES = (
    SERVICE_MISSING,
    PORT_MISSING,
    SELECTOR_NO_PODS,
    TARGETPORT_UNDECLARED,
    NO_READY_ENDPOINTS,
    SINGLE_REPLICA,
    NO_READINESS,
    NO_DRAIN,
    NO_PDB,
    HPA_SCALEDOWN,
    NETPOL_BLOCKS,
    RESTARTS,
)

#: Drain time below which an open WebSocket is likely cut on a rollout (seconds).
MIN_GRACE = 30
CONTROLLER_NAMESPACES = ("ingress-nginx", "traefik", "haproxy-controller", "istio-system")


def _backends(snap: ClusterSnapshot) -> Iterator[tuple[RouteRule, Backend]]:
    seen: set[tuple[str, str, str, str | int | None]] = set()
    for route in discover.route_rules(snap):
        for backend in route.backends:
            key = (route.kind, route.name, backend.service, backend.port)
            if key not in seen:
                seen.add(key)
                yield route, backend


def backend_services(snap: ClusterSnapshot) -> list[KubeObject]:
    """Services some route sends traffic to."""
    found: dict[int, KubeObject] = {}  # by identity: comparing models field by field is slow
    for _, backend in _backends(snap):
        svc = snap.find("Service", backend.namespace, backend.service)
        if svc is not None:
            found.setdefault(id(svc), svc)
    return list(found.values())


def rules_for_backends(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Route → Service → port → Pods → endpoints: every link exists and something is ready."""
    for route, backend in _backends(snap):
        obj = route.kind, route.namespace, route.name
        res = snap.find(*obj)
        if res is None:
            continue
        svc = snap.find("Service", backend.namespace, backend.service)
        if svc is None:
            if snap.knows("Service"):
                yield SERVICE_MISSING.finding(
                    CHECK_ID,
                    f"{res.ref} sends {route.path} to Service {backend.namespace}/"
                    f"{backend.service}, which does not exist: the controller answers 503.",
                    resource=res.resource(backend.field),
                    evidence={"service": f"{backend.namespace}/{backend.service}"},
                    fix=Fix(summary="Fix the Service name in the route, or create the Service."),
                )
            continue
        port = backends.service_port(svc, backend.port)
        if port is None and backend.port is not None:
            have = ", ".join(
                str(p.get("name") or p.get("port")) for p in svc.spec.get("ports") or []
            )
            yield PORT_MISSING.finding(
                CHECK_ID,
                f"{res.ref} names port {backend.port!r} of {svc.ref}, which has ports: {have}.",
                resource=res.resource(backend.field),
                evidence={"port": backend.port, "service_ports": have},
                fix=Fix(summary=f"Use one of the Service's ports ({have})."),
            )
    for svc in backend_services(snap):
        yield from _service_rules(snap, svc, options)


def _container_ports(templates: list[tuple[KubeObject, dict[str, Any], str]]) -> set[str]:
    return {
        str(p.get("name"))
        for _, tpl, _ in templates
        for c in (tpl.get("spec") or {}).get("containers") or []
        for p in c.get("ports") or []
        if p.get("name")
    }


def _service_rules(
    snap: ClusterSnapshot, svc: KubeObject, options: RuleOptions
) -> Iterator[Finding]:
    selector = svc.spec.get("selector") or {}
    templates = backends.selected_templates(snap, svc.namespace, selector)
    workloads = [t for t in templates if t[0].kind != "Pod"] or templates
    if selector and not templates and any(snap.knows(k) for k in backends.WORKLOAD_KINDS):
        yield SELECTOR_NO_PODS.finding(
            CHECK_ID,
            f"{svc.ref} selects {selector}, and no Pod or workload in {svc.namespace} has "
            "those labels: it has no endpoints.",
            resource=svc.resource("spec.selector"),
            evidence={"selector": ", ".join(f"{k}={v}" for k, v in selector.items())},
            fix=Fix(summary="Make the selector match the pod template labels."),
        )
    if templates:
        declared = _container_ports(templates)
        for i, port in enumerate(svc.spec.get("ports") or []):
            target = port.get("targetPort")
            if isinstance(target, str) and not target.isdigit() and target not in declared:
                yield TARGETPORT_UNDECLARED.finding(
                    CHECK_ID,
                    f"{svc.ref} port {port.get('name') or port.get('port')} targets {target!r}, "
                    "a port name no selected container declares "
                    f"({', '.join(sorted(declared)) or 'none'}).",
                    resource=svc.resource(field_path("spec", "ports", i, "targetPort")),
                    evidence={"targetPort": target, "declared": list[Scalar](sorted(declared))},
                    fix=Fix(summary="Name the container port, or target its number."),
                )
    if snap.knows("EndpointSlice"):
        counts = backends.endpoint_counts(
            backends.endpoint_slices(snap, svc.namespace or "", svc.name)
        )
        if counts["ready"] == 0:
            yield no_ready_endpoints(svc, counts)
    replicas = [
        (o, o.spec.get("replicas", 1))
        for o, _, _ in workloads
        if o.kind in ("Deployment", "StatefulSet")
    ]
    hpas = [h for h in snap.of_kind("HorizontalPodAutoscaler") if h.namespace == svc.namespace]
    for owner, count in replicas:
        hpa = next(
            (h for h in hpas if (h.spec.get("scaleTargetRef") or {}).get("name") == owner.name),
            None,
        )
        if count == 1 and (hpa is None or hpa.spec.get("minReplicas", 1) <= 1):
            yield SINGLE_REPLICA.finding(
                CHECK_ID,
                f"{owner.ref} runs one replica: every rollout or eviction drops all WebSockets "
                f"at once.",
                resource=owner.resource("spec.replicas"),
                fix=Fix(
                    summary="Run at least two replicas.",
                    snippet="spec:\n  replicas: 2\n",
                    language="yaml",
                ),
            )
        if hpa is not None:
            yield from _hpa(hpa)
    for owner, tpl, prefix in workloads:
        yield from _pod_template_rules(owner, tpl, prefix)
    if workloads and snap.knows("Deployment"):
        yield from _pdb(snap, svc, workloads)
        yield from _netpol(snap, svc, workloads)


def no_ready_endpoints(
    svc: KubeObject, counts: dict[str, int], explains: tuple[Code, ...] = ()
) -> Finding:
    """The root-cause finding for a 502/503: the Service has nothing ready to send to."""
    return NO_READY_ENDPOINTS.finding(
        CHECK_ID,
        f"no ready endpoints for Service {svc.namespace}/{svc.name}: {counts['total']} endpoints, "
        f"{counts['ready']} ready, {counts['terminating']} terminating. The controller answers "
        "502/503 to every upgrade.",
        title=f"No ready endpoints for Service {svc.namespace}/{svc.name}",
        resource=svc.resource("spec.selector"),
        evidence={f"endpoints_{k}": v for k, v in counts.items()},
        fix=Fix(
            summary="Find why the pods are not ready (readiness probe, crash loop, pending).",
            snippet=f"kubectl -n {svc.namespace} get endpointslices -l "
            f"kubernetes.io/service-name={svc.name}\nkubectl -n {svc.namespace} describe pods",
            language="shell",
        ),
        explains=explains,
    )


def _pod_template_rules(owner: KubeObject, tpl: dict[str, Any], prefix: str) -> Iterator[Finding]:
    spec = tpl.get("spec") or {}
    for i, c in enumerate(spec.get("containers") or []):
        if not c.get("readinessProbe"):
            yield NO_READINESS.finding(
                CHECK_ID,
                f"{owner.ref}: container {c.get('name')} has no readiness probe; pods get "
                "upgrades before the server listens, and keep them while shutting down.",
                resource=owner.resource(f"{prefix}.containers[{i}].readinessProbe"),
                fix=Fix(
                    summary="Add a readiness probe on the WebSocket server's port.",
                    snippet="readinessProbe:\n  tcpSocket:\n    port: http\n  periodSeconds: 5\n",
                    language="yaml",
                ),
            )
    grace = spec.get("terminationGracePeriodSeconds", 30)
    has_prestop = any(
        ((c.get("lifecycle") or {}).get("preStop")) for c in spec.get("containers") or []
    )
    if not has_prestop or grace <= MIN_GRACE:
        missing = "no preStop hook" if not has_prestop else f"terminationGracePeriodSeconds {grace}"
        yield NO_DRAIN.finding(
            CHECK_ID,
            f"{owner.ref}: {missing}; on a rollout the pod is killed while endpoints still send "
            "it upgrades and its open WebSockets are cut without a close frame.",
            resource=owner.resource(
                f"{prefix}.terminationGracePeriodSeconds"
                if has_prestop
                else f"{prefix}.containers[0].lifecycle"
            ),
            evidence={"terminationGracePeriodSeconds": grace, "preStop": has_prestop},
            fix=Fix(
                summary="Add a preStop pause and a grace period long enough to close WebSockets.",
                snippet="terminationGracePeriodSeconds: 120\ncontainers:\n- name: app\n  "
                "lifecycle:\n"
                '    preStop:\n      exec:\n        command: ["sleep", "15"]\n',
                language="yaml",
            ),
        )


def _hpa(hpa: KubeObject) -> Iterator[Finding]:
    window = ((hpa.spec.get("behavior") or {}).get("scaleDown") or {}).get(
        "stabilizationWindowSeconds"
    )
    if isinstance(window, int) and window < 300:
        yield HPA_SCALEDOWN.finding(
            CHECK_ID,
            f"{hpa.ref}: scale-down stabilisation {window} s (default 300 s); WebSocket load "
            "lags connection counts, so pods holding connections are removed too soon.",
            resource=hpa.resource("spec.behavior.scaleDown.stabilizationWindowSeconds"),
            evidence={"stabilizationWindowSeconds": window},
            fix=Fix(
                summary="Keep at least the default 300 s.",
                snippet="spec:\n  behavior:\n    scaleDown:\n      stabilizationWindowSeconds: "
                "600\n",
                language="yaml",
            ),
        )


def _labels(tpl: dict[str, Any]) -> dict[str, str]:
    return dict((tpl.get("metadata") or {}).get("labels") or {})


def _pdb(
    snap: ClusterSnapshot, svc: KubeObject, workloads: list[tuple[KubeObject, dict[str, Any], str]]
) -> Iterator[Finding]:
    pdbs = [p for p in snap.of_kind("PodDisruptionBudget") if p.namespace == svc.namespace]
    for owner, tpl, _ in workloads:
        if not any(
            backends.selector_matches(p.spec.get("selector") or {}, _labels(tpl)) for p in pdbs
        ):
            yield NO_PDB.finding(
                CHECK_ID,
                f"{owner.ref} has no PodDisruptionBudget: a node drain may evict every pod (and "
                "every WebSocket) at once.",
                resource=owner.resource("metadata.labels"),
                fix=Fix(
                    summary="Add a PodDisruptionBudget for the pods.",
                    snippet=f"apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  "
                    f"name: {owner.name}\n"
                    f"  namespace: {owner.namespace}\nspec:\n  maxUnavailable: 1\n  selector:\n"
                    f"    matchLabels:\n"
                    + "".join(f"      {k}: {v}\n" for k, v in _labels(tpl).items()),
                    language="yaml",
                ),
            )


def _netpol(
    snap: ClusterSnapshot, svc: KubeObject, workloads: list[tuple[KubeObject, dict[str, Any], str]]
) -> Iterator[Finding]:
    for pol in snap.of_kind("NetworkPolicy"):
        if pol.namespace != svc.namespace or "Ingress" not in (
            pol.spec.get("policyTypes") or ["Ingress"]
        ):
            continue
        selected = [
            o
            for o, tpl, _ in workloads
            if backends.selector_matches(pol.spec.get("podSelector") or {}, _labels(tpl))
        ]
        if not selected:
            continue
        rules = pol.spec.get("ingress") or []
        allows = any(
            not r.get("from")
            or any(
                "namespaceSelector" in peer
                and (
                    not (peer["namespaceSelector"] or {})
                    or any(ns in str(peer["namespaceSelector"]) for ns in CONTROLLER_NAMESPACES)
                )
                for peer in r.get("from") or []
            )
            for r in rules
        )
        if not allows:
            yield NETPOL_BLOCKS.finding(
                CHECK_ID,
                f"{pol.ref} selects {selected[0].ref} and admits no peer from another namespace: "
                "the ingress controller (in its own namespace) cannot reach the pods.",
                resource=pol.resource("spec.ingress"),
                fix=Fix(
                    summary="Allow the ingress controller's namespace to the pod port.",
                    snippet="spec:\n  ingress:\n  - from:\n    - namespaceSelector:\n        "
                    "matchLabels:\n"
                    "          kubernetes.io/metadata.name: ingress-nginx\n",
                    language="yaml",
                ),
            )


def rules_for_pods(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Live only: restarting backend pods (crash loops cut every WebSocket they hold)."""
    for svc in backend_services(snap):
        for owner, _, _ in backends.selected_templates(
            snap, svc.namespace, svc.spec.get("selector") or {}
        ):
            if owner.kind != "Pod":
                continue
            restarts = sum(
                int(s.get("restartCount", 0)) for s in owner.status.get("containerStatuses") or []
            )
            if restarts >= 3:
                yield RESTARTS.finding(
                    CHECK_ID,
                    f"{owner.ref} restarted {restarts} times; each restart drops its WebSockets.",
                    resource=owner.resource("status.containerStatuses"),
                    evidence={"restarts": restarts},
                    fix=Fix(
                        summary="Read the previous container's logs.",
                        snippet=f"kubectl -n {owner.namespace} logs {owner.name} --previous",
                        language="shell",
                    ),
                )
