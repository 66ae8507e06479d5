"""Which watch streams to open for a target: the namespace, Services and pod selectors of
the route's backends, the route itself and the controller's ConfigMaps, from the cluster
check's discovery. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsdoctor.kube import backends
from wsdoctor.records import dataclass

if TYPE_CHECKING:
    from wsdoctor.checks.cluster import ClusterObservation


class ClusterWatchError(Exception):
    """Nothing could be watched: one line saying why."""


@dataclass(frozen=True)
class WatchPlan:
    """What to watch for one target, from the cluster check's discovery."""

    namespace: str
    services: tuple[str, ...]
    selectors: tuple[dict[str, str], ...]
    route: tuple[str, str, str, str] | None = None
    """(apiVersion, kind, namespace, name) of the route serving the target."""
    route_class: str | None = None
    controller: str | None = None
    configmaps: tuple[tuple[str, str], ...] = ()
    """(namespace, name) of the controller's ConfigMaps."""


def watch_plan(obs: ClusterObservation) -> WatchPlan:
    """The streams to open for the route serving the target; ClusterWatchError without one."""
    if not obs.routes:
        raise ClusterWatchError("no route in the cluster serves the target")
    route = obs.routes[0]
    services = [b.service for b in route.backends if b.exists]
    if not services:
        raise ClusterWatchError(f"{route.kind} {route.namespace}/{route.name} has no backend "
                                "Service")
    namespace = services[0].split("/")[0]
    selectors = []
    for ref in services:
        ns, _, name = ref.partition("/")
        svc = obs.snapshot.find("Service", ns, name)
        selector = (svc.spec.get("selector") if svc is not None else None) or {}
        if isinstance(selector, dict) and selector:
            selectors.append({str(k): str(v) for k, v in selector.items()})
    found = obs.snapshot.find(route.kind, route.namespace, route.name)
    api_version = found.api_version if found is not None else ""
    configmaps = tuple(backends.controller_configmaps(obs.snapshot, obs.controller)) \
        if obs.controller else ()
    return WatchPlan(
        namespace=namespace, services=tuple(s.split("/")[1] for s in services
                                            if s.startswith(f"{namespace}/")),
        selectors=tuple(selectors),
        route=(api_version, route.kind, route.namespace, route.name) if api_version else None,
        route_class=route.class_name, controller=obs.controller, configmaps=configmaps)
