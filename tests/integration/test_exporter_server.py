"""The exporter on loopback, scraped over real HTTP and parsed with prometheus_client's parser:
/probe (blackbox-style), /metrics (scheduled targets), /reports, /healthz, time limits."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from tests.exporter_support import (
    names,
    running_exporter,
    tcp_listener,
    value,
    wait_for,
    write_config,
)
from wsdoctor.lab.listeners import Blackhole, closed_port
from wsdoctor.report import Report

FAST = """\
interval: 0.2s
concurrency: 4
modules:
  tcp:
    checks: [tcp]
    time_limit: 5s
    settings: {timeout: 2}
  cut:
    checks: [tcp]
    time_limit: 0.5s
    settings: {timeout: 5}
"""


async def test_probe_is_blackbox_compatible(tmp_path: Path) -> None:
    """/probe?target=&module= answers probe_success 1 for a listening port and 0 for a closed
    one, in the exposition format, without target labels (Prometheus adds them)."""
    async with tcp_listener() as port, running_exporter(write_config(tmp_path, FAST)) as ex:
        good = await ex.scrape(f"/probe?target=ws://127.0.0.1:{port}/&module=tcp")
        bad = await ex.scrape(f"/probe?target=ws://127.0.0.1:{closed_port()}/&module=tcp")
    assert value(good, "probe_success") == 1.0
    assert value(bad, "probe_success") == 0.0
    assert value(bad, "wsdoctor_findings", code="WSD-TCP-REFUSED", status="fail") == 1.0
    assert value(good, "wsdoctor_check_status", check="tcp", status="ok") == 1.0
    assert value(bad, "wsdoctor_check_status", check="tcp", status="fail") == 1.0
    assert value(good, "probe_ip_protocol") == 4.0
    assert 0 < value(good, "probe_duration_seconds") < 5
    assert "probe_dns_lookup_time_seconds" in names(good)


async def test_probe_rejects_bad_requests(tmp_path: Path) -> None:
    """Missing target, unknown module and a malformed URL are 400 with a one-line reason."""
    async with running_exporter(write_config(tmp_path, FAST)) as ex:
        missing = await ex.get("/probe?module=tcp")
        module = await ex.get("/probe?target=ws://127.0.0.1:1/&module=nope")
        url = await ex.get("/probe?target=ftp://x/&module=tcp")
    assert missing == (400, "Target parameter is missing\n")
    assert module[0] == 400 and "Unknown module 'nope'" in module[1]
    assert url[0] == 400 and "unsupported scheme" in url[1]


async def test_bad_request_answers_are_sentences(tmp_path: Path) -> None:
    """A 400 of /probe is one sentence that quotes what was sent escaped, never as a Python
    repr, and blames the parameter at fault (hostname, not the target)."""
    async with running_exporter(write_config(tmp_path, FAST)) as ex:
        answers = [await ex.get(query) for query in (
            "/probe?target=%00%01", "/probe?target=ws://127.0.0.1:1/&module=no%1bpe",
            "/probe?target=ws://127.0.0.1:1/&hostname=a%0d%0aX-I:%201",
            "/probe?target=ws://localhost:1/&hostname=chat.example")]
    for status, body in answers:
        assert status == 400 and body[:1].isupper() and body.endswith(".\n"), body
        assert body.count("\n") == 1 and body[:-1].isprintable(), body
    assert answers[0][1].startswith("Target '\\x00\\x01': ")
    assert answers[1][1].startswith("Unknown module 'no\\x1bpe' (known: ")
    assert answers[2][1].startswith("Hostname 'a\\x0d\\x0aX-I: 1' is not a host name")
    assert "not 'localhost'" in answers[3][1]


async def test_probe_debug_returns_the_json_report(tmp_path: Path) -> None:
    """&debug=true returns the full JSON report of the on-demand run."""
    async with running_exporter(write_config(tmp_path, FAST)) as ex:
        status, body = await ex.get(f"/probe?target=ws://127.0.0.1:{closed_port()}/&module=tcp"
                                    "&debug=true")
    report = Report.model_validate_json(body)
    assert status == 200
    assert report.findings[0].code == "WSD-TCP-REFUSED"


async def test_metrics_hold_the_last_run_of_each_scheduled_target(tmp_path: Path) -> None:
    """/metrics has every scheduled target's results under its target label, run counters,
    and the exporter's own health and process metrics."""
    async with tcp_listener() as port:
        config = write_config(tmp_path, FAST + f"""\
targets:
  - name: up
    url: ws://127.0.0.1:{port}/
    module: tcp
    labels: {{team: chat}}
  - name: down
    url: ws://127.0.0.1:{closed_port()}/
    module: tcp
""")
        async with running_exporter(config) as ex:
            targets = ex.exporter.scheduler.targets
            await wait_for(lambda: all(s.runs["success"] + s.runs["failure"] >= 2
                                       for s in targets.values()))
            samples = await ex.scrape()
            index_status, index = await ex.get("/reports")
            report_status, report = await ex.get("/reports/down")
            unknown = await ex.get("/reports/nope")
            health = await ex.get("/healthz")
    assert value(samples, "probe_success", target="up", module="tcp", team="chat") == 1.0
    assert value(samples, "probe_success", target="down", module="tcp") == 0.0
    assert value(samples, "wsdoctor_probe_runs_total", target="up", module="tcp", team="chat",
                 result="success") >= 2
    assert value(samples, "wsdoctor_probe_runs_total", target="down", module="tcp",
                 result="failure") >= 2
    assert value(samples, "wsdoctor_exporter_targets") == 2.0
    assert value(samples, "wsdoctor_exporter_config_last_reload_successful") == 1.0
    assert value(samples, "wsdoctor_exporter_concurrency", pool="quick") == 4.0
    assert {"process_resident_memory_bytes", "process_open_fds"} <= names(samples)
    assert index_status == 200 and json.loads(index)["down"]["success"] is False
    assert report_status == 200
    assert Report.model_validate_json(report).findings[0].code == "WSD-TCP-REFUSED"
    assert unknown[0] == 404
    assert health[0] == 200 and json.loads(health[1])["status"] == "ok"


