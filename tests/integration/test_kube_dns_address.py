"""Live: the route's own external address (what `kubectl get ingress` shows as ADDRESS,
or a Gateway's status.addresses) is held against what DNS answers, even when the
controller's workload and LoadBalancer Service are not readable."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli
from wsdoctor.lab.kubeapi import FakeKubeAPI, Rule, RunningAPI, serve
from wsdoctor.lab.proxies import Dnsmasq, DnsZone

#: Routes and backends only: the controller's pods, workloads and Services are not readable.
ROUTES_ONLY = (
    Rule(resources=("ingresses", "ingressclasses", "namespaces", "endpointslices")),
    Rule(resources=("httproutes.gateway.networking.k8s.io", "gateways.gateway.networking.k8s.io",
                    "gatewayclasses.gateway.networking.k8s.io")),
    Rule(resources=("services",), namespaces=("lab",)),
)
LB_ADDRESS = "203.0.113.10"  # documentation range: compared, never contacted


def ingress(host: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "chat", "namespace": "lab"},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                       "backend": {"service": {"name": "chat", "port": {"number": 80}}}}]}}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": LB_ADDRESS}]}},
    }


def gateway_route(host: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "edge", "namespace": "lab"},
            "spec": {"gatewayClassName": "eg", "listeners": [{"name": "http", "port": 80,
                                                               "protocol": "HTTP"}]},
            "status": {"addresses": [{"type": "IPAddress", "value": LB_ADDRESS}]},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "chat-gw", "namespace": "lab"},
            "spec": {"parentRefs": [{"name": "edge"}], "hostnames": [host],
                     "rules": [{"backendRefs": [{"name": "chat", "port": 80}]}]},
        },
    ]


@pytest.fixture
def cluster() -> Iterator[RunningAPI]:
    api = FakeKubeAPI(tokens={"routes-only": ROUTES_ONLY})
    api.add(ingress("chat.lab.test"), *gateway_route("gw.lab.test"))
    api.add({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "chat",
             "namespace": "lab"}, "spec": {"ports": [{"port": 80}]}})
    with serve(api) as running:
        yield running


def dns_findings(
    cluster: RunningAPI, dns: Dnsmasq, tmp_path: Path, host: str
) -> list[dict[str, Any]]:
    kubeconfig = cluster.kubeconfig(tmp_path / "kc", token="routes-only")
    result = run_cli(f"ws://{host}:9/", "--dns-server", dns.server, "--only", "dns,cluster",
                     "--kubeconfig", str(kubeconfig), "--format", "json")
    report = json.loads(result.stdout)
    return [f for f in report["findings"] if f["code"] == "WSD-K8S-DNS-ELSEWHERE"]


@pytest.mark.lab
@pytest.mark.parametrize(
    ("host", "source"),
    [("chat.lab.test", "Ingress lab/chat status.loadBalancer"),
     ("gw.lab.test", "Gateway lab/edge status.addresses")],
)
def test_dns_answering_another_address_than_the_route_is_named(
    start_dnsmasq: Callable[[DnsZone], Dnsmasq],
    cluster: RunningAPI,
    tmp_path: Path,
    host: str,
    source: str,
) -> None:
    """DNS says 127.0.0.2, the route's status says 203.0.113.10: a warning naming both and
    where the route's address comes from."""
    dns = start_dnsmasq(DnsZone(addresses={host: ["127.0.0.2"]}))
    found = dns_findings(cluster, dns, tmp_path, host)
    assert len(found) == 1 and found[0]["status"] in ("warn", "fail")
    assert "127.0.0.2" in found[0]["detail"] and LB_ADDRESS in found[0]["detail"]
    assert source in found[0]["detail"]
    assert found[0]["evidence"]["addresses_from"] == source


@pytest.mark.lab
def test_dns_answering_the_route_address_is_quiet(
    start_dnsmasq: Callable[[DnsZone], Dnsmasq], cluster: RunningAPI, tmp_path: Path
) -> None:
    """DNS agreeing with the Ingress's address: no finding."""
    dns = start_dnsmasq(DnsZone(addresses={"chat.lab.test": [LB_ADDRESS]}))
    assert dns_findings(cluster, dns, tmp_path, "chat.lab.test") == []
