"""What a route sends traffic to, and what runs the controller: pod templates and selectors,
Service ports, EndpointSlices, controller pods (by image), their ``--configmap`` flag and
LoadBalancer Services. Pure functions over a :class:`ClusterSnapshot`."""

from __future__ import annotations

import re
from typing import Any

from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, field_path

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod")
#: Controllers whose pods wsdoctor recognises by image (see :func:`image_controller`).
CONTROLLERS_BY_IMAGE = ("ingress-nginx", "haproxytech", "haproxy-ingress", "traefik", "istio")


Template = tuple[KubeObject, dict[str, Any], str]


def _pod_templates(snap: ClusterSnapshot) -> list[Template]:
    found: list[Template] = []
    for obj in snap.of_kind(*WORKLOAD_KINDS):
        if obj.kind == "Pod":
            found.append((obj, {"metadata": {"labels": obj.labels}, "spec": obj.spec}, "spec"))
        elif obj.kind != "ReplicaSet" or not obj.body.get("ownerReferences"):
            template = obj.spec.get("template") or {}
            found.append((obj, template, field_path("spec", "template", "spec")))
    return found


def pod_templates(snap: ClusterSnapshot) -> list[Template]:
    """(owner, pod template, field prefix) for workloads and bare Pods."""
    return snap.memo("pod-templates", lambda: _pod_templates(snap))


def _templates_by_namespace(snap: ClusterSnapshot) -> dict[str | None, list[Template]]:
    by_ns: dict[str | None, list[Template]] = {}
    for entry in pod_templates(snap):
        by_ns.setdefault(entry[0].namespace, []).append(entry)
    return by_ns


def selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Equality selector (Service ``spec.selector``, ``matchLabels``) and ``matchExpressions``."""
    if "matchLabels" in selector or "matchExpressions" in selector:
        if not all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items()):
            return False
        for expr in selector.get("matchExpressions") or []:
            key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
            if op == "In" and labels.get(key) not in values:
                return False
            if op == "NotIn" and labels.get(key) in values:
                return False
            if op == "Exists" and key not in labels:
                return False
            if op == "DoesNotExist" and key in labels:
                return False
        return True
    return all(labels.get(str(k)) == str(v) for k, v in selector.items())


def selected_templates(
    snap: ClusterSnapshot, namespace: str | None, selector: dict[str, Any]
) -> list[tuple[KubeObject, dict[str, Any], str]]:
    """Pod templates (and Pods) in ``namespace`` whose labels the selector matches."""
    if not selector:
        return []
    by_ns = snap.memo("templates-by-namespace", lambda: _templates_by_namespace(snap))
    return [
        (owner, tpl, prefix)
        for owner, tpl, prefix in by_ns.get(namespace, [])
        if selector_matches(selector, (tpl.get("metadata") or {}).get("labels") or {})
    ]


def selected_elsewhere(
    snap: ClusterSnapshot, namespace: str | None, selector: dict[str, Any]
) -> list[KubeObject]:
    """Workloads and Pods outside ``namespace`` whose labels the selector matches (a Service
    selects only in its own namespace), owners first, sorted by reference."""
    if not selector:
        return []
    by_ns = snap.memo("templates-by-namespace", lambda: _templates_by_namespace(snap))
    found = [
        owner
        for ns, entries in by_ns.items()
        if ns != namespace
        for owner, tpl, _ in entries
        if selector_matches(selector, (tpl.get("metadata") or {}).get("labels") or {})
    ]
    return sorted(found, key=lambda o: (o.kind == "Pod", o.ref))


def service_port(service: KubeObject, port: str | int | None) -> dict[str, Any] | None:
    """The Service port a backend names (by name or number; the only port when unnamed)."""
    ports = service.spec.get("ports") or []
    if port is None:
        return ports[0] if len(ports) == 1 else None
    for entry in ports:
        if (isinstance(port, int) and entry.get("port") == port) or entry.get("name") == port:
            return dict(entry)
    return None


def port_targets(service: KubeObject, port: str | int | None) -> set[str | int]:
    """The container ports (numbers or names) a Service port sends to: the backend's port,
    or every port of the Service when the backend names none."""
    entries = [service_port(service, port)] if port is not None else service.spec.get("ports")
    targets: set[str | int] = set()
    for entry in entries or []:
        target = entry.get("targetPort", entry.get("port")) if entry is not None else None
        if isinstance(target, str | int):
            targets.add(target)
    return targets


def declaring_containers(
    tpl: dict[str, Any], targets: set[str | int]
) -> list[tuple[int, dict[str, Any]]]:
    """(index, container) of the pod template's containers that declare one of ``targets``
    (a port number or name); empty when none does (a numeric targetPort need not be
    declared, so which container listens cannot always be told from the manifest)."""
    return [
        (i, c)
        for i, c in enumerate((tpl.get("spec") or {}).get("containers") or [])
        if any(
            p.get("containerPort") in targets or p.get("name") in targets
            for p in c.get("ports") or []
        )
    ]


def serving_containers(
    service: KubeObject, port: str | int | None, tpl: dict[str, Any]
) -> list[dict[str, Any]]:
    """The containers a Service port sends to in this pod template: those declaring its
    targetPort, else every container (a sidecar's image says nothing of another port)."""
    declared = declaring_containers(tpl, port_targets(service, port))
    return [c for _, c in declared] or list((tpl.get("spec") or {}).get("containers") or [])


def endpoint_slices(snap: ClusterSnapshot, namespace: str, service: str) -> list[KubeObject]:
    """EndpointSlices of a Service (label ``kubernetes.io/service-name``)."""

    def index() -> dict[tuple[str | None, str], list[KubeObject]]:
        by_service: dict[tuple[str | None, str], list[KubeObject]] = {}
        for s in snap.of_kind("EndpointSlice"):
            key = (s.namespace, s.labels.get("kubernetes.io/service-name", ""))
            by_service.setdefault(key, []).append(s)
        return by_service

    return snap.memo("slices-by-service", index).get((namespace, service), [])


def endpoint_counts(slices: list[KubeObject]) -> dict[str, int]:
    """Endpoints by condition: ready, serving, terminating (unset ready counts as ready)."""
    counts = {"total": 0, "ready": 0, "serving": 0, "terminating": 0}
    for slice_ in slices:
        for endpoint in slice_.body.get("endpoints") or []:
            cond = endpoint.get("conditions") or {}
            counts["total"] += 1
            counts["ready"] += cond.get("ready") is not False
            counts["serving"] += cond.get("serving", cond.get("ready")) is not False
            counts["terminating"] += cond.get("terminating") is True
    return counts


def image_controller(image: str, labels: dict[str, str]) -> str | None:
    """The controller a container image runs, if it is one. Istio's proxy image also runs
    every sidecar, so only gateway pods (``istio: ingressgateway``) count as Istio's."""
    repository = image.split("@")[0].rsplit(":", 1)[0]
    name = repository.rsplit("/", 1)[-1]
    if "ingress-nginx/controller" in repository:
        return "ingress-nginx"
    if name in ("nginx-ingress", "nginx-plus-ingress"):  # nginx/nginx-ingress (F5 NGINX Inc)
        return "nginx-inc"
    if "haproxytech/kubernetes-ingress" in repository:
        return "haproxytech"
    if name == "haproxy-ingress":
        return "haproxy-ingress"
    if name == "traefik":
        return "traefik"
    if name == "proxyv2" and "gateway" in labels.get("istio", labels.get("app", "")):
        return "istio"
    return None


def controller_workloads(snap: ClusterSnapshot, controller: str) -> list[KubeObject]:
    """Workloads (or Pods) whose container image is this controller's."""
    return snap.memo(("controller-workloads", controller), lambda: _workloads(snap, controller))


def _workloads(snap: ClusterSnapshot, controller: str) -> list[KubeObject]:
    found = []
    for owner, tpl, _ in pod_templates(snap):
        labels = (tpl.get("metadata") or {}).get("labels") or {}
        images = [str(c.get("image", "")) for c in (tpl.get("spec") or {}).get("containers") or []]
        if any(image_controller(image, labels) == controller for image in images):
            found.append(owner)
    return found


def container_args(template: dict[str, Any]) -> list[str]:
    """Every ``args``/``command`` entry of every container of a pod template."""
    return [
        str(a)
        for c in (template.get("spec") or {}).get("containers") or []
        for a in [*(c.get("command") or []), *(c.get("args") or [])]
    ]


def template_of(obj: KubeObject) -> dict[str, Any]:
    """The pod template of a workload, or a Pod's own spec as one."""
    if obj.kind == "Pod":
        return {"metadata": {"labels": obj.labels}, "spec": obj.spec}
    return dict(obj.spec.get("template") or {})


def flag_value(args: list[str], flag: str) -> str | None:
    """``--flag=value`` or ``--flag value`` from container args."""
    for i, arg in enumerate(args):
        if arg.startswith(f"{flag}="):
            return arg.split("=", 1)[1]
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
    return None


def flag_set(args: list[str], flag: str) -> bool:
    """Whether a boolean flag is on: ``--flag``, ``--flag=true`` (``--flag=false`` is off)."""
    return any(a == flag or a.lower() in (f"{flag}=true", f"{flag}=1") for a in args)


def controller_configmaps(
    snap: ClusterSnapshot, controller: str, flag: str = "--configmap"
) -> list[tuple[str, str]]:
    """(namespace, name) of the ConfigMaps the controller's ``--configmap`` flag (or
    another ConfigMap flag, e.g. ``--tcp-services-configmap``) names."""
    found = []
    for owner in controller_workloads(snap, controller):
        value = flag_value(container_args(template_of(owner)), flag)
        if value:
            value = value.replace("$(POD_NAMESPACE)", owner.namespace or "default")
            ns, _, name = value.rpartition("/")
            found.append((ns or owner.namespace or "default", name))
    return found


def image_version(image: str) -> tuple[int, ...] | None:
    """The version in an image tag (``traefik:v2.10.4`` → (2, 10, 4)); None without one."""
    tag = image.split("@")[0].rsplit("/", 1)[-1].partition(":")[2]
    match = re.match(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", tag)
    if match is None:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def controller_versions(snap: ClusterSnapshot, controller: str) -> list[tuple[KubeObject, str]]:
    """(workload, image) of each container of the controller's workloads that runs it."""
    found = []
    for owner in controller_workloads(snap, controller):
        tpl = template_of(owner)
        labels = (tpl.get("metadata") or {}).get("labels") or {}
        for c in (tpl.get("spec") or {}).get("containers") or []:
            image = str(c.get("image", ""))
            if image_controller(image, labels) == controller:
                found.append((owner, image))
    return found


def load_balancer_services(snap: ClusterSnapshot, controller: str) -> list[KubeObject]:
    """``type: LoadBalancer`` Services that select the controller's pods."""
    return snap.memo(("lb-services", controller),
                     lambda: _selecting_services(snap, controller, "LoadBalancer"))


def controller_services(snap: ClusterSnapshot, controller: str) -> list[KubeObject]:
    """Services of any type that select the controller's pods."""
    return snap.memo(("controller-services", controller),
                     lambda: _selecting_services(snap, controller, None))


def _selecting_services(snap: ClusterSnapshot, controller: str,
                        of_type: str | None) -> list[KubeObject]:
    owners = controller_workloads(snap, controller)
    found = []
    for svc in snap.of_kind("Service"):
        if of_type is not None and svc.spec.get("type") != of_type:
            continue
        selector = svc.spec.get("selector") or {}
        for owner in owners:
            labels = (template_of(owner).get("metadata") or {}).get("labels") or {}
            if owner.namespace == svc.namespace and selector and selector_matches(selector, labels):
                found.append(svc)
                break
    return found


def lb_addresses(services: list[KubeObject]) -> list[str]:
    """External addresses (IP or hostname) from the Services' load-balancer status."""
    return [
        str(entry.get("ip") or entry.get("hostname"))
        for svc in services
        for entry in (svc.status.get("loadBalancer") or {}).get("ingress") or []
        if entry.get("ip") or entry.get("hostname")
    ]
