"""From a full cluster snapshot to the cluster check's observation for one target."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsdoctor.kube import backends, discover
from wsdoctor.kube.affinity import configured_affinity
from wsdoctor.kube.discover import GATEWAY_GROUP, ISTIO_GROUP, RouteRule
from wsdoctor.kube.istio_mesh import gateway_workloads
from wsdoctor.kube.relevant import relevant_snapshot
from wsdoctor.kube.shapes import split_malformed
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject
from wsdoctor.kube.timeouts import path_timeouts
from wsdoctor.models import Target

if TYPE_CHECKING:
    from wsdoctor.kube.observation import ClusterObservation, TlsConfig
    from wsdoctor.settings import Settings


def observe(
    snap: ClusterSnapshot,
    target: Target,
    settings: Settings,
    duration_s: float,
    context: str | None,
) -> ClusterObservation:
    """The routes serving ``target``, their backends, timeouts, affinity and TLS."""
    from wsdoctor.kube.observation import BackendSummary, ClusterObservation, RouteSummary

    # Malformed objects are matched against nothing, but stay in the observation's snapshot
    # when in a namespace it covers, so the rules report them (WSD-K8S-MALFORMED).
    clean, malformed, _ = split_malformed(snap)
    subset, routes = relevant_snapshot(clean, target.host, target.path)
    summaries = []
    for route in routes:
        rows = []
        for backend in route.backends:
            svc = subset.find("Service", backend.namespace, backend.service)
            port = backends.service_port(svc, backend.port) if svc is not None else None
            slices = backends.endpoint_slices(subset, backend.namespace, backend.service)
            pods = [
                o.name
                for o, _, _ in backends.selected_templates(
                    subset, backend.namespace, (svc.spec.get("selector") or {}) if svc else {}
                )
                if o.kind == "Pod"
            ]
            rows.append(
                BackendSummary(
                    service=f"{backend.namespace}/{backend.service}",
                    port=backend.port,
                    target_port=(port or {}).get("targetPort"),
                    app_protocol=(port or {}).get("appProtocol"),
                    exists=svc is not None,
                    endpoints=backends.endpoint_counts(slices),
                    pods=pods,
                )
            )
        summaries.append(
            RouteSummary(
                kind=route.kind,
                namespace=route.namespace,
                name=route.name,
                controller=route.controller,
                class_name=route.class_name,
                hosts=route.hosts,
                path=route.path,
                path_type=route.path_type,
                backends=rows,
            )
        )
    best = routes[0] if routes else None
    tls = tls_sections(subset, best, target.host) if best is not None else []
    addresses, source = external_addresses(subset, best) if best else ([], None)
    return ClusterObservation(
        context=context,
        routes=summaries,
        controller=best.controller if best else None,
        lb_addresses=addresses,
        addresses_from=source,
        timeouts=path_timeouts(subset, best) if best else [],
        affinity=configured_affinity(subset, best) if best else None,
        tls=tls,
        snapshot=_with_malformed(subset, malformed),
        objects_read=len(snap.objects),
        duration_s=round(duration_s, 6),
    )


def route_addresses(snap: ClusterSnapshot, route: RouteRule) -> tuple[list[str], str | None]:
    """What the route itself says clients reach (``kubectl get ingress`` ADDRESS): Ingress
    ``status.loadBalancer.ingress``, or the parent Gateway's ``status.addresses``."""
    obj = snap.find(route.kind, route.namespace, route.name)
    if obj is None:
        return [], None
    if obj.kind == "Ingress":
        entries = (obj.status.get("loadBalancer") or {}).get("ingress") or []
        found = [
            str(e.get("ip") or e.get("hostname"))
            for e in entries
            if isinstance(e, dict) and (e.get("ip") or e.get("hostname"))
        ]
        return found, (f"{obj.ref} status.loadBalancer" if found else None)
    if obj.kind == "HTTPRoute":
        for parent in obj.spec.get("parentRefs") or []:
            if not isinstance(parent, dict):
                continue
            gw = snap.find(
                "Gateway",
                parent.get("namespace") or route.namespace,
                str(parent.get("name")),
                group=GATEWAY_GROUP,
            )
            entries = (gw.status.get("addresses") or []) if gw is not None else []
            found = [str(e["value"]) for e in entries if isinstance(e, dict) and e.get("value")]
            if gw is not None and found:
                return found, f"{gw.ref} status.addresses"
    return [], None


