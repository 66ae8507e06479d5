"""The whole story with no hand-written proxy configuration: objects in the fake cluster, the
real Traefik's Kubernetes CRD provider reading them from the fake API (list and watch of
IngressRoutes, TraefikServices, Services, EndpointSlices, Secrets...), routing to the lab's
replicas, and wsdoctor measuring through it and holding the measurement against the same
objects."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import LAB_HOST, pinned_args, run_cli
from wsdoctor.lab.backend import Backend, BackendOptions, LabLoop
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.kubeapi import FakeKubeAPI, RunningAPI, serve
from wsdoctor.lab.traefik import Traefik, TraefikSite, crd_provider

pytestmark = pytest.mark.lab
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "traefik-lab" / \
    "cluster.yaml"


def cluster_objects(replicas: list[Backend], secret: bytes | None,
                    sticky_annotation: bool = False,
                    weighted_only: bool = False,
                    cookie_path: str | None = None) -> list[dict[str, Any]]:
    """The traefik-lab objects, with one EndpointSlice per lab replica (its address and port:
    Traefik keeps one server per endpoint address, so replicas need addresses of their own), the
    TLS Secret when given, and (``sticky_annotation``) the IngressRoute sending straight to
    the Service, which carries Traefik's sticky annotation instead, or (``weighted_only``) the
    sticky cookie on the weighted TraefikService rather than on its service, and
    (``cookie_path``) the service's sticky cookie with that path."""
    objects = []
    for doc in yaml.safe_load_all(FIXTURE.read_text()):
        if doc["kind"] == "EndpointSlice":
            for i, replica in enumerate(replicas):
                piece = copy.deepcopy(doc)
                piece["metadata"]["name"] = f"ws-{i}"
                piece["ports"] = [{"name": "http", "port": replica.port, "protocol": "TCP"}]
                piece["endpoints"] = [{"addresses": [replica.host], "conditions": {
                    "ready": True, "serving": True, "terminating": False}}]
                objects.append(piece)
            continue
        if cookie_path is not None and doc["kind"] == "TraefikService":
            doc["spec"]["weighted"]["services"][0]["sticky"]["cookie"]["path"] = cookie_path
        if weighted_only and doc["kind"] == "TraefikService":
            weighted = doc["spec"]["weighted"]
            weighted["sticky"] = weighted["services"][0].pop("sticky")
        if sticky_annotation and doc["kind"] == "IngressRoute":
            doc["spec"]["routes"][0]["services"] = [{"name": "ws", "port": 80}]
        if sticky_annotation and doc["kind"] == "Service" and doc["metadata"]["name"] == "ws":
            doc["metadata"]["annotations"] = {
                "traefik.ingress.kubernetes.io/service.sticky.cookie": "true"}
        objects.append(doc)
    if secret is not None:
        objects.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                        "metadata": {"name": "ws-tls", "namespace": "lab"},
                        "data": {k: base64.b64encode(v).decode() for k, v in
                                 (("tls.crt", secret.split(b"\n\n")[0]),
                                  ("tls.key", secret.split(b"\n\n")[1]))}})
    return objects


@pytest.fixture
def pods(lab_loop: LabLoop) -> Iterator[list[Backend]]:
    """Two replicas on addresses of their own, 127.0.0.1 and 127.0.0.2, like two pod IPs."""
    started = [lab_loop.run(Backend(BackendOptions(name=f"pod-{i}"), host=f"127.0.0.{i}")
                            .start()) for i in (1, 2)]
    yield started
    for backend in started:
        lab_loop.run(backend.stop())


@pytest.fixture
def cluster_and_traefik(
    start_traefik: Callable[[TraefikSite], Traefik], tmp_path: Path,
) -> Iterator[Callable[[list[dict[str, Any]]], tuple[Traefik, Path, RunningAPI]]]:
    """Serve objects from the fake API, start Traefik with only the CRD provider pointed at
    it, and wait until it has loaded the route."""
    with contextlib_exit_stack() as stack:

        def start(objects: list[dict[str, Any]]) -> tuple[Traefik, Path, RunningAPI]:
            api = FakeKubeAPI()
            api.add(*objects)
            running = stack.enter_context(serve(api))
            ca_file = tmp_path / "kube-ca.pem"
            ca_file.write_bytes(running.ca_pem)
            traefik = start_traefik(TraefikSite(routes=[], providers=crd_provider(
                running.url, "admin-token", ca_file)))
            traefik.wait_for_provider("kubernetescrd", 1)
            return traefik, running.kubeconfig(tmp_path / "kubeconfig"), running

        yield start


