"""The hops behind a route, as a bisected run tests them: one backend pod (the application)
and one pod of the ingress controller, each with the port, scheme and path a request reaches
it on. Pure functions over the cluster check's observation; the public address is the
target itself.

The pod hop is what the controller would send to: a ready endpoint of the route's first
backend Service (EndpointSlices, else the Service's selected Pods), on the endpoint port of
that Service port, ``wss`` when the backend speaks TLS (``appProtocol``, ingress-nginx
``backend-protocol``), on the path after ingress-nginx's ``rewrite-target``. The controller
hop is a running pod whose image is the route's controller, on the container port its
Service maps the public port to; the same scheme, Host and SNI as the public address.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

import wsdoctor.kube.backends as backends
from wsdoctor.kube.nginx_paths import nginx_path_regex
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject
from wsdoctor.models import Model, Target

if TYPE_CHECKING:
    from wsdoctor.checks.cluster import ClusterObservation, RouteSummary

HopRole = Literal["pod", "controller"]
NGINX = "nginx.ingress.kubernetes.io/"
#: Controllers that are a cloud load balancer themselves: no controller pod to reach.
CLOUD_CONTROLLERS = {"aws-alb": "the AWS Load Balancer Controller (an ALB)",
                     "gce": "GKE's ingress-gce (a Google Cloud load balancer)"}
TLS_APP_PROTOCOLS = ("https", "wss", "kubernetes.io/wss", "tls")
#: Resources of the route kinds (what a forbidden list leaves the route unknown for).
ROUTE_RESOURCES = ("ingresses", "httproutes", "ingressroutes", "virtualservices")


class HopPlan(Model):
    """One hop to test, or why it cannot be."""

    role: HopRole
    namespace: str | None = None
    pod: str | None = None
    address: str | None = None
    """The pod's IP (what a client in the pod network connects to)."""
    port: int | None = None
    """The container port the request reaches."""
    scheme: Literal["ws", "wss"] = "ws"
    path: str = "/"
    component: str = "application"
    """``application`` for the backend pod, else the controller (``ingress-nginx``...)."""
    service: str | None = None
    """``namespace/name`` of the Service in front of the pod."""
    replicas: int = 0
    """Ready pods the hop could have been (one is tested)."""
    note: str | None = None
    problem: str | None = None
    """Why this hop cannot be tested (then the other fields may be empty)."""

    @property
    def label(self) -> str:
        """``pod chat/chat-5f7d`` or ``ingress-nginx pod ingress-nginx/controller-abc``."""
        who = "pod" if self.role == "pod" else f"{self.component} pod"
        return f"{who} {self.namespace}/{self.pod}" if self.pod else who


def plan_hops(obs: ClusterObservation, target: Target) -> list[HopPlan]:
    """The pod hop and the controller hop for ``target`` (each may carry a problem)."""
    if not obs.routes:
        why = _no_route(obs, target)
        return [HopPlan(role="pod", problem=why), HopPlan(role="controller", problem=why)]
    route = obs.routes[0]
    return [pod_hop(obs.snapshot, route, target), controller_hop(obs.snapshot, route, target)]


def _no_route(obs: ClusterObservation, target: Target) -> str:
    """Why no route was found: the cluster unreadable, route kinds forbidden, or none."""
    if obs.access_failure is not None:
        return f"the cluster could not be read: {obs.access_failure.message}"
    where = f"{target.host}{target.path}"
    gaps = [g for g in obs.snapshot.permission_gaps
            if g.resource.split(".")[0] in ROUTE_RESOURCES]
    if gaps:
        return f"no readable route serves {where} (forbidden: " \
            f"{'; '.join(str(g) for g in gaps)})"
    return f"no route in the cluster serves {where}"


# -- the backend pod ------------------------------------------------------------------------


