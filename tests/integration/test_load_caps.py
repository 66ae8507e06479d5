"""``wsdoctor load`` against caps beyond the first lab's: the real Traefik's in-flight limit
(the ``inFlightReq`` middleware), with the fake cluster's IngressRoute and Middleware
describing it, found, described by its refusal and named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.test_load_lab import cap_cause, finding, load, observation
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.kubeapi import FakeKubeAPI, serve
from wsdoctor.lab.traefik import Traefik, TraefikRoute, TraefikSite

pytestmark = pytest.mark.lab

# Written for wsdoctor's load tests (not copied from a repository): ws.lab.test routed by an
# IngressRoute whose route goes through an inFlightReq middleware of 25, to two replicas.
TRAEFIK_CLUSTER = """
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: chat, namespace: chat}
spec:
  entryPoints: [web]
  routes:
  - match: Host(`ws.lab.test`) && PathPrefix(`/ws`)
    kind: Rule
    middlewares: [{name: few-in-flight}]
    services: [{name: chat, port: 80}]
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: few-in-flight, namespace: chat}
spec:
  inFlightReq: {amount: 25}
---
apiVersion: v1
kind: Service
metadata: {name: chat, namespace: chat}
spec:
  selector: {app: chat}
  ports: [{name: http, port: 80, targetPort: 8080}]
"""


def test_traefik_inflightreq_is_found_and_named(
    start_traefik: Callable[[TraefikSite], Traefik], replicas: list[Backend], tmp_path: Path
) -> None:
    """Given the real Traefik with an inFlightReq middleware of 25 (every open WebSocket is a
    request in flight), the cap is 25, refused with Traefik's 429 'max connections reached',
    and with the cluster describing the Middleware the finding names its amount."""
    traefik = start_traefik(TraefikSite(host="ws.lab.test", secure=False, routes=[
        TraefikRoute(replicas=[r.port for r in replicas], weighted=False, in_flight=25)]))
    api = FakeKubeAPI()
    (tmp_path / "cluster.yaml").write_text(TRAEFIK_CLUSTER)
    api.load(tmp_path / "cluster.yaml")
    with serve(api) as running:
        report, status = load(traefik.port, "--kubeconfig",
                              str(running.kubeconfig(tmp_path / "kubeconfig")), connections=60)
    obs = observation(report)
    assert obs["cap"] == 25, obs["causes"]
    cause = cap_cause(obs)
    assert cause["response"]["status_code"] == 429
    assert "max connections reached: 25" in cause["response"]["body_start"]
    assert "inFlightReq" in finding(report, "WSD-LOAD-CAP")["detail"]
    limit = finding(report, "WSD-LOAD-LIMIT")
    assert limit["resource"]["kind"] == "Middleware"
    assert limit["resource"]["field"] == "spec.inFlightReq.amount"
    assert limit["evidence"]["value"] == 25 and limit["explains"] == ["WSD-LOAD-CAP"]
    assert status == 1
