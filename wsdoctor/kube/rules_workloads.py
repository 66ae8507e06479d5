"""Rules for what every controller sends traffic to: backend Services, ports, selectors,
endpoints, Service session affinity and NetworkPolicies — links that break any route. The
WebSocket-specific rules on the workloads behind them live in :mod:`rules_drain`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wsdoctor.codes import Code
from wsdoctor.kube import backends, discover
from wsdoctor.kube.absent import missing
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
NETPOL_BLOCKS = Code(
    "WSD-K8S-NETPOL-BLOCKS", Status.WARN, "A NetworkPolicy may block the ingress controller"
)
SERVICE_AFFINITY = Code(
    "WSD-K8S-SERVICE-AFFINITY",
    Status.WARN,
    "Service sessionAffinity does not make connections through a proxy sticky",
)
NGINX_SERVICE_AFFINITY = Code(
    "WSD-NGINX-SERVICE-AFFINITY",
    Status.WARN,
    "Service sessionAffinity has no effect through ingress-nginx",
)

CODES = (
    SERVICE_MISSING,
    PORT_MISSING,
    SELECTOR_NO_PODS,
    TARGETPORT_UNDECLARED,
    NO_READY_ENDPOINTS,
    NETPOL_BLOCKS,
    SERVICE_AFFINITY,
    NGINX_SERVICE_AFFINITY,
)

#: Namespaces ingress controllers are installed in by their manifests and charts.
CONTROLLER_NAMESPACES = (
    "ingress-nginx",
    "traefik",
    "haproxy-controller",
    "haproxy-ingress",
    "istio-system",
    "istio-ingress",
    "kube-system",
)
_AFFINITY_FIX = {
    "ingress-nginx": "nginx.ingress.kubernetes.io/affinity: cookie on the Ingress",
    "traefik": 'traefik.ingress.kubernetes.io/service.sticky.cookie: "true" on the Service',
    "haproxytech": "haproxy.org/cookie-persistence on the Service",
    "haproxy-ingress": "haproxy-ingress.github.io/affinity: cookie on the Ingress",
    "istio": "a DestinationRule consistentHash.httpCookie",
}


def backends_of(snap: ClusterSnapshot) -> list[tuple[RouteRule, Backend]]:
    """Each (route rule, backend) once, in route order."""

    def compute() -> list[tuple[RouteRule, Backend]]:
        seen: set[tuple[str, str, str, str, str | int | None]] = set()
        found = []
        for route in discover.route_rules(snap):
            for backend in route.backends:
                key = (route.kind, route.namespace, route.name, backend.service, backend.port)
                if key not in seen:
                    seen.add(key)
                    found.append((route, backend))
        return found

    return snap.memo("route-backends", compute)


def backend_services(snap: ClusterSnapshot) -> list[KubeObject]:
    """Services some route sends traffic to."""

    def compute() -> list[KubeObject]:
        found: dict[tuple[str | None, str], KubeObject] = {}
        for _, backend in backends_of(snap):
            svc = snap.find("Service", backend.namespace, backend.service)
            if svc is not None:
                found.setdefault((svc.namespace, svc.name), svc)
        return list(found.values())

    return snap.memo("backend-services", compute)


def rules_for_backends(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Route → Service → port → Pods → endpoints: every link exists and something is ready."""
    for route, backend in backends_of(snap):
        res = snap.find(route.kind, route.namespace, route.name)
        if res is None:
            continue
        svc = snap.find("Service", backend.namespace, backend.service)
        if svc is None:
            yield missing(
                snap,
                SERVICE_MISSING,
                "Service",
                backend.namespace,
                backend.service,
                detail=f"{res.ref} sends {route.path} to Service {backend.namespace}/"
                f"{backend.service}, which does not exist: the controller answers 503.",
                resource=res.resource(backend.field),
                evidence={"service": f"{backend.namespace}/{backend.service}"},
                fix=Fix(summary="Fix the Service name in the route, or create the Service."),
                referrer=res.ref,
            )
            continue
        port = backends.service_port(svc, backend.port)
        if port is None and backend.port is not None:
            ports = svc.spec.get("ports") or []
            have = ", ".join(
                f"{p.get('name')} ({p.get('port')})" if p.get("name") else str(p.get("port"))
                for p in ports
            )
            target = next((p for p in ports if p.get("targetPort") == backend.port), None)
            hint = (
                f"; {backend.port} is the targetPort (the container's port) of port "
                f"{target.get('port')}: a route names the Service's port"
                if target is not None
                else ""
            )
            yield PORT_MISSING.finding(
                CHECK_ID,
                f"{res.ref} names port {backend.port!r} of {svc.ref}, which has ports: {have}"
                f"{hint}. The controller has no endpoint for it and answers 503.",
                resource=res.resource(backend.field),
                evidence={"port": backend.port, "service_ports": have},
                fix=Fix(summary=f"Use one of the Service's ports ({have})."),
            )
        if svc.spec.get("sessionAffinity") == "ClientIP" and route.controller != "unknown":
            yield _session_affinity(svc, res, route.controller)
    for svc in backend_services(snap):
        yield from _service_rules(snap, svc)


