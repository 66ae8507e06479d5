"""From a full cluster snapshot to the cluster check's observation for one target."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsdoctor.kube import discover
from wsdoctor.kube.affinity import configured_affinity
from wsdoctor.kube.relevant import relevant_snapshot
from wsdoctor.kube.snapshot import ClusterSnapshot
from wsdoctor.kube.timeouts import path_timeouts
from wsdoctor.models import Target

if TYPE_CHECKING:
    from wsdoctor.checks.cluster import ClusterObservation
    from wsdoctor.settings import Settings


def observe(
    snap: ClusterSnapshot,
    target: Target,
    settings: Settings,
    duration_s: float,
    context: str | None,
) -> ClusterObservation:
    """The routes serving ``target``, their backends, timeouts, affinity and TLS."""
    from wsdoctor.checks.cluster import (
        BackendSummary,
        ClusterObservation,
        RouteSummary,
        TlsConfig,
    )

    subset, routes = relevant_snapshot(snap, target.host, target.path)
    summaries = []
    for route in routes:
        backends = []
        for backend in route.backends:
            svc = subset.find("Service", backend.namespace, backend.service)
            port = discover.service_port(svc, backend.port) if svc is not None else None
            slices = discover.endpoint_slices(subset, backend.namespace, backend.service)
            pods = [
                o.name
                for o, _, _ in discover.selected_templates(
                    subset, backend.namespace, (svc.spec.get("selector") or {}) if svc else {}
                )
                if o.kind == "Pod"
            ]
            backends.append(
                BackendSummary(
                    service=f"{backend.namespace}/{backend.service}",
                    port=backend.port,
                    target_port=(port or {}).get("targetPort"),
                    app_protocol=(port or {}).get("appProtocol"),
                    exists=svc is not None,
                    endpoints=discover.endpoint_counts(slices),
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
                backends=backends,
            )
        )
    best = routes[0] if routes else None
    tls: list[TlsConfig] = []
    if best is not None:
        obj = subset.find(best.kind, best.namespace, best.name)
        if obj is not None and obj.kind == "Ingress":
            for entry in obj.spec.get("tls") or []:
                tls.append(
                    TlsConfig(
                        namespace=best.namespace,
                        hosts=[str(h) for h in entry.get("hosts") or []],
                        secret_name=entry.get("secretName"),
                    )
                )
    return ClusterObservation(
        context=context,
        routes=summaries,
        controller=best.controller if best else None,
        lb_addresses=discover.lb_addresses(discover.load_balancer_services(subset, best.controller))
        if best
        else [],
        timeouts=path_timeouts(subset, best) if best else [],
        affinity=configured_affinity(subset, best) if best else None,
        tls=tls,
        snapshot=subset,
        objects_read=len(snap.objects),
        duration_s=round(duration_s, 6),
    )
