"""The exporter where blackbox_exporter was: a scrape configuration written for blackbox (its
README's, only the exporter address and targets changed) and a dashboard built for it (the
blackbox-exporter-mixin's queries), against the lab; and `wsdoctor probe` with no configuration
answering a blackbox-style `/probe` with blackbox's module names and a bare host:port."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.exporter_support import Samples, parse_exposition, running_exporter, value, write_config
from tests.helpers import LAB_HOST
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.proxies import Dnsmasq, DnsZone, Nginx, free_port

pytestmark = pytest.mark.lab

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "blackbox"
WEBSOCKET_PHASES = {"resolve", "connect", "tls", "upgrade", "first_message"}
HTTP_PHASES = {"resolve", "connect", "tls", "processing", "transfer"}
#: Dashboard series with no WebSocket meaning (ICMP echo): expected not to resolve.
NO_MEANING = {"probe_icmp_duration_seconds"}


def relabel(job: dict[str, Any], address: str) -> tuple[str, dict[str, str]]:
    """Prometheus' relabelling of one static target, for the rules blackbox's README uses
    (copy a label, or set one to a replacement): the scrape URL and the target's labels."""
    labels = {"__address__": address, "__metrics_path__": job.get("metrics_path", "/metrics"),
              "job": job["job_name"]}
    for name, values in job.get("params", {}).items():
        labels[f"__param_{name}"] = values[0]
    for rule in job.get("relabel_configs", []):
        source = ";".join(labels.get(s, "") for s in rule.get("source_labels", []))
        labels[rule["target_label"]] = rule.get("replacement", "$1").replace("$1", source)
    params = {k.removeprefix("__param_"): v for k, v in labels.items() if k.startswith("__param_")}
    url = (f"http://{labels['__address__']}{labels['__metrics_path__']}?"
           + urllib.parse.urlencode(params))
    labels.setdefault("instance", labels["__address__"])
    return url, {k: v for k, v in labels.items() if not k.startswith("__")}