def pod_hop(snap: ClusterSnapshot, route: RouteSummary, target: Target) -> HopPlan:
    """A ready pod behind the route's first backend Service."""
    if not route.backends:
        return HopPlan(role="pod", problem=f"{route.kind} {route.namespace}/{route.name} has "
                       "no backend Service")
    backend = route.backends[0]
    namespace, _, name = backend.service.partition("/")
    svc = snap.find("Service", namespace, name)
    if svc is None:
        return HopPlan(role="pod", problem=f"Service {backend.service} is missing or unreadable")
    port = backends.service_port(svc, backend.port) or {}
    candidates = _slice_endpoints(snap, namespace, name, port.get("name")) or \
        _selected_pods(snap, svc, port.get("targetPort") or port.get("port"))
    ready = sorted((c for c in candidates if c[3]), key=lambda c: c[0])
    base: dict[str, Any] = {"role": "pod", "service": backend.service, "replicas": len(ready),
            "scheme": _backend_scheme(snap, route, port), "namespace": namespace}
    if not ready:
        return HopPlan(**base, problem=f"Service {backend.service} has no ready endpoint")
    pod, address, number, _ = ready[0]
    path, note = pod_path(snap, route, target.path)
    if number is None:
        return HopPlan(**base, pod=pod, problem=f"cannot tell the port of pod {namespace}/{pod} "
                       f"behind Service port {backend.port}")
    return HopPlan(**base, pod=pod, address=address, port=number, path=path, note=note)


Candidate = tuple[str, str | None, int | None, bool]
"""(pod name, pod IP, port, ready)."""


def _slice_endpoints(snap: ClusterSnapshot, namespace: str, service: str,
                     port_name: Any) -> list[Candidate]:
    found: list[Candidate] = []
    for slice_ in backends.endpoint_slices(snap, namespace, service):
        ports = slice_.body.get("ports") or []
        entry = next((p for p in ports if (p.get("name") or None) == (port_name or None)),
                     ports[0] if len(ports) == 1 else None)
        number = entry.get("port") if entry else None
        for endpoint in slice_.body.get("endpoints") or []:
            ref = endpoint.get("targetRef") or {}
            if ref.get("kind", "Pod") != "Pod" or not ref.get("name"):
                continue
            ready = (endpoint.get("conditions") or {}).get("ready") is not False
            addresses = endpoint.get("addresses") or [None]
            found.append((str(ref["name"]), addresses[0],
                          int(number) if isinstance(number, int) else None, ready))
    return found


def _selected_pods(snap: ClusterSnapshot, svc: KubeObject, target_port: Any) -> list[Candidate]:
    """Running, ready Pods the Service selects (when EndpointSlices are not readable)."""
    selector = svc.spec.get("selector") or {}
    found: list[Candidate] = []
    for pod in snap.of_kind("Pod"):
        if pod.namespace != svc.namespace or not selector or \
                not backends.selector_matches(selector, pod.labels):
            continue
        found.append((pod.name, pod.status.get("podIP"), container_port(pod, target_port),
                      pod_ready(pod)))
    return found


def pod_ready(pod: KubeObject) -> bool:
    """Running, and ready by its Ready condition (or every container ready)."""
    if pod.status.get("phase") != "Running":
        return False
    for cond in pod.status.get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    statuses = pod.status.get("containerStatuses") or []
    return all(s.get("ready") is not False for s in statuses)