async def test_a_dead_target_is_cut_at_its_time_limit_and_delays_no_other(
    tmp_path: Path,
) -> None:
    """A target whose SYNs vanish is cut at the module's time limit (its report says so and
    probe_success is 0) while a healthy target keeps running on its own interval."""
    with Blackhole() as hole:
        async with tcp_listener() as port:
            config = write_config(tmp_path, FAST + f"""\
targets:
  - name: dead
    url: ws://127.0.0.1:{hole.port}/
    module: cut
  - name: alive
    url: ws://127.0.0.1:{port}/
    module: tcp
""")
            async with running_exporter(config) as ex:
                targets = ex.exporter.scheduler.targets
                await wait_for(lambda: targets["dead"].report is not None, timeout=5)
                alive_runs = targets["alive"].runs["success"]
                samples = await ex.scrape()
    dead = targets["dead"].report
    assert dead is not None
    tcp = dead.check("tcp")
    assert tcp is not None and tcp.status == "error"
    assert "time limit of 0.5 s" in (tcp.reason or "")
    assert 0.45 < dead.duration_s < 1.5
    assert value(samples, "probe_success", target="dead", module="cut") == 0.0
    assert value(samples, "wsdoctor_check_status", target="dead", module="cut", check="tcp",
                 status="error") == 1.0
    assert alive_runs >= 2, "the healthy target must keep running while the dead one hangs"


async def test_probe_respects_prometheus_scrape_timeout(tmp_path: Path) -> None:
    """/probe answers before Prometheus' X-Prometheus-Scrape-Timeout-Seconds runs out."""
    with Blackhole() as hole:
        async with running_exporter(write_config(tmp_path, FAST.replace("0.5s", "30s"))) as ex:
            start = time.monotonic()
            status, body = await ex.get(f"/probe?target=ws://127.0.0.1:{hole.port}/&module=cut",
                                        **{"X-Prometheus-Scrape-Timeout-Seconds": "1.5"})
            elapsed = time.monotonic() - start
    assert status == 200
    assert "probe_success 0.0" in body
    assert elapsed < 1.5


async def test_reload_keeps_the_old_configuration_when_the_new_one_is_broken(
    tmp_path: Path,
) -> None:
    """A broken file on reload is refused with the reason; the old targets keep their state
    and keep running; a good file then replaces them."""
    async with tcp_listener() as port:
        config = write_config(tmp_path, FAST + f"""\
targets:
  - name: one
    url: ws://127.0.0.1:{port}/
    module: tcp
""")
        async with running_exporter(config) as ex:
            targets = ex.exporter.scheduler.targets
            await wait_for(lambda: targets["one"].report is not None)
            config.write_text(config.read_text().replace("module: tcp", "module: nope"))
            assert ex.exporter.reload() is False
            broken = await ex.scrape()
            runs_before = targets["one"].runs["success"]
            await asyncio.sleep(0.5)
            assert targets["one"].runs["success"] > runs_before
            config.write_text(config.read_text().replace("module: nope", "module: tcp")
                              .replace("name: one", "name: two"))
            assert ex.exporter.reload() is True
            await wait_for(lambda: "two" in targets and targets["two"].report is not None)
            fixed = await ex.scrape()
    assert ex.exporter.reload_error is None
    assert value(broken, "wsdoctor_exporter_config_last_reload_successful") == 0.0
    assert value(broken, "probe_success", target="one", module="tcp") == 1.0
    assert value(fixed, "wsdoctor_exporter_config_last_reload_successful") == 1.0
    assert ("probe_success", frozenset({("target", "one"), ("module", "tcp")})) not in fixed
    assert value(fixed, "probe_success", target="two", module="tcp") == 1.0


async def test_configured_labels_reach_every_metric(tmp_path: Path) -> None:
    """`labels: {node: ${NODE_NAME}}` (the DaemonSet's) labels scheduled metrics, /probe
    answers and the exporter's own health alike."""
    async with tcp_listener() as port:
        config = write_config(tmp_path, FAST.replace("interval:", "labels: {node: '${NODE_NAME}'}"
                                                     "\ninterval:") + f"""\
targets:
  - name: up
    url: ws://127.0.0.1:{port}/
    module: tcp
""")
        async with running_exporter(config, {"NODE_NAME": "node-7"}) as ex:
            await wait_for(lambda: ex.exporter.scheduler.targets["up"].report is not None)
            scheduled = await ex.scrape()
            on_demand = await ex.scrape(f"/probe?target=ws://127.0.0.1:{port}/&module=tcp")
    assert value(scheduled, "probe_success", target="up", module="tcp", node="node-7") == 1.0
    assert value(scheduled, "wsdoctor_exporter_targets", node="node-7") == 1.0
    assert value(on_demand, "probe_success", node="node-7") == 1.0
