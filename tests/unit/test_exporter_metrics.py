"""Report → metrics is a pure function of data: probe_success, states, findings, labels."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import REGISTRY

from tests.exporter_support import names, parse_exposition, value
from wsdoctor.checks.dns import DnsObservation
from wsdoctor.checks.tcp import TcpAttempt, TcpObservation
from wsdoctor.exporter.metrics import (
    Expected,
    MetricSet,
    add_report,
    exposition,
    probe_succeeded,
    report_families,
)
from wsdoctor.models import CheckStatus, Finding, Status, Target
from wsdoctor.report import CheckReport, Report
from wsdoctor.target import parse_target

TARGET: Target = parse_target("ws://127.0.0.1:8080/ws")


def finding(code: str, status: Status) -> Finding:
    return Finding(code=code, check="tcp", status=status, title=code, detail="seen",
                   docs=f"docs/findings/{code}.md")


def report(tcp_status: CheckStatus = CheckStatus.OK, findings: list[Finding] | None = None,
           attempts: list[TcpAttempt] | None = None) -> Report:
    """A report of dns and tcp with the given outcome."""
    found = findings or []
    return Report(
        target=TARGET,
        started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        duration_s=0.25,
        status="fail" if any(f.status is Status.FAIL for f in found) else "ok",
        checks=[
            CheckReport(id="dns", title="DNS", hop="name", status=CheckStatus.OK, duration_s=0.001,
                        observation=DnsObservation(name="127.0.0.1", source="literal",
                                                   addresses=["127.0.0.1"], duration_s=0.002)),
            CheckReport(id="tcp", title="TCP", hop="network", status=tcp_status, duration_s=0.01,
                        observation=TcpObservation(attempts=attempts or [
                            TcpAttempt(address="127.0.0.1", port=8080, outcome="connected",
                                       connect_s=0.0004)])),
        ],
        findings=found,
    )


def test_success_needs_every_check_to_run_and_no_failing_finding() -> None:
    """An errored check or a finding at fail_on makes probe_success 0; a warning does not,
    unless fail_on is warn."""
    warn = [finding("WSD-X-WARN", Status.WARN)]
    assert probe_succeeded(report())
    assert not probe_succeeded(report(CheckStatus.ERROR))
    assert not probe_succeeded(report(CheckStatus.FAIL, [finding("WSD-X-FAIL", Status.FAIL)]))
    assert probe_succeeded(report(CheckStatus.WARN, warn))
    assert not probe_succeeded(report(CheckStatus.WARN, warn), Status.WARN)
    assert probe_succeeded(report(CheckStatus.FAIL, [finding("WSD-X", Status.FAIL)]), None)


def test_families_of_a_healthy_report() -> None:
    """Blackbox names carry the measurements; each check's state set has exactly one 1."""
    samples = parse_exposition(exposition(report_families(report())).decode())
    assert value(samples, "probe_success") == 1.0
    assert value(samples, "probe_duration_seconds") == 0.25
    assert value(samples, "probe_dns_lookup_time_seconds") == 0.002
    assert value(samples, "probe_ip_protocol") == 4.0
    assert value(samples, "wsdoctor_tcp_connect_seconds", address="127.0.0.1:8080") == 0.0004
    assert value(samples, "wsdoctor_last_run_timestamp_seconds") == 1767323045.0
    for check in ("dns", "tcp"):
        states = {s: value(samples, "wsdoctor_check_status", check=check, status=s)
                  for s in ("ok", "warn", "fail", "skipped", "error")}
        assert states == {"ok": 1.0, "warn": 0.0, "fail": 0.0, "skipped": 0.0, "error": 0.0}
    assert value(samples, "wsdoctor_report_status", status="ok") == 1.0
    assert "wsdoctor_findings" not in names(samples)


def test_findings_are_counted_by_code_and_status() -> None:
    """Two findings of one code count 2; the failing run has probe_success 0."""
    found = [finding("WSD-TCP-REFUSED", Status.FAIL), finding("WSD-TCP-REFUSED", Status.FAIL),
             finding("WSD-DNS-NO-AAAA", Status.INFO)]
    attempts = [TcpAttempt(address="::1", port=8080, outcome="refused", error="RST")]
    samples = parse_exposition(
        exposition(report_families(report(CheckStatus.FAIL, found, attempts))).decode())
    assert value(samples, "probe_success") == 0.0
    assert value(samples, "wsdoctor_findings", code="WSD-TCP-REFUSED", status="fail") == 2.0
    assert value(samples, "wsdoctor_findings", code="WSD-DNS-NO-AAAA", status="info") == 1.0
    assert value(samples, "wsdoctor_tcp_reachable_addresses") == 0.0
    assert "probe_ip_protocol" not in names(samples)


def test_expectations_are_exported_next_to_measurements() -> None:
    """The expected idle timeout and affinity become gauges alerts can compare with."""
    families = report_families(report(), expected=Expected(idle_timeout_s=3600, affinity=False))
    samples = parse_exposition(exposition(families).decode())
    assert value(samples, "wsdoctor_idle_timeout_expected_seconds") == 3600.0
    assert value(samples, "wsdoctor_affinity_expected") == 0.0


def test_targets_with_different_labels_share_families() -> None:
    """Several reports go into one family per name; a label one target lacks is empty."""
    out = MetricSet()
    add_report(out, report(), labels={"target": "a", "team": "chat"})
    add_report(out, report(CheckStatus.ERROR), labels={"target": "b"})
    text = exposition(out.families()).decode()
    samples = parse_exposition(text)
    assert text.count("# TYPE probe_success gauge") == 1
    assert value(samples, "probe_success", target="a", team="chat") == 1.0
    assert value(samples, "probe_success", target="b") == 0.0


def test_building_metrics_leaves_the_global_registry_alone() -> None:
    """Families come from per-scrape registries; prometheus_client's default one is untouched."""
    before = set(REGISTRY._names_to_collectors)
    exposition(report_families(report()))
    assert set(REGISTRY._names_to_collectors) == before
    assert "probe_success" not in before
