"""handshake and messages against real nginx and websockets replicas: the healthy lab
passes, each broken lab fails with its cause and fix first."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.helpers import LAB_HOST, pinned_args, run_cli
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.proxies import Dnsmasq, DnsZone, Nginx, NginxLocation, NginxSite
from wsdoctor.settings import DEFAULT_MESSAGE_SIZE

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "report.schema.json")
                    .read_text())


def diagnose(url: str, port: int, ca: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(url, *pinned_args(port, ca), "--format", "json", *extra)
    assert "Traceback" not in result.stderr
    return result.status, json.loads(result.stdout)


def check(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["id"] == check_id)


def test_healthy_lab_passes_and_validates(healthy_nginx: Nginx, lab_ca_file: Path) -> None:
    """Healthy nginx with TLS: exit 0, tcp, tls, handshake and messages ok, JSON valid against the
    committed schema, with time to 101, deflate, echo, ping RTTs and close 1000 recorded."""
    status, report = diagnose(f"wss://{LAB_HOST}:{healthy_nginx.port}/ws", healthy_nginx.port,
                              lab_ca_file)
    assert status == 0, report["findings"]
    jsonschema.validate(report, SCHEMA)
    for check_id in ("tcp", "tls", "handshake", "messages"):
        assert check(report, check_id)["status"] == "ok", check(report, check_id)
    attempt = check(report, "handshake")["observation"]["attempts"][0]
    assert attempt["outcome"] == "upgraded" and attempt["status_code"] == 101
    assert attempt["extensions"] == ["permessage-deflate"]
    assert attempt["upgrade_s"] > 0
    messages = check(report, "messages")["observation"]
    assert messages["echoes"] is True and messages["binary_echo"]["echoed"] is True
    assert messages["pings"]["answered"] == 5
    pings = messages["pings"]
    assert 0 < pings["min_s"] <= pings["median_s"] <= pings["p95_s"] <= pings["max_s"]
    assert messages["large_message"] == messages["large_message"] | {
        "size": DEFAULT_MESSAGE_SIZE, "outcome": "echoed"}
    assert messages["end"]["ending"] == "close_frame" and messages["end"]["code"] == 1000


def test_the_json_a_run_writes_is_what_pydantic_writes_of_it(
    healthy_nginx: Nginx, lab_ca_file: Path,
) -> None:
    """A run writes its report without pydantic (wsdoctor.modelbase): read back by pydantic
    (every observation validated by its type, as `show` does) and written again by pydantic's
    own serializer, it is the same JSON, value for value; and validating it again gives an
    equal report (nothing lost or coerced on the way)."""
    from wsdoctor.modelbase import adapter
    from wsdoctor.report import Report

    result = run_cli(f"wss://{LAB_HOST}:{healthy_nginx.port}/ws",
                     *pinned_args(healthy_nginx.port, lab_ca_file), "--format", "json")
    report = Report.model_validate_json(result.stdout)
    assert {c.id for c in report.checks} >= {"dns", "tcp", "tls", "handshake", "http",
                                             "messages", "affinity"}
    by_pydantic = json.loads(adapter(Report).dump_json(report))
    assert by_pydantic == json.loads(result.stdout)
    assert Report.model_validate_json(report.to_json()) == report


def test_secrets_never_reach_the_report(healthy_nginx: Nginx, lab_ca_file: Path) -> None:
    """-H values and cookies are redacted in the handshake observation."""
    _, report = diagnose(f"wss://{LAB_HOST}:{healthy_nginx.port}/ws", healthy_nginx.port,
                         lab_ca_file, "-H", "Authorization: Bearer s3cret-token",
                         "-H", "X-Tenant: tenant-secret", "--only", "handshake")
    text = json.dumps(report)
    assert "s3cret-token" not in text and "tenant-secret" not in text
    sent = check(report, "handshake")["observation"]["attempts"][0]["request_headers"]
    assert {"name": "Authorization", "value": "<redacted>"} in sent


BROKEN = [
    ("upgrade-not-forwarded",
     lambda ports: NginxLocation(path="/ws", upstreams=ports, forward_upgrade=False), "/ws",
     "WSD-HANDSHAKE-UPGRADE-NOT-FORWARDED", "proxy_set_header Upgrade $http_upgrade"),
    ("no-backend-502", lambda ports: NginxLocation(path="/ws", upstreams=[]), "/ws",
     "WSD-HANDSHAKE-BAD-GATEWAY", "kubectl get endpointslices"),
    ("unknown-path-404", lambda ports: NginxLocation(path="/ws", upstreams=ports), "/chat",
     "WSD-HANDSHAKE-NOT-FOUND", "pathType: Prefix"),
]


@pytest.mark.parametrize(("make_location", "path", "code", "snippet"),
                         [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_lab_fails_with_cause_and_fix_first(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path, make_location: Callable[[list[int]], NginxLocation], path: str,
    code: str, snippet: str,
) -> None:
    """Each broken nginx: exit 1, and the first fail finding names the cause and the fix."""
    location = make_location([r.port for r in replicas])
    nginx = start_nginx(NginxSite(host=LAB_HOST, tls=lab_ca.issue([LAB_HOST]),
                                  locations=[location]))
    status, report = diagnose(f"wss://{LAB_HOST}:{nginx.port}{path}", nginx.port, lab_ca_file)
    assert status == 1
    first = next(f for f in report["findings"] if f["status"] == "fail")
    assert first["code"] == code
    assert first["resource"] == {"kind": "Address", "name": f"127.0.0.1:{nginx.port}",
                                 "namespace": None, "field": None}
    assert snippet in (first["fix"]["snippet"] or "")
    assert first["evidence"]["status_line"] in first["detail"]
    assert check(report, "messages")["status"] == "skipped"


def test_one_bad_address_of_two_is_named(
    start_nginx: Callable[[NginxSite], Nginx], start_dnsmasq: Callable[[DnsZone], Dnsmasq],
    replicas: list[Backend], lab_ca: LabCA, lab_ca_file: Path,
) -> None:
    """Two ingress addresses, one with no backend: the 502 names that address, and the
    per-address status codes are in the observation."""
    cert = lab_ca.issue([LAB_HOST])
    good = start_nginx(NginxSite(host=LAB_HOST, tls=cert, locations=[
        NginxLocation(path="/ws", upstreams=[r.port for r in replicas])]))
    start_nginx(NginxSite(host=LAB_HOST, tls=cert, listen="127.0.0.2", port=good.port,
                          locations=[NginxLocation(path="/ws", upstreams=[])]))
    dns = start_dnsmasq(DnsZone(addresses={LAB_HOST: ["127.0.0.1", "127.0.0.2"]}))
    result = run_cli(f"wss://{LAB_HOST}:{good.port}/ws", "--dns-server", dns.server,
                     "--cacert", str(lab_ca_file), "--format", "json")
    report = json.loads(result.stdout)
    assert result.status == 1
    attempts = check(report, "handshake")["observation"]["attempts"]
    assert {a["address"]: a["status_code"] for a in attempts} == {"127.0.0.1": 101,
                                                                  "127.0.0.2": 502}
    (finding,) = [f for f in report["findings"] if f["check"] == "handshake"]
    assert finding["code"] == "WSD-HANDSHAKE-BAD-GATEWAY"
    assert finding["resource"]["name"] == f"127.0.0.2:{good.port}"
    assert "(1 of 2 addresses)" in finding["detail"]
    assert check(report, "messages")["observation"]["address"] == "127.0.0.1"


def test_messages_go_to_the_first_address_that_upgraded(
    start_nginx: Callable[[NginxSite], Nginx], start_dnsmasq: Callable[[DnsZone], Dnsmasq],
    replicas: list[Backend], lab_ca: LabCA, lab_ca_file: Path,
) -> None:
    """Two ingress addresses, the first with no backend: the messages check (which opens its
    connection to the first reachable address while the handshake check still runs) drops
    that connection and talks to the second, the first that upgraded."""
    cert = lab_ca.issue([LAB_HOST])
    broken = start_nginx(NginxSite(host=LAB_HOST, tls=cert, locations=[
        NginxLocation(path="/ws", upstreams=[])]))
    start_nginx(NginxSite(host=LAB_HOST, tls=cert, listen="127.0.0.2", port=broken.port,
                          locations=[NginxLocation(path="/ws",
                                                   upstreams=[r.port for r in replicas])]))
    dns = start_dnsmasq(DnsZone(addresses={LAB_HOST: ["127.0.0.1", "127.0.0.2"]}))
    result = run_cli(f"wss://{LAB_HOST}:{broken.port}/ws", "--dns-server", dns.server,
                     "--cacert", str(lab_ca_file), "--format", "json")
    report = json.loads(result.stdout)
    reachable = [a["address"] for a in check(report, "tcp")["observation"]["attempts"]]
    assert reachable == ["127.0.0.1", "127.0.0.2"]  # the early guess is the broken one
    messages = check(report, "messages")["observation"]
    assert (messages["address"], messages["upgrade_outcome"]) == ("127.0.0.2", "upgraded")
    assert messages["echoes"] is True and messages["large_message"]["outcome"] == "echoed"
    assert not [f for f in report["findings"] if f["check"] == "messages"]


def test_plain_ws_to_the_tls_port_says_use_wss(healthy_nginx: Nginx, lab_ca_file: Path) -> None:
    """ws:// to nginx's TLS port: nginx's 400 is read as the wrong scheme, not a lost upgrade."""
    status, report = diagnose(f"ws://{LAB_HOST}:{healthy_nginx.port}/ws", healthy_nginx.port,
                              lab_ca_file)
    assert status == 1
    (own,) = [f for f in report["findings"] if f["check"] == "handshake"]
    assert own["code"] == "WSD-HANDSHAKE-WRONG-SCHEME"
    assert own["fix"]["summary"] == f"Use wss://{LAB_HOST}:{healthy_nginx.port}/ws."


def test_wss_to_a_plain_port_says_use_ws(start_backend: Callable[..., Backend]) -> None:
    """wss:// to a plain WebSocket server: TLS fails, a plain request is answered, so the
    scheme is wrong (not a missing certificate)."""
    backend = start_backend()
    result = run_cli(f"wss://127.0.0.1:{backend.port}/ws", "--format", "json", "--timeout", "1")
    report = json.loads(result.stdout)
    first = report["findings"][0]  # the root cause comes before the tls check's symptom
    assert first["code"] == "WSD-HANDSHAKE-WRONG-SCHEME"
    assert first["fix"]["summary"].startswith(f"Use ws://127.0.0.1:{backend.port}/ws")
    attempt = check(report, "handshake")["observation"]["attempts"][0]
    assert attempt["failed_step"] == "tls"
    assert attempt["plain_http_answer"] == "HTTP/1.1 426 Upgrade Required"
