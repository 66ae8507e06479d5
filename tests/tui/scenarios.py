"""Reports and fake checks the TUI tests share. Reports use the real observation types and
fixed times, so screens built from them are the same on every machine."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wsdoctor.checks.base import Check, Code, Facts, Hop, Observation, ProbeContext, Skip, rule
from wsdoctor.checks.dns import DnsObservation
from wsdoctor.checks.tcp import TcpAttempt, TcpObservation
from wsdoctor.models import CheckStatus, Finding, Fix, Resource, Status, Target
from wsdoctor.report import CheckReport, Report, report_status
from wsdoctor.reports.tui.source import Runner
from wsdoctor.runner import EventSink, order_findings
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

TARGET: Target = parse_target("wss://chat.example.test/ws")
STARTED = datetime(2026, 11, 21, 4, 0, 0, tzinfo=UTC)

IDLE_SNIPPET = """\
metadata:
  annotations:
    nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"
    nginx.ingress.kubernetes.io/proxy-send-timeout: "3600"
"""
AFFINITY_SNIPPET = """\
metadata:
  annotations:
    nginx.ingress.kubernetes.io/affinity: cookie
"""

IDLE_FINDING = Finding(
    code="WSD-IDLE-TIMEOUT-SHORT",
    check="idle",
    status=Status.FAIL,
    title="Idle connections are closed after 60 s",
    detail="the proxy closed the idle WebSocket after 60.0 s (close 1006, no close frame)",
    evidence={"idle_timeout_s": 60.0, "closed_by": "proxy", "matches": ["ingress-nginx"]},
    resource=Resource(
        kind="Ingress", name="chat", namespace="default", field="metadata.annotations"
    ),
    fix=Fix(
        summary="Raise proxy-read-timeout and proxy-send-timeout on the Ingress.",
        snippet=IDLE_SNIPPET,
        language="yaml",
    ),
    docs="docs/findings/WSD-IDLE-TIMEOUT-SHORT.md",
)
AFFINITY_FINDING = Finding(
    code="WSD-AFFINITY-NONE",
    check="affinity",
    status=Status.FAIL,
    title="Reconnects land on a different pod",
    detail="3 connections reached 3 different pods; no affinity cookie was set",
    evidence={"connections": 3, "pods": 3},
    resource=Resource(kind="Ingress", name="chat", namespace="default"),
    fix=Fix(summary="Enable cookie affinity.", snippet=AFFINITY_SNIPPET, language="yaml"),
    docs="docs/findings/WSD-AFFINITY-NONE.md",
)
SLOW_ECHO = Finding(
    code="WSD-MSG-SLOW-ECHO",
    check="messages",
    status=Status.WARN,
    title="The 1 MiB message took 2.3 s to echo",
    detail="echo of 1048576 bytes took 2.31 s",
    evidence={"size": 1048576, "echo_s": 2.31},
    docs="docs/findings/WSD-MSG-SLOW-ECHO.md",
)


def _check(
    id: str,
    title: str,
    hop: Hop,
    status: CheckStatus,
    summary: str = "",
    duration_s: float = 0.012,
    observation: Observation | None = None,
    reason: str | None = None,
    traceback: str | None = None,
) -> CheckReport:
    return CheckReport(
        id=id,
        title=title,
        hop=hop.label,
        status=status,
        summary=summary,
        duration_s=duration_s,
        observation=observation,
        reason=reason,
        traceback=traceback,
    )


def failing_report() -> Report:
    """A finished run with two failures (idle, affinity), a warning, a skip and an error."""
    dns = DnsObservation(
        name="chat.example.test", source="pinned", addresses=["127.0.0.1"], duration_s=0.0021
    )
    tcp = TcpObservation(
        attempts=[TcpAttempt(address="127.0.0.1", port=443, outcome="connected", connect_s=4e-4)]
    )
    checks = [
        _check("dns", "DNS lookup", Hop.NAME, CheckStatus.OK, "1 address (pinned)", 0.002, dns),
        _check(
            "tcp", "TCP connect", Hop.NETWORK, CheckStatus.OK, "1/1 addresses connect", 4e-4, tcp
        ),
        _check(
            "capture",
            "Packet capture",
            Hop.NETWORK,
            CheckStatus.SKIPPED,
            reason="needs root: run with sudo to capture packets",
        ),
        _check(
            "tls", "TLS handshake", Hop.TLS, CheckStatus.OK, "TLSv1.3, cert valid 89 days", 0.031
        ),
        _check(
            "handshake",
            "WebSocket upgrade",
            Hop.UPGRADE,
            CheckStatus.OK,
            "101 Switching Protocols",
            0.044,
        ),
        _check(
            "messages", "Messages", Hop.MESSAGES, CheckStatus.WARN, "echo ok, 1 MiB in 2.3 s", 2.41
        ),
        _check(
            "idle", "Idle timeout", Hop.IDLE, CheckStatus.FAIL, "closed after 60.0 s idle", 60.2
        ),
        _check(
            "affinity",
            "Session affinity",
            Hop.AFFINITY,
            CheckStatus.FAIL,
            "3 connections, 3 pods",
            0.35,
        ),
        _check(
            "cluster",
            "Kubernetes objects",
            Hop.CLUSTER,
            CheckStatus.ERROR,
            reason="RuntimeError: the API server said 500",
            traceback="Traceback (most recent call last):\n  ...\nRuntimeError: 500\n",
        ),
    ]
    hop_of = {c.id: i for i, c in enumerate(checks)}
    findings = order_findings([SLOW_ECHO, AFFINITY_FINDING, IDLE_FINDING], hop_of)
    return Report(
        target=TARGET,
        started_at=STARTED,
        duration_s=61.5,
        status=report_status(findings, checks),
        options={"timeout": 5.0},
        checks=checks,
        findings=findings,
    )


def save_report(report: Report, directory: Path) -> Path:
    """Write ``report`` as the CLI does and return the path."""
    path = directory / "report.json"
    path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


# -- fake checks for live runs ----------------------------------------------------------

REFUSED = Code("WSD-TEST-REFUSED", Status.FAIL, "Connection refused by the test")


class Gate:
    """Holds a fake probe until the test opens it (thread-safe: probes run in a worker)."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.entered = threading.Event()
        self.cancelled = threading.Event()

    async def wait(self) -> None:
        self.entered.set()
        try:
            while not self.opened.is_set():  # noqa: ASYNC110 - set from the test's thread
                await asyncio.sleep(0.005)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


