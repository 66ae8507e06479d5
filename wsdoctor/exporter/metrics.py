"""Metrics of a report: a pure function from :class:`~wsdoctor.report.Report` to
``prometheus_client`` metric families, served by a collector built fresh for every scrape.

Names follow blackbox_exporter where the meaning is the same (``probe_success``,
``probe_duration_seconds``, ``probe_dns_lookup_time_seconds``, ``probe_ip_protocol``,
``probe_ssl_earliest_cert_expiry``, ``probe_tls_version_info``, ``probe_websocket_status_code``,
``probe_websocket_connection_upgraded``, and those of :mod:`wsdoctor.exporter.blackbox`:
per-phase durations, ``probe_http_*``, ``probe_ssl_last_chain_info``, ``probe_ip_addr_hash``);
everything else is ``wsdoctor_*``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from wsdoctor.checks.affinity import AffinityObservation
from wsdoctor.checks.dns import DnsObservation
from wsdoctor.checks.handshake import HandshakeObservation
from wsdoctor.checks.idle import IdleObservation
from wsdoctor.checks.messages import MessagesObservation
from wsdoctor.checks.tcp import TcpObservation
from wsdoctor.checks.tls import TlsObservation
from wsdoctor.exporter.blackbox import Gauge, add_blackbox, observation_of
from wsdoctor.models import CheckStatus, Status
from wsdoctor.records import dataclass
from wsdoctor.report import Report

CHECK_STATUSES = tuple(s.value for s in CheckStatus)
REPORT_STATUSES = ("ok", "warn", "fail", "error")


@dataclass
class _Family:
    name: str
    doc: str
    kind: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)


class MetricSet:
    """Samples gathered family by family; several reports (targets) can share one set.

    Label sets may differ between samples of a family (targets with their own labels): the
    families handed out carry the union of the label names, an absent label being ''.
    """

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}

    def _add(self, kind: str, name: str, doc: str, value: float,
             labels: Mapping[str, str]) -> None:
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = _Family(name, doc, kind)
        family.samples.append((dict(labels), float(value)))

    def gauge(self, name: str, doc: str, value: float, labels: Mapping[str, str]) -> None:
        """Add one gauge sample."""
        self._add("gauge", name, doc, value, labels)

    def counter(self, name: str, doc: str, value: float, labels: Mapping[str, str]) -> None:
        """Add one counter sample (``name`` without ``_total``)."""
        self._add("counter", name, doc, value, labels)

    def families(self) -> list[Metric]:
        """The families, built with prometheus_client."""
        out: list[Metric] = []
        for family in self._families.values():
            names: list[str] = []
            for labels, _ in family.samples:
                names.extend(n for n in labels if n not in names)
            metric: GaugeMetricFamily | CounterMetricFamily
            if family.kind == "counter":
                metric = CounterMetricFamily(family.name, family.doc, labels=names)
            else:
                metric = GaugeMetricFamily(family.name, family.doc, labels=names)
            for labels, value in family.samples:
                metric.add_metric([labels.get(n, "") for n in names], value)
            out.append(metric)
        return out


class StaticCollector(Collector):
    """Hands out families built beforehand: one per scrape, never global state."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        """The families, as prometheus_client asks for them."""
        yield from self._families


def registry_of(*collectors: Collector) -> CollectorRegistry:
    """A fresh registry holding these collectors (never the global default registry)."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return registry


def exposition(families: Iterable[Metric], *extra: Collector) -> bytes:
    """The text exposition format of these families (and of any extra collectors)."""
    from prometheus_client.exposition import generate_latest

    return generate_latest(registry_of(StaticCollector(families), *extra))


def probe_succeeded(report: Report, fail_on: Status | None = Status.FAIL) -> bool:
    """Success as ``probe_success`` means it: every check ran (none hit an internal error or
    its time limit) and no finding reaches ``fail_on``."""
    if any(c.status is CheckStatus.ERROR for c in report.checks):
        return False
    if fail_on is None:
        return True
    return not any(f.status.rank >= fail_on.rank for f in report.findings)


@dataclass(frozen=True)
class Expected:
    """The operator's expectations of a target, exported next to the measurements."""

    idle_timeout_s: float | None = None
    affinity: bool | None = None