def selectors(expr: str) -> tuple[set[str], set[str]]:
    """The metric names a PromQL expression selects and the labels it groups by."""
    names = set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*\{", expr))
    grouped = {label.strip() for group in re.findall(r"\bby\s*\(([^)]*)\)", expr)
               for label in group.split(",")}
    return names, grouped


def resolving(queries: list[dict[str, str]], series: list[tuple[str, dict[str, str]]]
              ) -> tuple[set[str], set[str]]:
    """(names that resolve, names that do not) over every query: a name resolves when a
    scraped series has it and carries every label its query groups by."""
    found, missing = set(), set()
    for query in queries:
        names, grouped = selectors(query["expr"])
        for name in names:
            ok = any(n == name and grouped <= set(labels) for n, labels in series)
            (found if ok else missing).add(name)
    return found, missing - found


async def test_a_blackbox_scrape_config_and_dashboard_work_by_changing_the_address(
    healthy_nginx: Nginx, replicas: list[Backend], lab_ca_file: Path, tmp_path: Path,
    start_dnsmasq: Callable[[DnsZone], Dnsmasq],
) -> None:
    """Given blackbox's README scrape configuration (module http_2xx, and tcp_connect) aimed at
    wsdoctor, with a TLS target and a bare host:port, and the mixin dashboard's queries: every
    series the dashboard reads resolves (ICMP aside), with the phases by label."""
    dns = start_dnsmasq(DnsZone(addresses={LAB_HOST: ["127.0.0.1"]}))
    # As a blackbox.yml would give http_2xx its tls_config.ca_file, the file gives the module
    # the lab's CA and DNS server; the checks are those of the built-in module it stands for.
    config = write_config(tmp_path, f"""\
        modules:
          http_2xx:
            checks: [dns, tcp, tls, http, handshake, messages]
            settings: {{dns_server: '{dns.server}', cafile: '{lab_ca_file}', timeout: 3,
                       message_size: 65536, pings: 3}}
        """)
    async with running_exporter(config) as ex:
        exporter = ex.base.removeprefix("http://")
        text = (FIXTURES / "prometheus.yml").read_text()
        for key, val in {"{exporter}": exporter,
                         "{lab_tls}": f"https://{LAB_HOST}:{healthy_nginx.port}/ws",
                         "{lab_plain}": f"127.0.0.1:{replicas[0].port}"}.items():
            text = text.replace(key, val)
        jobs = yaml.safe_load(text)["scrape_configs"]
        series: list[tuple[str, dict[str, str]]] = []
        scraped: dict[str, Samples] = {}
        for job in jobs:
            for address in job["static_configs"][0]["targets"]:
                url, labels = relabel(job, address)
                assert url.startswith(ex.base + "/probe?")
                samples = await ex.scrape(url.removeprefix(ex.base))
                scraped[f"{labels['job']} {address}"] = samples
                series += [(name, {**dict(ls), **labels}) for name, ls in samples]
        # blackbox's hostname parameter (dns_sd_configs): an address, with the name for SNI
        by_address = await ex.scrape(f"/probe?module=http_2xx&hostname={LAB_HOST}"
                                     f"&target=https://127.0.0.1:{healthy_nginx.port}/ws")
    queries = yaml.safe_load((FIXTURES / "dashboard-queries.yml").read_text())["queries"]
    found, missing = resolving(queries, series)
    assert missing == NO_MEANING, f"dashboard series that show nothing: {sorted(missing)}"
    assert {"probe_http_duration_seconds", "probe_ssl_earliest_cert_expiry",
            "probe_tls_version_info", "probe_http_status_code"} <= found
    tls = scraped[f"blackbox https://{LAB_HOST}:{healthy_nginx.port}/ws"]
    assert value(tls, "probe_success") == 1.0
    assert {dict(ls)["phase"] for n, ls in tls if n == "probe_http_duration_seconds"} \
        == HTTP_PHASES
    assert {dict(ls)["phase"] for n, ls in tls if n == "probe_websocket_duration_seconds"} \
        == WEBSOCKET_PHASES
    chain = [dict(ls) for n, ls in tls if n == "probe_ssl_last_chain_info"]
    assert len(chain) == 1 and chain[0]["subjectalternative"] == LAB_HOST
    assert re.fullmatch(r"[0-9a-f]{64}", chain[0]["fingerprint_sha256"])
    assert value(tls, "probe_ssl_last_chain_expiry_timestamp_seconds") > time.time()
    assert value(by_address, "probe_success") == 1.0
    assert value(by_address, "probe_dns_lookup_time_seconds") < 0.1  # pinned, not resolved
    plain = scraped[f"blackbox 127.0.0.1:{replicas[0].port}"]
    assert value(plain, "probe_success") == 1.0 and value(plain, "probe_http_ssl") == 0.0
    # the same address (127.0.0.1) behind both targets: the same hash
    assert value(tls, "probe_ip_addr_hash") == value(plain, "probe_ip_addr_hash") > 0
    tcp = scraped[f"blackbox_tcp 127.0.0.1:{replicas[0].port}"]
    assert value(tcp, "probe_success") == 1.0
    assert value(tcp, "wsdoctor_check_status", check="tcp", status="ok") == 1.0
    assert not any(n == "wsdoctor_check_status" and dict(ls)["check"] == "handshake"
                   for n, ls in tcp)


def get(url: str) -> tuple[int, str]:
    """GET ``url``: (status, body), an HTTP error status included."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_probe_without_a_configuration_answers_blackbox_style(replicas: list[Backend]) -> None:
    """`wsdoctor probe` with no --config serves the built-in modules: a blackbox scrape with
    module=http_2xx and a bare host:port probes the WebSocket (plain, as blackbox takes a bare
    target) with its per-phase durations; tcp_connect only connects; blackbox modules with no
    WebSocket meaning are one 400 line; /metrics answers."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "wsdoctor", "probe", "--listen",
                             f"127.0.0.1:{port}"], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr or []],
                     daemon=True).start()
    try:
        line = lines.get(timeout=30)
        assert "listening on 127.0.0.1:" in line and "0 targets" in line, line
        base = f"http://127.0.0.1:{port}"
        target = f"127.0.0.1:{replicas[0].port}"
        status, body = get(f"{base}/probe?target={target}&module=http_2xx")
        assert status == 200, body
        samples = parse_exposition(body)
        assert value(samples, "probe_success") == 1.0
        assert value(samples, "probe_websocket_status_code") == 101.0
        assert value(samples, "probe_http_status_code") == 101.0
        phases = {dict(ls)["phase"] for n, ls in samples if n == "probe_websocket_duration_seconds"}
        assert phases == WEBSOCKET_PHASES - {"tls"}
        assert 0 < value(samples, "probe_websocket_duration_seconds", phase="upgrade") < 5
        status, body = get(f"{base}/probe?target={target}&module=tcp_connect")
        assert status == 200 and value(parse_exposition(body), "probe_success") == 1.0
        status, body = get(f"{base}/probe?target={target}&module=icmp")
        assert status == 400 and body.count("\n") == 1 and "no WebSocket meaning" in body
        status, body = get(f"{base}/metrics")
        assert status == 200
        assert value(parse_exposition(body), "wsdoctor_exporter_targets") == 0.0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