async def probe_name(ctx: ProbeContext) -> Observation:
    return DnsObservation(name="chat.example.test", source="literal", addresses=["127.0.0.1"])


async def probe_connect(ctx: ProbeContext) -> Observation:
    return TcpObservation(
        attempts=[TcpAttempt(address="127.0.0.1", port=443, outcome="refused", error="refused")]
    )


def judge_connect(facts: Facts) -> Iterator[Finding]:
    yield REFUSED.finding(
        "tcp",
        "127.0.0.1:443: connection refused",
        fix=Fix(summary="Start the server.", snippet="kubectl get pods", language="shell"),
    )


def fake_checks(gate: Gate | None = None, idle_steps: int = 0, step_s: float = 0.05) -> list[Check]:
    """dns → tcp (fails) → slow (held by ``gate``, or an idle-like probe with progress)."""

    async def probe_slow(ctx: ProbeContext) -> Observation:
        for second in range(idle_steps):
            ctx.progress(f"{second} s — waiting for the proxy to close", second / idle_steps)
            await asyncio.sleep(step_s)
        if gate is not None:
            await gate.wait()
        if idle_steps == 0 and gate is None:
            raise Skip("nothing to wait for")
        return TcpObservation(attempts=[])

    return [
        Check(id="dns", title="DNS lookup", hop=Hop.NAME, probe=probe_name),
        Check(
            id="tcp",
            title="TCP connect",
            hop=Hop.NETWORK,
            probe=probe_connect,
            needs=("dns",),
            rules=(rule(judge_connect),),
            codes=(REFUSED,),
        ),
        Check(
            id="idle",
            title="Idle timeout",
            hop=Hop.IDLE,
            probe=probe_slow,
            time_limit=lambda s: 600.0,
        ),
    ]


# -- scripted runs: the runner's events replayed from a report, with fixed durations ------


async def _no_probe(ctx: ProbeContext) -> Observation:
    raise AssertionError("a replayed check is never probed")


def checks_of(report: Report) -> list[Check]:
    """Check definitions matching the report's checks (for the pending rows)."""
    return [
        Check(id=c.id, title=c.title, hop=Hop[c.hop.upper()], probe=_no_probe)
        for c in report.checks
    ]


def replay(
    report: Report,
    *,
    stop_before: str | None = None,
    progress: str = "",
    fraction: float | None = None,
    gate: Gate | None = None,
) -> Runner:
    """A runner that emits ``report``'s events in path order. With ``stop_before`` it starts
    that check, reports ``progress`` for it and then waits for ``gate`` (forever if None)."""
    from wsdoctor.runner import (
        CheckFinished,
        CheckProgress,
        CheckStarted,
        FindingFound,
        RunFinished,
    )

    async def run(
        target: Target,
        settings: Settings,
        *,
        checks: Sequence[Check],
        sink: EventSink | None,
        options: dict[str, Any] | None,
    ) -> Report:
        assert sink is not None
        by_id = {c.id: c for c in checks}
        for result in report.checks:
            check = by_id[result.id]
            sink(CheckStarted(check=check))
            if result.id == stop_before:
                if progress:
                    sink(CheckProgress(check_id=result.id, message=progress, fraction=fraction))
                await (gate or Gate()).wait()
            own = tuple(f for f in report.findings if f.check == result.id)
            for finding in own:
                sink(FindingFound(finding=finding))
            sink(CheckFinished(check=check, result=result, findings=own))
            await asyncio.sleep(0)
        sink(RunFinished(report=report))
        return report

    return run


class ConnectionCounter:
    """A loopback TCP server that says nothing and counts the connections still open."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.open = 0
        self.accepted = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.open += 1
                self.accepted += 1
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            try:
                while conn.recv(65536):
                    pass
            except OSError:
                pass
        with self._lock:
            self.open -= 1

    def wait_open(self, count: int, timeout: float = 5.0, at_least: bool = False) -> int:
        """Wait until ``count`` connections (or more, with ``at_least``) are open; return how
        many are."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.open == count or (at_least and self.open > count):
                break
            time.sleep(0.01)
        return self.open

    def close(self) -> None:
        self.sock.close()
