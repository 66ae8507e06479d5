"""The exporter against the lab (real nginx with the lab CA, websockets replicas, dnsmasq as
cluster DNS), scraped over real HTTP the way Prometheus scrapes blackbox_exporter."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.exporter_support import names, running_exporter, value, wait_for, write_config
from tests.helpers import LAB_HOST
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.proxies import Dnsmasq, DnsZone, Nginx, NginxLocation, NginxSite

pytestmark = pytest.mark.lab


@pytest.fixture
def lab_dns(start_dnsmasq: Callable[[DnsZone], Dnsmasq]) -> Dnsmasq:
    """dnsmasq answering ws.lab.test → 127.0.0.1, as cluster DNS would for an Ingress host."""
    return start_dnsmasq(DnsZone(addresses={LAB_HOST: ["127.0.0.1"]}))


def lab_config(tmp_path: Path, dns: Dnsmasq, ca_file: Path, targets: str = "") -> Path:
    """A config whose `quick` module (replacing the built-in one, same checks) uses the lab's
    DNS server and CA, as a cluster's exporter would use cluster DNS and its CA bundle."""
    return write_config(tmp_path, f"""\
interval: 1s
modules:
  quick:
    checks: [dns, tcp, tls, http, handshake, messages]
    time_limit: 20s
    settings: {{dns_server: '{dns.server}', cafile: '{ca_file}', timeout: 3,
               message_size: 65536, pings: 3}}
  lifetime:
    checks: [dns, tcp, tls, handshake, idle, affinity]
    time_limit: 30s
    settings: {{dns_server: '{dns.server}', cafile: '{ca_file}', timeout: 3, idle_max: 6}}
    expect: {{idle_timeout: 10s, affinity: true}}
""" + targets)


async def test_probe_scrape_of_healthy_and_broken_labs(
    start_nginx: Callable[[NginxSite], Nginx], healthy_nginx: Nginx, replicas: list[Backend],
    lab_ca: LabCA, lab_ca_file: Path, lab_dns: Dnsmasq, tmp_path: Path,
) -> None:
    """/probe?target=wss://…&module=quick: probe_success 1 for the healthy lab and 0 for one whose
    proxy drops the Upgrade header, both with probe_websocket_status_code and the certificate's
    expiry (probe_ssl_earliest_cert_expiry); an expired certificate is 0 with a past expiry."""
    ports = [r.port for r in replicas]
    broken = start_nginx(NginxSite(host=LAB_HOST, tls=lab_ca.issue([LAB_HOST]), locations=[
        NginxLocation(path="/ws", upstreams=ports, forward_upgrade=False)]))
    expired = start_nginx(NginxSite(host=LAB_HOST, tls=lab_ca.expired([LAB_HOST]), locations=[
        NginxLocation(path="/ws", upstreams=ports)]))
    async with running_exporter(lab_config(tmp_path, lab_dns, lab_ca_file)) as ex:
        good = await ex.scrape(f"/probe?target=wss://{LAB_HOST}:{healthy_nginx.port}/ws"
                               "&module=quick")
        bad = await ex.scrape(f"/probe?target=wss://{LAB_HOST}:{broken.port}/ws&module=quick")
        old = await ex.scrape(f"/probe?target=wss://{LAB_HOST}:{expired.port}/ws&module=quick")
    now = time.time()
    assert value(good, "probe_success") == 1.0
    assert value(good, "probe_websocket_status_code") == 101.0
    assert value(good, "probe_websocket_connection_upgraded") == 1.0
    assert now < value(good, "probe_ssl_earliest_cert_expiry") < now + 3 * 365 * 86400
    assert value(good, "probe_tls_version_info", version="TLS 1.3") == 1.0
    assert value(good, "wsdoctor_tls_verified") == 1.0
    assert 0 < value(good, "wsdoctor_ping_rtt_seconds") < 1
    assert value(good, "probe_dns_lookup_time_seconds") > 0
    for check in ("dns", "tcp", "tls", "handshake", "messages"):
        assert value(good, "wsdoctor_check_status", check=check, status="ok") == 1.0, check

    assert value(bad, "probe_success") == 0.0
    assert value(bad, "probe_websocket_status_code") not in (0.0, 101.0)
    assert value(bad, "probe_websocket_connection_upgraded") == 0.0
    assert "probe_ssl_earliest_cert_expiry" in names(bad)
    assert value(bad, "wsdoctor_findings", code="WSD-HANDSHAKE-UPGRADE-NOT-FORWARDED",
                 status="fail") == 1.0

    assert value(old, "probe_success") == 0.0
    assert value(old, "probe_ssl_earliest_cert_expiry") < now
    assert value(old, "wsdoctor_tls_verified") == 0.0


@pytest.mark.slow
async def test_idle_timeout_and_affinity_against_expectations(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path, lab_dns: Dnsmasq, tmp_path: Path,
) -> None:
    """A scheduled target behind nginx with a 2 s read timeout and round-robin over two
    replicas exports the measured idle timeout below the expected 10 s and affinity 0 where 1
    is expected — what the idle-timeout and affinity-lost alerts compare."""
    nginx = start_nginx(NginxSite(host=LAB_HOST, tls=lab_ca.issue([LAB_HOST]), locations=[
        NginxLocation(path="/ws", upstreams=[r.port for r in replicas], read_timeout=2)]))
    config = lab_config(tmp_path, lab_dns, lab_ca_file, f"""\
targets:
  - name: chat
    url: wss://{LAB_HOST}:{nginx.port}/ws
    module: lifetime
""")
    async with running_exporter(config) as ex:
        chat = ex.exporter.scheduler.targets["chat"]
        await wait_for(lambda: chat.report is not None, timeout=30)
        samples = await ex.scrape()
    labels = {"target": "chat", "module": "lifetime"}
    assert ex.exporter.scheduler.targets["chat"].spec.long
    assert 1.5 < value(samples, "wsdoctor_idle_timeout_seconds", **labels) < 3.5
    assert value(samples, "wsdoctor_idle_timeout_expected_seconds", **labels) == 10.0
    assert value(samples, "wsdoctor_affinity_sticky", **labels) == 0.0
    assert value(samples, "wsdoctor_affinity_expected", **labels) == 1.0
    assert value(samples, "wsdoctor_affinity_replicas", **labels) == 2.0
    assert value(samples, "probe_success", **labels) == 0.0
    assert value(samples, "wsdoctor_findings", code="WSD-IDLE-TIMEOUT-SHORT", status="fail",
                 **labels) == 1.0
