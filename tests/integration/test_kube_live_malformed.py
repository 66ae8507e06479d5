"""A live cluster holding malformed objects (served by the fake Kubernetes API): the cluster
check reports each as WSD-K8S-MALFORMED and still judges the well-formed route."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from wsdoctor.checks.cluster import ClusterObservation
from wsdoctor.lab.kubeapi import FakeKubeAPI, Rule, RunningAPI, serve
from wsdoctor.models import CheckStatus
from wsdoctor.runner import diagnose
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

K8S = Path(__file__).resolve().parent.parent / "fixtures" / "k8s"


@pytest.fixture(scope="module")
def malformed_cluster() -> Iterator[RunningAPI]:
    api = FakeKubeAPI(tokens={"admin-token": (Rule(),)})
    api.load(
        *sorted((K8S / "cluster").glob("*.yaml")), K8S / "malformed" / "live-cluster-FAILED.yaml"
    )
    with serve(api) as running:
        yield running


def test_cluster_check_reports_malformed_objects_without_error(
    malformed_cluster: RunningAPI, tmp_path: Path
) -> None:
    """Given a malformed Ingress and IngressRoute beside the chat route, the cluster check
    finishes (no error), names both objects and their fields, and still finds the route."""
    settings = Settings(
        kubeconfig=str(malformed_cluster.kubeconfig(tmp_path / "kc")), only=["cluster"]
    )
    report = asyncio.run(diagnose(parse_target("wss://chat.example.com/ws"), settings))
    check = report.check("cluster")
    assert check is not None and check.status is not CheckStatus.ERROR, check
    assert isinstance(check.observation, ClusterObservation)
    assert [(r.kind, r.name) for r in check.observation.routes][:1] == [("Ingress", "chat")]
    malformed = {
        (f.resource.kind, f.resource.name, f.resource.field)
        for f in report.findings
        if f.code == "WSD-K8S-MALFORMED" and f.resource is not None
    }
    assert malformed == {
        ("Ingress", "broken", "spec.rules[0].http.paths[0].backend"),
        ("IngressRoute", "broken-tr", "spec.routes"),
    }
    assert "WSD-INTERNAL-RULE-ERROR" not in {f.code for f in report.findings}