def contextlib_exit_stack() -> Any:
    import contextlib

    return contextlib.ExitStack()


def pem_pair(lab_ca: LabCA) -> bytes:
    pair = lab_ca.issue([LAB_HOST])
    return pair.cert_pem.rstrip(b"\n") + b"\n\n" + pair.key_pem


def diagnose(traefik: Traefik, ca_file: Path, kubeconfig: Path, *extra: str) -> dict[str, Any]:
    result = run_cli(traefik.url(), *pinned_args(traefik.port, ca_file), "--kubeconfig",
                     str(kubeconfig), "--skip", "dns", "--format", "json", *extra)
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_objects_routed_by_real_traefik_measure_healthy_and_agree(
    cluster_and_traefik: Callable[[list[dict[str, Any]]], tuple[Traefik, Path, RunningAPI]],
    pods: list[Backend], lab_ca: LabCA, lab_ca_file: Path,
) -> None:
    """Given an IngressRoute through a weighted TraefikService with sticky cookie lab_sticky
    and its TLS Secret in the fake cluster, Traefik (reading only the fake API) serves the
    Secret's certificate and routes the upgrade; wsdoctor passes tls, handshake, messages and
    affinity, finds the IngressRoute, and sees the configured cookie pin the replica."""
    traefik, kubeconfig, running = cluster_and_traefik(
        cluster_objects(pods, pem_pair(lab_ca)))
    report = diagnose(traefik, lab_ca_file, kubeconfig, "--read-tls-secret")
    checks = {c["id"]: c for c in report["checks"]}
    for check_id in ("tls", "handshake", "messages", "affinity"):
        assert checks[check_id]["status"] == "ok", checks[check_id]
    cluster = checks["cluster"]["observation"]
    assert (cluster["routes"][0]["kind"], cluster["routes"][0]["name"]) == ("IngressRoute", "ws")
    assert cluster["affinity"]["cookie"] == "lab_sticky"
    assert cluster["tls"][0]["secret_exists"] is True
    affinity = checks["affinity"]["observation"]
    assert affinity["affinity_cookie"] == "lab_sticky" and affinity["replay_pinned"] is True
    codes = [f["code"] for f in report["findings"]]
    assert "WSD-K8S-AFFINITY-NO-COOKIE" not in codes
    assert "WSD-K8S-CERT-NOT-FROM-SECRET" not in codes
    assert [f for f in report["findings"] if f["status"] == "fail"] == []
    watched = {path.split("?")[0] for method, path in running.api.requests
               if "watch=true" in path or "watch=1" in path}
    assert "/apis/traefik.io/v1alpha1/ingressroutes" in watched, sorted(watched)


def test_sticky_cookie_on_the_weighted_service_alone_does_not_pin_pods(
    cluster_and_traefik: Callable[[list[dict[str, Any]]], tuple[Traefik, Path, RunningAPI]],
    pods: list[Backend], lab_ca: LabCA, lab_ca_file: Path,
) -> None:
    """Given the sticky cookie on the weighted TraefikService and none on its one service,
    real Traefik sets lab_sticky on the 101, yet reconnects replaying it reach both pods: the
    weighted cookie pins the child service, not the pod (measured), and wsdoctor says so
    first."""
    traefik, kubeconfig, _ = cluster_and_traefik(
        cluster_objects(pods, pem_pair(lab_ca), weighted_only=True))
    report = diagnose(traefik, lab_ca_file, kubeconfig, "--only", "affinity,cluster",
                      "--affinity-cookie", "lab_sticky")
    affinity = next(c for c in report["checks"] if c["id"] == "affinity")["observation"]
    assert [c["name"] for c in affinity["cookies_upgrade"]] == ["lab_sticky"]
    assert affinity["replay_pinned"] is False and affinity["distinct_replicas"] == 2
    codes = [f["code"] for f in report["findings"] if f["status"] == "fail"]
    assert codes[:2] == ["WSD-K8S-TRAEFIK-STICKY-WEIGHTED", "WSD-AFFINITY-NOT-HONOURED"], codes
    assert "spec.weighted.services[].sticky.cookie" in report["findings"][0]["fix"]["summary"]