def container_port(pod: KubeObject, port: Any) -> int | None:
    """A Service ``targetPort`` (number or name) as the pod's container port."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for container in pod.spec.get("containers") or []:
        for entry in container.get("ports") or []:
            if port is not None and entry.get("name") == port:
                return int(entry.get("containerPort") or 0) or None
    return None


def _backend_scheme(snap: ClusterSnapshot, route: RouteSummary,
                    port: dict[str, Any]) -> Literal["ws", "wss"]:
    """``wss`` when the controller talks TLS to the backend."""
    protocol = str(port.get("appProtocol") or "").lower()
    if protocol in TLS_APP_PROTOCOLS or str(port.get("name") or "").startswith("https"):
        return "wss"
    obj = snap.find(route.kind, route.namespace, route.name)
    declared = (obj.annotations.get(NGINX + "backend-protocol", "") if obj else "").upper()
    return "wss" if declared in ("HTTPS", "GRPCS") else "ws"


def pod_path(snap: ClusterSnapshot, route: RouteSummary, path: str) -> tuple[str, str | None]:
    """The path the pod receives: ingress-nginx ``rewrite-target`` applied (``$1``... from
    the Ingress path as a regular expression); a note when it could not be applied."""
    obj = snap.find(route.kind, route.namespace, route.name)
    rewrite = obj.annotations.get(NGINX + "rewrite-target") if obj is not None else None
    if not rewrite:
        return path, None
    bare, query = path.partition("?")[::2]
    compiled = nginx_path_regex(route.path)  # nginx: rewrite "(?i)PATH" TARGET
    match = compiled.match(bare) if compiled is not None else None
    if match is None:
        return path, (f"rewrite-target {rewrite!r} does not match {bare!r} as ingress-nginx "
                      "would: the pod was sent the public path")
    try:
        rewritten = re.sub(r"\$(\d)", lambda m: match.group(int(m[1])) or "", rewrite)
    except IndexError:
        return path, f"rewrite-target {rewrite!r} names a group the path has not"
    rewritten = rewritten if rewritten.startswith("/") else "/" + rewritten
    return rewritten + (f"?{query}" if query else ""), f"path rewritten by rewrite-target " \
        f"{rewrite!r}: {bare} → {rewritten}"


# -- the ingress controller pod -------------------------------------------------------------


def controller_hop(snap: ClusterSnapshot, route: RouteSummary, target: Target) -> HopPlan:
    """A running pod of the route's controller, on the port the public port maps to."""
    controller = route.controller
    base: dict[str, Any] = {"role": "controller", "component": controller,
                            "scheme": target.scheme.value, "path": target.path}
    if controller in CLOUD_CONTROLLERS:
        return HopPlan(**base, problem=f"{route.kind} {route.namespace}/{route.name} is served "
                       f"by {CLOUD_CONTROLLERS[controller]}: there is no controller pod")
    if controller not in backends.CONTROLLERS_BY_IMAGE:
        return HopPlan(**base, problem=f"cannot tell which pods run the route's controller "
                       f"({controller})")
    pods = sorted((p for p in snap.of_kind("Pod") if _runs(p, controller)),
                  key=lambda p: (not pod_ready(p), p.namespace or "", p.name))
    ready = [p for p in pods if pod_ready(p)]
    if not ready:
        where = "is readable" if snap.knows("Pod") else "could be read (list pods)"
        return HopPlan(**base, problem=f"no running, ready {controller} pod {where}")
    pod = ready[0]
    service, port = _controller_port(snap, controller, pod, target)
    return HopPlan(**base, namespace=pod.namespace, pod=pod.name,
                   address=pod.status.get("podIP"), port=port, service=service,
                   replicas=len(ready))


def _runs(pod: KubeObject, controller: str) -> bool:
    images = [str(c.get("image", "")) for c in pod.spec.get("containers") or []]
    return any(backends.image_controller(image, pod.labels) == controller for image in images)


def _controller_port(snap: ClusterSnapshot, controller: str, pod: KubeObject,
                     target: Target) -> tuple[str | None, int]:
    """(Service, container port): the controller Service's port for the public port (by
    number, then by the scheme's name), mapped to the pod; else the pod's own port named
    for the scheme; else the scheme's default port."""
    wanted = "https" if target.secure else "http"
    default = 443 if target.secure else 80
    for svc in backends.controller_services(snap, controller):
        if svc.namespace != pod.namespace or not backends.selector_matches(
                svc.spec.get("selector") or {}, pod.labels):
            continue
        ports = svc.spec.get("ports") or []
        entry = next((p for p in ports if p.get("port") == target.port), None) or next(
            (p for p in ports if p.get("name") == wanted or p.get("port") == default), None)
        if entry is not None:
            mapped = entry.get("targetPort") or entry.get("port")
            number = container_port(pod, mapped) or _named_default(mapped, default)
            return f"{svc.namespace}/{svc.name}", number
    return None, container_port(pod, wanted) or default


def _named_default(name: Any, default: int) -> int:
    """A port name the pod does not declare: the usual number for it."""
    return {"https": 443, "http": 80}.get(str(name), default)