def add_report(
    out: MetricSet,
    report: Report,
    *,
    labels: Mapping[str, str] | None = None,
    fail_on: Status | None = Status.FAIL,
    expected: Expected | None = None,
) -> None:
    """Add the metrics of one report to ``out``, each sample with ``labels``."""
    base = dict(labels or {})

    def gauge(name: str, doc: str, value: float, **extra: str) -> None:
        out.gauge(name, doc, value, {**base, **extra})

    gauge("probe_success", "Whether the probe succeeded (1) or not (0).",
          1.0 if probe_succeeded(report, fail_on) else 0.0)
    gauge("probe_duration_seconds", "How long the probe took to complete in seconds.",
          report.duration_s)
    gauge("wsdoctor_last_run_timestamp_seconds", "When the reported run started (Unix time).",
          report.started_at.timestamp())
    for status in REPORT_STATUSES:
        gauge("wsdoctor_report_status", "Overall status of the run (1 for the current one).",
              1.0 if report.status == status else 0.0, status=status)
    for check in report.checks:
        for status in CHECK_STATUSES:
            gauge("wsdoctor_check_status",
                  "Outcome of each check: ok, warn, fail, skipped or error (1 for the current).",
                  1.0 if check.status.value == status else 0.0, check=check.id, status=status)
        gauge("wsdoctor_check_duration_seconds", "How long each check's probe took.",
              check.duration_s, check=check.id)
    counts: dict[tuple[str, str], int] = {}
    for finding in report.findings:
        key = (finding.code, finding.status.value)
        counts[key] = counts.get(key, 0) + 1
    for (code, status), count in sorted(counts.items()):
        gauge("wsdoctor_findings", "Findings of the run by code and severity.", count,
              code=code, status=status)
    _add_network(report, gauge)
    _add_tls(report, gauge)
    _add_websocket(report, gauge)
    _add_lifetime(report, gauge)
    add_blackbox(report, gauge)
    if expected is not None and expected.idle_timeout_s is not None:
        gauge("wsdoctor_idle_timeout_expected_seconds",
              "The idle timeout the operator expects the path to allow.", expected.idle_timeout_s)
    if expected is not None and expected.affinity is not None:
        gauge("wsdoctor_affinity_expected",
              "Whether connections are expected to stick to one replica.",
              1.0 if expected.affinity else 0.0)


def _add_network(report: Report, gauge: Gauge) -> None:
    dns = observation_of(report, "dns", DnsObservation)
    if dns is not None:
        gauge("probe_dns_lookup_time_seconds", "Returns the time taken for probe dns lookup in "
              "seconds.", dns.duration_s)
        gauge("wsdoctor_dns_addresses", "Addresses the name resolved to (or was pinned to).",
              len(dns.addresses))
    tcp = observation_of(report, "tcp", TcpObservation)
    if tcp is not None:
        reachable = tcp.reachable
        gauge("wsdoctor_tcp_reachable_addresses", "Addresses that accepted a TCP connection.",
              len(reachable))
        if reachable:
            gauge("probe_ip_protocol", "Specifies whether probe ip protocol is IP4 or IP6",
                  6.0 if ":" in reachable[0].address else 4.0)
        for attempt in reachable:
            if attempt.connect_s is not None:
                gauge("wsdoctor_tcp_connect_seconds", "TCP connect time to each address.",
                      attempt.connect_s, address=attempt.endpoint)


def tls_version_label(version: str) -> str:
    """blackbox's spelling of a TLS version: ``TLSv1.3`` → ``TLS 1.3``."""
    return version.replace("TLSv", "TLS ") if version.startswith("TLSv") else version


def _add_tls(report: Report, gauge: Gauge) -> None:
    tls = observation_of(report, "tls", TlsObservation)
    if tls is None:
        return
    done = [a for a in tls.attempts if a.outcome == "completed"]
    expiries = [c.not_after.timestamp() for a in done for c in a.chain]
    if expiries:
        gauge("probe_ssl_earliest_cert_expiry",
              "Returns last SSL chain expiry in unixtime (the earliest not-after of the "
              "certificates served).", min(expiries))
    if done:
        first = done[0]
        if first.version:
            gauge("probe_tls_version_info", "Returns the TLS version used or NaN when unknown",
                  1.0, version=tls_version_label(first.version))
        if first.cipher:
            gauge("probe_tls_cipher_info", "Returns the TLS cipher negotiated during handshake",
                  1.0, cipher=first.cipher)
        gauge("wsdoctor_tls_verified", "Whether every served chain verified against the "
              "trusted CAs for the host name.", 1.0 if all(a.verified for a in done) else 0.0)
    gauge("wsdoctor_tls_handshakes_completed", "Addresses whose TLS handshake completed.",
          len(done))