def _session_affinity(svc: KubeObject, route: KubeObject, controller: str) -> Finding:
    """The proxy, not the browser, is the Service's client: ClientIP affinity pins nothing
    per user (ingress-nginx, Traefik, both HAProxy controllers and Envoy send to the pod
    endpoints directly; through the ClusterIP the client IP is the proxy pod's)."""
    code = NGINX_SERVICE_AFFINITY if controller == "ingress-nginx" else SERVICE_AFFINITY
    instead = _AFFINITY_FIX.get(controller, "the proxy's own cookie affinity")
    return code.finding(
        CHECK_ID,
        f"{svc.ref}: sessionAffinity ClientIP does not make {route.ref} sticky: {controller} "
        "connects to the pods itself, so the client IP Kubernetes sees is the proxy's, not "
        "the user's.",
        resource=svc.resource("spec.sessionAffinity"),
        evidence={"controller": controller, "route": route.ref},
        fix=Fix(summary=f"Use {instead}, and remove sessionAffinity."),
    )


def _container_ports(templates: list[backends.Template]) -> set[str]:
    return {
        str(p.get("name"))
        for _, tpl, _ in templates
        for c in (tpl.get("spec") or {}).get("containers") or []
        for p in c.get("ports") or []
        if p.get("name")
    }


def _service_rules(snap: ClusterSnapshot, svc: KubeObject) -> Iterator[Finding]:
    selector = svc.spec.get("selector") or {}
    templates = backends.selected_templates(snap, svc.namespace, selector)
    workloads = [t for t in templates if t[0].kind != "Pod"] or templates
    if selector and not templates:
        kinds = [k for k in backends.WORKLOAD_KINDS if snap.could_contain(k, svc.namespace)]
        if kinds:
            yield _selector_no_pods(snap, svc, selector)
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
    if workloads:
        yield from _netpol(snap, svc, workloads)


def _selector_no_pods(snap: ClusterSnapshot, svc: KubeObject, selector: dict[str, Any]) -> Finding:
    """No pod in the Service's namespace matches; when pods in another namespace (an
    OpenShift project) do, that is the mistake to name: a Service never selects across."""
    labels = ", ".join(f"{k}={v}" for k, v in selector.items())
    others = backends.selected_elsewhere(snap, svc.namespace, selector)
    if not others:
        return SELECTOR_NO_PODS.finding(
            CHECK_ID,
            f"{svc.ref} selects {selector}, and no Pod or workload in {svc.namespace} has "
            "those labels: it has no endpoints.",
            resource=svc.resource("spec.selector"),
            evidence={"selector": labels},
            fix=Fix(summary="Make the selector match the pod template labels."),
        )
    where = sorted({str(o.namespace) for o in others})
    named = ", ".join(o.ref for o in others[:3]) + (" ..." if len(others) > 3 else "")
    return SELECTOR_NO_PODS.finding(
        CHECK_ID,
        f"{svc.ref} selects {labels}: the pods with those labels ({named}) run in namespace "
        f"{', '.join(where)}, not in {svc.namespace}. A Service selects pods only in its own "
        "namespace (project), so it has no endpoints.",
        title=f"Service selector matches pods only in namespace {', '.join(where)}",
        resource=svc.resource("spec.selector"),
        evidence={"selector": labels, "matching_namespaces": list[Scalar](where),
                  "matching": list[Scalar](o.ref for o in others[:10])},
        fix=Fix(
            summary=f"Create the Service (and the route that names it) in namespace {where[0]}"
            f", next to the pods, or run the workload in {svc.namespace}. To reach a Service "
            "of another namespace from a route, point the route at that namespace's Service "
            "(Gateway API: a ReferenceGrant; Ingress: an ExternalName Service).",
            snippet=f"kubectl get pods -A -l {labels.replace(', ', ',')}",
            language="shell",
        ),
    )


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


def labels_of(tpl: dict[str, Any]) -> dict[str, str]:
    """The labels of a pod template."""
    return dict((tpl.get("metadata") or {}).get("labels") or {})


def _controller_namespaces(snap: ClusterSnapshot) -> set[str]:
    found = set(CONTROLLER_NAMESPACES)
    for controller in backends.CONTROLLERS_BY_IMAGE:
        found.update(str(w.namespace) for w in backends.controller_workloads(snap, controller))
    return found


def _admits_controller(peer: dict[str, Any], namespaces: set[str]) -> bool:
    """Whether a NetworkPolicy ``from`` peer can match the ingress controller's pods."""
    if "ipBlock" in peer:
        cidr = str((peer.get("ipBlock") or {}).get("cidr", ""))
        return cidr in ("0.0.0.0/0", "::/0")
    if "namespaceSelector" not in peer:
        return False
    selector = peer.get("namespaceSelector") or {}
    if not selector:
        return True
    return any(ns in str(selector) for ns in namespaces)


def _netpol(
    snap: ClusterSnapshot, svc: KubeObject, workloads: list[backends.Template]
) -> Iterator[Finding]:
    """A policy that selects the backend pods and admits nothing from another namespace
    (Deployments, StatefulSets and any other owner alike)."""
    namespaces = snap.memo("controller-namespaces", lambda: _controller_namespaces(snap))
    for pol in snap.in_namespace("NetworkPolicy", svc.namespace):
        if "Ingress" not in (pol.spec.get("policyTypes") or ["Ingress"]):
            continue
        selected = [
            o
            for o, tpl, _ in workloads
            if backends.selector_matches(pol.spec.get("podSelector") or {}, labels_of(tpl))
        ]
        if not selected or svc.namespace in namespaces:
            continue
        rules = pol.spec.get("ingress") or []
        allows = any(
            not r.get("from") or any(_admits_controller(p, namespaces) for p in r.get("from") or [])
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
