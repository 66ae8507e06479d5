"""http against real nginx and HAProxy, and against loopback servers that misbehave."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LAB_HOST, pinned_args, run_cli
from tests.integration.rawservers import raw_server
from wsdoctor.checks.base import Facts
from wsdoctor.checks.http import HttpObservation
from wsdoctor.checks.http_probe import build_request, fetch
from wsdoctor.checks.http_rules import judge_redirects
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.proxies import HAProxy, HAProxySite, Nginx, NginxLocation, NginxSite, free_port
from wsdoctor.models import CheckResult, CheckStatus
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

Report = dict[str, Any]


def diagnose(*argv: str) -> tuple[int, Report]:
    """Run wsdoctor with JSON output; return the exit status and the parsed report."""
    result = run_cli(*argv, "--format", "json")
    return result.status, json.loads(result.stdout)


def http_check(report: Report) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["id"] == "http")


@pytest.fixture
def redirecting_nginx(start_nginx: Callable[[NginxSite], Nginx], lab_ca: LabCA,
                      replicas: list[Backend]) -> Nginx:
    """nginx with TLS for ws.lab.test and a plain port that answers 308 to https."""
    return start_nginx(NginxSite(
        host=LAB_HOST, tls=lab_ca.issue([LAB_HOST]), http_port=free_port(),
        locations=[NginxLocation(path="/ws", upstreams=[b.port for b in replicas])],
    ))


def test_ws_url_redirected_to_https_is_found(redirecting_nginx: Nginx) -> None:
    """ws:// to the plain port: the 308 to https is recorded and the finding says use wss://."""
    port = redirecting_nginx.site.http_port
    assert port is not None
    status, report = diagnose(f"ws://{LAB_HOST}:{port}/ws", *pinned_args(port), "--only", "http",
                              "--fail-on", "warn")
    assert status == 1
    (exchange,) = http_check(report)["observation"]["exchanges"]
    assert exchange["status"] == 308
    location = next(h["value"] for h in exchange["headers"] if h["name"] == "Location")
    assert location == f"https://{LAB_HOST}/ws"
    redirect = next(f for f in report["findings"] if f["code"] == "WSD-HTTP-REDIRECT")
    assert redirect["title"] == "ws:// is redirected to HTTPS: use wss://"
    assert "308" in http_check(report)["summary"]


def test_plain_http_exchange_to_the_redirect_port_is_judged_fine(redirecting_nginx: Nginx) -> None:
    """The port-80 request (here sent to nginx's plain port) sees the 308 to https: no finding."""
    port = redirecting_nginx.site.http_port
    assert port is not None
    target = parse_target(f"wss://{LAB_HOST}/ws")
    exchange = asyncio.run(fetch(
        purpose="plain_http", url=f"http://{LAB_HOST}/ws", address="127.0.0.1", port=port,
        path="/ws", request=build_request(target, Settings(), LAB_HOST), tls=None,
        server_name=None, timeout=2,
    ))
    assert (exchange.status, exchange.location) == (308, f"https://{LAB_HOST}/ws")
    obs = HttpObservation(host=LAB_HOST, request_headers=[], exchanges=[exchange])
    facts = Facts(target=target, settings=Settings(), now=datetime.now(UTC),
                  results={"http": CheckResult(id="http", status=CheckStatus.OK,
                                               observation=obs)})
    assert list(judge_redirects(facts)) == []


def test_wss_get_identifies_nginx_and_redacts_secrets(healthy_nginx: Nginx,
                                                      lab_ca_file: Path) -> None:
    """GET over TLS with SNI/Host reaches the app through nginx; the secret never appears."""
    status, report = diagnose(
        f"wss://{LAB_HOST}:{healthy_nginx.port}/ws", *pinned_args(healthy_nginx.port, lab_ca_file),
        "--only", "http", "--header", "Authorization: Bearer s3cr3t-t0ken",
    )
    assert status == 0
    obs = http_check(report)["observation"]
    (exchange,) = obs["exchanges"]
    assert exchange["status"] == 426
    assert any(h["name"].lower() == "x-served-by" for h in exchange["headers"])
    assert {"name": "Authorization", "value": "<redacted>"} in obs["request_headers"]
    assert obs["plain_http"].startswith("the target names port")
    server = next(f for f in report["findings"] if f["code"] == "WSD-HTTP-SERVER")
    assert server["title"].startswith("Answered by nginx")
    assert "s3cr3t" not in json.dumps(report)


def test_haproxy_without_backends_is_identified_by_its_503(
    start_haproxy: Callable[[HAProxySite], HAProxy]
) -> None:
    """HAProxy's own 503 page names HAProxy even without a Server header."""
    server = start_haproxy(HAProxySite(backends=[]))
    _, report = diagnose(f"ws://{LAB_HOST}:{server.port}/ws", *pinned_args(server.port),
                         "--only", "http")
    finding = next(f for f in report["findings"] if f["code"] == "WSD-HTTP-SERVER")
    assert "HAProxy" in finding["evidence"]["components"]
    assert http_check(report)["observation"]["exchanges"][0]["status"] == 503


@pytest.mark.parametrize(
    ("behaviour", "code"),
    [
        ("silent", "WSD-HTTP-NO-RESPONSE"),
        ("garbage", "WSD-HTTP-BAD-RESPONSE"),
        ("huge_head", "WSD-HTTP-BAD-RESPONSE"),
        ("half_head", "WSD-HTTP-CLOSED"),
        ("rst", "WSD-HTTP-CLOSED"),
    ],
)
def test_hostile_servers_yield_a_finding_within_the_time_limit(behaviour: str,
                                                               code: str) -> None:
    """Silence, garbage, a 1 MB head, a cut head and a reset each give one fail, on time."""
    with raw_server(behaviour) as port:
        start = time.perf_counter()
        status, report = diagnose(f"ws://{LAB_HOST}:{port}/ws", *pinned_args(port),
                                  "--only", "http", "--timeout", "0.5")
        elapsed = time.perf_counter() - start
    assert status == 1
    fails = [f for f in report["findings"] if f["status"] == "fail"]
    assert [f["code"] for f in fails] == [code]
    assert elapsed < 2.5


def test_a_body_that_never_ends_does_not_hold_the_check() -> None:
    """A streaming body is quoted from what came within a short wait, not the whole limit."""
    with raw_server("endless_body") as port:
        start = time.perf_counter()
        status, report = diagnose(f"ws://{LAB_HOST}:{port}/ws", *pinned_args(port),
                                  "--only", "http", "--timeout", "5")
        elapsed = time.perf_counter() - start
    assert status == 0
    (exchange,) = http_check(report)["observation"]["exchanges"]
    assert exchange["status"] == 200 and exchange["body_start"] == "data: 1\n"
    assert elapsed < 2
