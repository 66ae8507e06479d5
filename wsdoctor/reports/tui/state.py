"""What the checklist shows, as plain data: one row per check in path order, updated from the
runner's events or filled from a saved report. No Textual here, so it is testable alone.
Everything it keeps is :func:`~wsdoctor.untrusted.safe`: what a server or a saved file said is
shown escaped, never acted on by the terminal."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import field

from wsdoctor.checks.base import Check, Hop
from wsdoctor.models import CheckStatus, Finding, Status
from wsdoctor.records import dataclass
from wsdoctor.report import CheckReport, Report
from wsdoctor.runner import (
    CheckFinished,
    CheckProgress,
    CheckStarted,
    Event,
    FindingFound,
    RunFinished,
)
from wsdoctor.untrusted import printable, safe

#: Check statuses that count as failures for "failures only" and "next failure".
FAILED = (CheckStatus.FAIL, CheckStatus.ERROR)


class Phase(enum.Enum):
    """Where a row is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"


def hop_rank(label: str) -> int:
    """Position of a hop on the path (name first, cluster last); unknown hops go last."""
    try:
        return int(Hop[label.upper()])
    except KeyError:
        return len(Hop) + 1


@dataclass
class Row:
    """One check as the checklist shows it."""

    id: str
    title: str
    hop: str
    phase: Phase = Phase.PENDING
    started_at: float | None = None
    """Clock reading when the probe started (for the live elapsed time)."""
    progress_message: str = ""
    progress_fraction: float | None = None
    result: CheckReport | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def status(self) -> CheckStatus | None:
        """The check's verdict once it has finished."""
        return self.result.status if self.result is not None else None

    @property
    def failed(self) -> bool:
        """Whether the check failed or could not run."""
        return self.status in FAILED

    def add_finding(self, finding: Finding) -> None:
        """Keep a finding once, even when both the stream and the report carry it."""
        if all((f.code, f.detail) != (finding.code, finding.detail) for f in self.findings):
            self.findings.append(finding)


@dataclass(frozen=True)
class Selection:
    """What the cursor is on: a check, or one of its findings (index into ``Row.findings``)."""

    check_id: str
    finding: int | None = None


class Checklist:
    """The rows of one run, in path order, and the run's final report once it exists."""

    def __init__(self, rows: Iterable[Row]) -> None:
        ordered = sorted(rows, key=lambda r: hop_rank(r.hop))  # stable: keeps registry order
        self.rows: dict[str, Row] = {r.id: r for r in ordered}
        self.report: Report | None = None

    @classmethod
    def from_checks(cls, checks: Sequence[Check]) -> Checklist:
        """Pending rows for the checks a live run will execute."""
        return cls(Row(id=c.id, title=c.title, hop=c.hop.label) for c in checks)

    @classmethod
    def from_report(cls, report: Report) -> Checklist:
        """Finished rows exactly as a saved (or just finished) report has them."""
        report = safe(report)
        checklist = cls(Row(id=c.id, title=c.title, hop=c.hop) for c in report.checks)
        checklist.finish(report)
        return checklist

    @property
    def finished(self) -> bool:
        """Whether the run is complete."""
        return self.report is not None

    def counts(self) -> tuple[int, int]:
        """(checks finished, checks in total)."""
        done = sum(1 for r in self.rows.values() if r.phase is Phase.DONE)
        return done, len(self.rows)

    def apply(self, event: Event, now: float) -> str | None:
        """Update from a runner event; return the id of the row that changed, if any."""
        if isinstance(event, CheckStarted):
            row = self.rows.get(event.check.id)
            if row is not None:
                row.phase, row.started_at = Phase.RUNNING, now
            return event.check.id
        if isinstance(event, CheckProgress):
            row = self.rows.get(event.check_id)
            if row is not None:
                row.progress_message = printable(event.message)
                row.progress_fraction = event.fraction
            return event.check_id
        if isinstance(event, FindingFound):
            row = self.rows.get(event.finding.check)
            if row is not None:
                row.add_finding(safe(event.finding))
            return event.finding.check
        if isinstance(event, CheckFinished):
            row = self.rows.get(event.check.id)
            if row is not None:
                row.phase, row.result = Phase.DONE, safe(event.result)
                for finding in safe(event.findings):
                    row.add_finding(finding)
            return event.check.id
        if isinstance(event, RunFinished):
            self.finish(event.report)
        return None

    def finish(self, report: Report) -> None:
        """Take the report as the final word: its results, and its findings in its order
        (root causes first), so a live run ends looking exactly like ``wsdoctor show``."""
        report = self.report = safe(report)
        for check in report.checks:
            row = self.rows.get(check.id)
            if row is None:
                row = self.rows[check.id] = Row(id=check.id, title=check.title, hop=check.hop)
            row.phase, row.result, row.findings = Phase.DONE, check, []
            row.progress_message, row.progress_fraction = "", None
        for finding in report.findings:
            row = self.rows.get(finding.check)
            if row is None:  # a finding about no listed check: shown, never dropped
                row = self.rows[finding.check] = _orphan_row(finding.check, report)
            row.findings.append(finding)

    def visible(self, failures_only: bool) -> list[Row]:
        """Rows to show, in path order; with ``failures_only`` just failed or broken checks."""
        return [r for r in self.rows.values() if r.failed or not failures_only]

    def failure_stops(self, failures_only: bool = False) -> list[Selection]:
        """Where "next failure" stops: every failing finding in the report's order (root
        causes first, as the first failure shown), then every check that could not run."""
        stops: list[Selection] = []
        for row in self.visible(failures_only):
            hits = [i for i, f in enumerate(row.findings) if f.status is Status.FAIL]
            stops.extend(Selection(row.id, i) for i in hits)
            if not hits and row.failed:
                stops.append(Selection(row.id))
        if self.report is None:
            return stops
        order = {(f.check, f.code, f.detail): i for i, f in enumerate(self.report.findings)}

        def rank(stop: Selection) -> int:
            if stop.finding is None:
                return len(order)
            f = self.rows[stop.check_id].findings[stop.finding]
            return order.get((f.check, f.code, f.detail), len(order))

        return sorted(stops, key=rank)

    def first_failure(self) -> Selection | None:
        """The failure to show first: the report's first finding (the runner puts the most
        severe root cause first), else the first check that could not run, else the first
        warning."""
        findings: list[Finding] = (
            list(self.report.findings)
            if self.report is not None
            else [f for r in self.rows.values() for f in r.findings]
        )
        for wanted in (Status.FAIL, None, Status.WARN):
            if wanted is None:
                broken = next((r for r in self.rows.values() if r.failed), None)
                if broken is not None:
                    return Selection(broken.id)
                continue
            for finding in findings:
                if finding.status is wanted:
                    row = self.rows.get(finding.check)
                    if row is not None and finding in row.findings:
                        return Selection(row.id, row.findings.index(finding))
        return None


def _orphan_row(check_id: str, report: Report) -> Row:
    """A row for findings whose check is not in the report's checks."""
    statuses = [f.status for f in report.findings if f.check == check_id]
    result = CheckReport(
        id=check_id,
        title=check_id,
        hop="cluster",
        status=CheckStatus.from_findings(statuses),
        summary="findings of a cross-check",
    )
    return Row(id=check_id, title=check_id, hop="cluster", phase=Phase.DONE, result=result)
