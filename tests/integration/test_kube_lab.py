"""Configuration held against measurement, end to end: the lab's nginx answers 502 (no ready
upstream) while the fake cluster shows the Service behind the host with zero ready
endpoints. The first failure must be the missing endpoints, naming the Service."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import pinned_args, run_cli
from wsdoctor.checks.registry import CHECKS
from wsdoctor.lab.kubeapi import FakeKubeAPI, RunningAPI, serve
from wsdoctor.lab.proxies import Nginx, NginxLocation, NginxSite
from wsdoctor.report import Report
from wsdoctor.untrusted import json_safe

CLUSTER = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "cluster"
HOST = "down.example.com"


@pytest.fixture
def fake_cluster() -> Iterator[RunningAPI]:
    api = FakeKubeAPI()
    api.load(*sorted(CLUSTER.glob("*.yaml")))
    with serve(api) as running:
        yield running


@pytest.mark.lab
def test_502_with_zero_ready_endpoints_puts_the_missing_endpoints_first(
    start_nginx: Callable[[NginxSite], Nginx], fake_cluster: RunningAPI, tmp_path: Path
) -> None:
    """Given nginx answering 502 for the host and the cluster showing no ready endpoint for its
    Service, the first fail finding is WSD-K8S-NO-READY-ENDPOINTS for Service down/down, and
    it says the 502 comes from there."""
    nginx = start_nginx(NginxSite(host=HOST, locations=[NginxLocation(path="/ws", upstreams=[])]))
    kubeconfig = fake_cluster.kubeconfig(tmp_path / "kubeconfig")
    registered = {c.id for c in CHECKS}
    only = [c for c in ("tcp", "http", "handshake", "cluster") if c in registered]
    result = run_cli(
        f"ws://{HOST}:{nginx.port}/ws",
        *pinned_args(nginx.port, host=HOST),
        "--kubeconfig",
        str(kubeconfig),
        "--only",
        ",".join(only),
        "--format",
        "json",
    )
    report = json.loads(result.stdout)
    # The JSON dump that skips building unused observation types writes pydantic's own text,
    # and a saved report read back (every observation validated by its type) writes it again.
    again = Report.model_validate_json(result.stdout)
    assert again.to_json() == json_safe(again.model_dump_json(indent=2)) + "\n" == result.stdout
    fails = [f for f in report["findings"] if f["status"] == "fail"]
    assert fails, report["findings"]
    first = fails[0]
    assert first["code"] == "WSD-K8S-NO-READY-ENDPOINTS", [f["code"] for f in fails]
    assert first["resource"] == {
        "kind": "Service",
        "name": "down",
        "namespace": "down",
        "field": "spec.selector",
    }
    assert "HTTP 502" in first["detail"] and "Service down/down" in first["detail"]
    assert first["explains"], "the root cause must name the symptoms it explains"
    assert result.status == 1
