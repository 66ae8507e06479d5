"""Finding the hops behind a route: the backend pod (port, scheme, path after rewrites) and
an ingress controller pod (the port its Service maps the public port to)."""

from __future__ import annotations

from pathlib import Path

from wsdoctor.checks.cluster import ClusterObservation
from wsdoctor.kube.hops import plan_hops, pod_path
from wsdoctor.kube.manifests import load_manifests
from wsdoctor.kube.observe import observe
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

CLUSTER = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "cluster"
INGRESS = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api
  namespace: chat
  annotations: {ANNOTATIONS}
spec:
  ingressClassName: nginx
  rules:
  - host: api.example.com
    http:
      paths:
      - path: {PATH}
        pathType: ImplementationSpecific
        backend: {{service: {{name: api, port: {{number: 443}}}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: api, namespace: chat}}
spec:
  selector: {{app: api}}
  ports: [{{port: 443, targetPort: tls}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: api-1, namespace: chat, labels: {{app: api}}}}
spec:
  containers: [{{name: api, image: api:1, ports: [{{name: tls, containerPort: 9443}}]}}]
status: {{phase: {PHASE}, podIP: 10.1.0.21}}
"""


def observed(tmp_path: Path, url: str, extra: str = "") -> ClusterObservation:
    files = [str(p) for p in sorted(CLUSTER.glob("*.yaml"))]
    if extra:
        (tmp_path / "extra.yaml").write_text(extra)
        files.append(str(tmp_path / "extra.yaml"))
    snap = load_manifests(files).snapshot.model_copy(update={"source": "cluster"})
    return observe(snap, parse_target(url), Settings(), 0.0, "fake")


def test_pod_and_controller_behind_an_ingress(tmp_path: Path) -> None:
    """Given Ingress chat → Service chat (port http → ws) with two ready endpoints, and the
    ingress-nginx pod behind its LoadBalancer Service, the pod hop is the first ready pod on
    the endpoint port and the controller hop that pod's https port."""
    pod, controller = plan_hops(observed(tmp_path, "wss://chat.example.com/ws"),
                                parse_target("wss://chat.example.com/ws"))
    assert (pod.namespace, pod.pod, pod.address, pod.port, pod.scheme, pod.path) == (
        "chat", "chat-5f7d-aaaaa", "10.1.0.11", 8080, "ws", "/ws")
    assert (pod.service, pod.replicas, pod.problem) == ("chat/chat", 2, None)
    assert (controller.component, controller.namespace, controller.pod) == (
        "ingress-nginx", "ingress-nginx", "ingress-nginx-controller-7d9c-abcde")
    assert (controller.port, controller.scheme, controller.path) == (443, "wss", "/ws")
    assert controller.service == "ingress-nginx/ingress-nginx-controller"
    assert controller.label == "ingress-nginx pod ingress-nginx/ingress-nginx-controller-7d9c-abcde"


def test_rewrite_target_and_a_tls_backend(tmp_path: Path) -> None:
    """Given ingress-nginx's rewrite-target on /api and backend-protocol HTTPS, the pod is
    asked the rewritten path (the query kept) over TLS, on the container port the Service's
    named targetPort resolves to (no EndpointSlice: the selected pods)."""
    extra = INGRESS.format(PATH="/api", PHASE="Running", ANNOTATIONS=(
        '{"nginx.ingress.kubernetes.io/rewrite-target": "/", '
        '"nginx.ingress.kubernetes.io/backend-protocol": "HTTPS"}'))
    url = "wss://api.example.com/api/stream?room=1"
    obs = observed(tmp_path, url, extra)
    pod, _ = plan_hops(obs, parse_target(url))
    assert (pod.pod, pod.port, pod.scheme, pod.path) == ("api-1", 9443, "wss", "/?room=1")
    assert pod.note == "path rewritten by rewrite-target '/': /api/stream → /"
    regex = obs.routes[0].model_copy(update={"path": "/api(/|$)(.*)"})
    obj = obs.snapshot.find("Ingress", "chat", "api")
    assert obj is not None
    annotated = obj.model_copy(update={"annotations": {
        "nginx.ingress.kubernetes.io/rewrite-target": "/$2"}})
    snap = obs.snapshot.model_copy(update={"objects": [annotated]})
    assert pod_path(snap, regex, "/api/stream?room=1") == (
        "/stream?room=1", "path rewritten by rewrite-target '/$2': /api/stream → /stream")


def test_a_regex_path_with_rewrite_target_is_found_and_rewritten(tmp_path: Path) -> None:
    """Given ingress-nginx's rewrite-target /$2 on the path /API(/|$)(.*) (a case-insensitive
    regular expression to nginx), /api/stream is served by that Ingress and the pod is asked
    /stream."""
    extra = INGRESS.format(PATH="/API(/|$)(.*)", PHASE="Running", ANNOTATIONS=(
        '{"nginx.ingress.kubernetes.io/rewrite-target": "/$2"}'))
    url = "wss://api.example.com/api/stream"
    pod, _ = plan_hops(observed(tmp_path, url, extra), parse_target(url))
    assert (pod.pod, pod.path, pod.problem) == ("api-1", "/stream", None)


def test_no_ready_pod(tmp_path: Path) -> None:
    """Given the only pod of the Service pending, the pod hop says there is none to test."""
    extra = INGRESS.format(PATH="/", PHASE="Pending", ANNOTATIONS="{}")
    url = "wss://api.example.com/"
    pod, _ = plan_hops(observed(tmp_path, url, extra), parse_target(url))
    assert pod.problem == "Service chat/api has no ready endpoint"


def test_no_route_and_a_cloud_controller(tmp_path: Path) -> None:
    """Given no route for the host, both hops say so; given an ALB Ingress, the controller
    hop says there is no controller pod."""
    url = "wss://nowhere.example.com/"
    pod, controller = plan_hops(observed(tmp_path, url), parse_target(url))
    assert pod.problem == controller.problem == "no route in the cluster serves " \
        "nowhere.example.com/"
    alb = INGRESS.format(PATH="/", PHASE="Running", ANNOTATIONS="{}").replace(
        "ingressClassName: nginx", "ingressClassName: alb")
    url = "wss://api.example.com/"
    _, controller = plan_hops(observed(tmp_path, url, alb), parse_target(url))
    assert controller.problem is not None and "an ALB" in controller.problem


def test_no_route_because_the_cluster_could_not_be_read() -> None:
    """Given a cluster that could not be read, or whose route kinds were forbidden, the hops
    say that, not that no route serves the host."""
    from wsdoctor.kube.failures import AccessFailure
    from wsdoctor.kube.snapshot import ClusterSnapshot, PermissionGap

    url = parse_target("wss://chat.example.com/ws")
    failed = ClusterObservation(snapshot=ClusterSnapshot(source="cluster"), access_failure=(
        AccessFailure(cause="forbidden", message="no route kind may be listed")))
    pod, controller = plan_hops(failed, url)
    assert pod.problem == controller.problem == \
        "the cluster could not be read: no route kind may be listed"
    gap = PermissionGap(verb="list", resource="ingresses.networking.k8s.io")
    forbidden = ClusterObservation(snapshot=ClusterSnapshot(source="cluster",
                                                            permission_gaps=[gap]))
    pod, _ = plan_hops(forbidden, url)
    assert pod.problem == ("no readable route serves chat.example.com/ws (forbidden: list "
                           "ingresses.networking.k8s.io cluster-wide)")
