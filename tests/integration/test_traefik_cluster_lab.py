"""Configuration held against measurement when the route is a Traefik IngressRoute: the fake
cluster describes the route (tests/fixtures/k8s/traefik-lab), the real Traefik serves it, and
the cross-checks that exist for ingress-nginx work: the default certificate explained by the
missing TLS Secret, affinity configured but not observed, and the configured timeout that
binds a measured idle cut (a load balancer's, not Traefik's readTimeout of the same length)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LAB_HOST, pinned_args, run_cli
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.kubeapi import FakeKubeAPI, RunningAPI, serve
from wsdoctor.lab.proxies import Nginx, NginxLocation, NginxSite
from wsdoctor.lab.traefik import Traefik, TraefikRoute, TraefikSite, healthy_site, variant

pytestmark = pytest.mark.lab
CLUSTER = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "traefik-lab"


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Iterator[Path]:
    api = FakeKubeAPI()
    api.load(*sorted(CLUSTER.glob("*.yaml")))
    running: RunningAPI
    with serve(api) as running:
        yield running.kubeconfig(tmp_path / "kubeconfig")


def diagnose(url: str, port: int, ca_file: Path, kubeconfig: Path,
             *extra: str) -> list[dict[str, Any]]:
    result = run_cli(url, *pinned_args(port, ca_file), "--kubeconfig", str(kubeconfig),
                     "--format", "json", *extra)
    findings: list[dict[str, Any]] = json.loads(result.stdout)["findings"]
    return findings


def by_code(findings: list[dict[str, Any]], code: str) -> dict[str, Any]:
    found = [f for f in findings if f["code"] == code]
    assert found, [f["code"] for f in findings]
    return found[0]


def test_default_certificate_is_explained_by_the_missing_secret(
    start_traefik: Callable[[TraefikSite], Traefik], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path, kubeconfig: Path,
) -> None:
    """Given Traefik with no certificate for the host and an IngressRoute whose
    tls.secretName names a Secret that does not exist, the cross-check says the Secret is
    missing and gives Traefik's fix, as the root cause of the tls check's finding."""
    traefik = start_traefik(variant("no-certificate", LAB_HOST, [r.port for r in replicas],
                                    lab_ca.issue([LAB_HOST])))
    findings = diagnose(traefik.url(), traefik.port, lab_ca_file, kubeconfig,
                        "--read-tls-secret", "--only", "tls,cluster")
    default = by_code(findings, "WSD-K8S-DEFAULT-CERT")
    assert "TRAEFIK DEFAULT CERT" in default["detail"]
    assert "ws-tls is missing" in default["detail"]
    assert default["resource"]["kind"] == "IngressRoute"
    assert "spec.tls.secretName" in default["fix"]["summary"]
    assert default["explains"] == ["WSD-TLS-DEFAULT-CERT"]
    assert findings[0]["code"] == "WSD-K8S-DEFAULT-CERT", [f["code"] for f in findings]


def test_sticky_cookie_configured_on_the_traefikservice_but_not_set(
    start_traefik: Callable[[TraefikSite], Traefik], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path, kubeconfig: Path,
) -> None:
    """Given the TraefikService's service configuring sticky cookie lab_sticky and a Traefik
    that sets none, the cross-check names the TraefikService's field; when Traefik sets it, the
    cross-check is quiet and the cookie pins."""
    site = healthy_site(LAB_HOST, [r.port for r in replicas], lab_ca.issue([LAB_HOST]))
    site.routes[0].sticky = None
    traefik = start_traefik(site)
    findings = diagnose(traefik.url(), traefik.port, lab_ca_file, kubeconfig,
                        "--only", "affinity,cluster")
    missing = by_code(findings, "WSD-K8S-AFFINITY-NO-COOKIE")
    assert missing["resource"] == {"kind": "TraefikService", "namespace": "lab",
                                   "name": "ws-weighted",
                                   "field": "spec.weighted.services[0].sticky.cookie"}
    assert missing["evidence"]["expected"] == "lab_sticky"
    sticky = start_traefik(healthy_site(LAB_HOST, [r.port for r in replicas],
                                        lab_ca.issue([LAB_HOST])))
    findings = diagnose(sticky.url(), sticky.port, lab_ca_file, kubeconfig,
                        "--only", "affinity,cluster")
    codes = [f["code"] for f in findings]
    assert "WSD-K8S-AFFINITY-NO-COOKIE" not in codes and "WSD-AFFINITY-PINNED" in codes


@pytest.mark.slow
def test_idle_cut_is_bound_to_the_load_balancer_not_traefiks_read_timeout(
    start_traefik: Callable[[TraefikSite], Traefik], start_nginx: Callable[[NginxSite], Nginx],
    replicas: list[Backend], lab_ca: LabCA, lab_ca_file: Path, kubeconfig: Path,
) -> None:
    """Given a load balancer in front of Traefik that cuts idle connections after 2 s (nginx
    standing in for the cloud load balancer the Service annotation configures) and Traefik's
    readTimeout of 2 s too, the measured 2 s cut binds to the Service annotation, and the
    Traefik cross-check says its readTimeout is not what cut it."""
    traefik = start_traefik(TraefikSite(secure=False, routes=[TraefikRoute(
        replicas=[r.port for r in replicas], weighted=False)]))
    front = start_nginx(NginxSite(host=LAB_HOST, tls=lab_ca.issue([LAB_HOST]), locations=[
        NginxLocation(path="/ws", upstreams=[traefik.port], read_timeout=2, send_timeout=2)]))
    findings = diagnose(f"wss://{LAB_HOST}:{front.port}/ws", front.port, lab_ca_file,
                        kubeconfig, "--only", "idle,cluster", "--idle", "--idle-max", "5",
                        "--expect-idle", "60")
    binds = by_code(findings, "WSD-K8S-IDLE-BINDS-SHORT")
    assert binds["resource"]["kind"] == "Service" and binds["resource"]["name"] == "traefik"
    assert "aws-load-balancer-connection-idle-timeout" in binds["resource"]["field"]
    assert abs(binds["evidence"]["measured_s"] - 2.0) < 0.1
    assert findings[0]["code"] == "WSD-K8S-IDLE-BINDS-SHORT"
    note = by_code(findings, "WSD-K8S-TRAEFIK-TIMEOUTS")
    assert "not from Traefik's readTimeout" in note["detail"]