def _add_websocket(report: Report, gauge: Gauge) -> None:
    handshake = observation_of(report, "handshake", HandshakeObservation)
    if handshake is not None and handshake.attempts:
        attempts = handshake.attempts
        failed = [a for a in attempts if a.outcome != "upgraded" and a.status_code is not None]
        answered = failed or [a for a in attempts if a.status_code is not None]
        gauge("probe_websocket_status_code", "Status code of the upgrade response (101 when the "
              "upgrade worked, 0 when there was no response); the first failing address's.",
              (answered[0].status_code or 0) if answered else 0)
        gauge("probe_websocket_connection_upgraded", "Whether every address upgraded the "
              "connection (101 with a valid Sec-WebSocket-Accept).",
              1.0 if all(a.outcome == "upgraded" for a in attempts) else 0.0)
        for attempt in attempts:
            if attempt.upgrade_s is not None:
                gauge("wsdoctor_websocket_upgrade_seconds", "Time from sending the upgrade "
                      "request to the complete response head, per address.", attempt.upgrade_s,
                      address=attempt.endpoint)
    messages = observation_of(report, "messages", MessagesObservation)
    if messages is None:
        return
    if messages.pings is not None:
        if messages.pings.median_s is not None:
            gauge("wsdoctor_ping_rtt_seconds", "Median ping/pong round trip.",
                  messages.pings.median_s)
        gauge("wsdoctor_pings_sent", "Pings sent by the messages check.", messages.pings.sent)
        gauge("wsdoctor_pings_answered", "Pings answered with a pong.", messages.pings.answered)
    if messages.echoes is not None:
        gauge("wsdoctor_websocket_echoes", "Whether the application echoes messages.",
              1.0 if messages.echoes else 0.0)


def _add_lifetime(report: Report, gauge: Gauge) -> None:
    idle = observation_of(report, "idle", IdleObservation)
    if idle is not None:
        if idle.timeout_s is not None:
            gauge("wsdoctor_idle_timeout_seconds", "Measured idle timeout: seconds without "
                  "traffic before the connection was closed.", idle.timeout_s)
        gauge("wsdoctor_idle_open_seconds", "How long the silent connection stayed open (to "
              "its end, or to the cap).", idle.open_s)
        gauge("wsdoctor_idle_max_seconds", "The longest the idle check waits (its cap).",
              idle.idle_max_s)
        gauge("wsdoctor_idle_silent_drop", "Whether the path dropped the idle connection "
              "without telling either end.", 1.0 if idle.silent_drop else 0.0)
    affinity = observation_of(report, "affinity", AffinityObservation)
    if affinity is not None:
        sticky = affinity_sticky(affinity)
        if sticky is not None:
            gauge("wsdoctor_affinity_sticky", "Whether reconnects reach the same replica (1) "
                  "or not (0).", 1.0 if sticky else 0.0)
        gauge("wsdoctor_affinity_replicas", "Distinct replicas the affinity check's "
              "connections reached.", affinity.distinct_replicas)


def affinity_sticky(obs: AffinityObservation) -> bool | None:
    """Whether reconnects stick: the replayed cookie pinned them, or (no cookie) every
    connection reached one replica. None when it cannot be told (the app names no replica)."""
    if obs.replay_pinned is not None:
        return obs.replay_pinned
    if obs.replica_source is not None and obs.connections:
        return obs.distinct_replicas <= 1
    return None


def report_families(
    report: Report,
    *,
    labels: Mapping[str, str] | None = None,
    fail_on: Status | None = Status.FAIL,
    expected: Expected | None = None,
) -> list[Metric]:
    """The metric families of one report: what ``/probe``, ``--textfile`` and
    ``--pushgateway`` expose."""
    out = MetricSet()
    add_report(out, report, labels=labels, fail_on=fail_on, expected=expected)
    return out.families()


def metric_names(families: Sequence[Metric]) -> list[str]:
    """Names of the families (for tests and docs)."""
    return [f.name for f in families]