def test_service_sticky_annotation_is_ignored_by_the_real_crd_provider(
    cluster_and_traefik: Callable[[list[dict[str, Any]]], tuple[Traefik, Path, RunningAPI]],
    pods: list[Backend], lab_ca: LabCA, lab_ca_file: Path,
) -> None:
    """Given the Service annotated for Traefik stickiness and an IngressRoute sending straight
    to it, the real Traefik sets no cookie (measured: its CRD provider does not read Service
    annotations), and wsdoctor puts the ignored annotation first, explaining the affinity
    failure."""
    traefik, kubeconfig, _ = cluster_and_traefik(
        cluster_objects(pods, pem_pair(lab_ca), sticky_annotation=True))
    report = diagnose(traefik, lab_ca_file, kubeconfig, "--expect-affinity")
    affinity = next(c for c in report["checks"] if c["id"] == "affinity")["observation"]
    assert affinity["cookies_upgrade"] == [] and affinity["distinct_replicas"] == 2
    first = report["findings"][0]
    assert first["code"] == "WSD-K8S-TRAEFIK-STICKY-IGNORED", [
        f["code"] for f in report["findings"]]
    assert "WSD-AFFINITY-NONE" in first["explains"]


def test_missing_secret_makes_traefik_serve_its_default_certificate(
    cluster_and_traefik: Callable[[list[dict[str, Any]]], tuple[Traefik, Path, RunningAPI]],
    pods: list[Backend], lab_ca_file: Path,
) -> None:
    """Given the IngressRoute's TLS Secret absent from the cluster, Traefik logs that it does
    not exist and serves TRAEFIK DEFAULT CERT; wsdoctor explains it by the missing Secret."""
    traefik, kubeconfig, _ = cluster_and_traefik(cluster_objects(pods, None))
    report = diagnose(traefik, lab_ca_file, kubeconfig, "--read-tls-secret", "--only",
                      "tls,cluster")
    assert "secret lab/ws-tls does not exist" in traefik.log_text()
    first = report["findings"][0]
    assert first["code"] == "WSD-K8S-DEFAULT-CERT", [f["code"] for f in report["findings"]]
    assert "ws-tls is missing" in first["detail"]


def test_sticky_cookie_path_from_the_crd_is_set_and_its_fix_names_that_field(
    cluster_and_traefik: Callable[[list[dict[str, Any]]], tuple[Traefik, Path, RunningAPI]],
    pods: list[Backend], lab_ca: LabCA, lab_ca_file: Path,
) -> None:
    """Given the TraefikService's sticky cookie with path /api, the real CRD provider sets
    lab_sticky with Path=/api; the WebSocket at /ws is not covered, and the fix names the
    TraefikService and its cookie's path field, not an ingress-nginx annotation."""
    traefik, kubeconfig, _ = cluster_and_traefik(
        cluster_objects(pods, pem_pair(lab_ca), cookie_path="/api"))
    report = diagnose(traefik, lab_ca_file, kubeconfig, "--only", "affinity,cluster",
                      "--affinity-cookie", "lab_sticky")
    affinity = next(c for c in report["checks"] if c["id"] == "affinity")["observation"]
    assert [(c["name"], c["path"]) for c in affinity["cookies_upgrade"]] == [
        ("lab_sticky", "/api")]
    [path] = [f for f in report["findings"] if f["code"] == "WSD-AFFINITY-COOKIE-PATH"]
    fix = path["fix"]["summary"] + path["fix"]["snippet"]
    assert "TraefikService lab/ws-weighted" in fix
    assert "spec.weighted.services[0].sticky.cookie.path" in fix and "path: /ws" in fix
    assert "nginx.ingress" not in fix