def external_addresses(snap: ClusterSnapshot, route: RouteRule) -> tuple[list[str], str | None]:
    """The route's own addresses first; else the controller's LoadBalancer Services."""
    found, source = route_addresses(snap, route)
    if found:
        return found, source
    services = backends.load_balancer_services(snap, route.controller)
    found = backends.lb_addresses(services)
    if not found:
        return [], None
    names = ", ".join(f"{s.namespace}/{s.name}" for s in services)
    return found, f"{route.controller} LoadBalancer Service {names}"


def _with_malformed(subset: ClusterSnapshot, malformed: list[KubeObject]) -> ClusterSnapshot:
    """``subset`` plus the malformed objects of its namespaces (all of them when the subset
    is empty: nothing matched, and a malformed route may be why)."""
    if not malformed:
        return subset
    namespaces = {o.namespace for o in subset.objects if o.namespace}
    extra = [o for o in malformed if not namespaces or o.namespace in namespaces]
    return subset.model_copy(update={"objects": [*subset.objects, *extra]})


def tls_sections(snap: ClusterSnapshot, route: RouteRule, host: str) -> list[TlsConfig]:
    """The TLS configuration that applies to ``route``: Ingress ``spec.tls``, IngressRoute
    ``spec.tls``, Gateway API listener ``certificateRefs``, Istio Gateway ``credentialName``."""
    from wsdoctor.kube.observation import TlsConfig

    obj = snap.find(route.kind, route.namespace, route.name)
    if obj is None:
        return []
    found: list[TlsConfig] = []
    if obj.kind == "Ingress":
        for entry in obj.spec.get("tls") or []:
            found.append(
                TlsConfig(
                    namespace=route.namespace,
                    hosts=[str(h) for h in entry.get("hosts") or []],
                    secret_name=entry.get("secretName"),
                )
            )
    elif obj.kind == "IngressRoute" and obj.spec.get("tls"):
        found.append(
            TlsConfig(
                namespace=route.namespace,
                hosts=list(route.hosts),
                secret_name=(obj.spec.get("tls") or {}).get("secretName"),
            )
        )
    elif obj.kind == "HTTPRoute":
        for parent in obj.spec.get("parentRefs") or []:
            gw = snap.find(
                "Gateway",
                parent.get("namespace") or route.namespace,
                str(parent.get("name")),
                group=GATEWAY_GROUP,
            )
            for listener in (gw.spec.get("listeners") or []) if gw is not None else []:
                name = listener.get("hostname")
                if name and not discover.host_matches(str(name), host):
                    continue
                for ref in (listener.get("tls") or {}).get("certificateRefs") or []:
                    found.append(
                        TlsConfig(
                            namespace=str(ref.get("namespace") or (gw.namespace if gw else "")),
                            hosts=[str(name)] if name else [],
                            secret_name=ref.get("name"),
                        )
                    )
    elif obj.kind == "VirtualService":
        for gw_name in obj.spec.get("gateways") or []:
            ns, _, name = str(gw_name).rpartition("/")
            gw = snap.find("Gateway", ns or route.namespace, name, group=ISTIO_GROUP)
            for server in (gw.spec.get("servers") or []) if gw is not None else []:
                hosts = [str(h).split("/")[-1] for h in server.get("hosts") or []]
                credential = (server.get("tls") or {}).get("credentialName")
                if credential and any(discover.host_matches(h, host) for h in hosts):
                    # The gateway workload reads the Secret in its own namespace.
                    workloads = gateway_workloads(snap, gw) if gw is not None else []
                    found.append(
                        TlsConfig(
                            namespace=str(workloads[0].namespace)
                            if workloads and workloads[0].namespace
                            else (gw.namespace or "default" if gw else "default"),
                            hosts=hosts,
                            secret_name=credential,
                        )
                    )
    return found
