"""The checklist model and row formatting, on plain data (no Textual app)."""

from __future__ import annotations

from tests.tui.scenarios import TARGET, checks_of, failing_report
from wsdoctor.checks.base import Check, Hop, Observation, ProbeContext
from wsdoctor.checks.dns import DnsObservation
from wsdoctor.models import CheckStatus, Finding, Status
from wsdoctor.report import CheckReport
from wsdoctor.reports.tui.format import bar, duration, row_label
from wsdoctor.reports.tui.state import Checklist, Phase, Row, Selection
from wsdoctor.runner import CheckFinished, CheckProgress, CheckStarted, FindingFound


async def _probe(ctx: ProbeContext) -> Observation:
    raise AssertionError


def test_rows_are_in_path_order_whatever_the_registry_order() -> None:
    """Given checks registered out of path order, the checklist lists them name → cluster."""
    checks = [
        Check(id="idle", title="Idle", hop=Hop.IDLE, probe=_probe),
        Check(id="dns", title="DNS", hop=Hop.NAME, probe=_probe),
        Check(id="tls", title="TLS", hop=Hop.TLS, probe=_probe),
    ]
    assert list(Checklist.from_checks(checks).rows) == ["dns", "tls", "idle"]


def test_first_failure_follows_the_reports_root_cause_order() -> None:
    """The first failure is the report's first FAIL finding, not simply the first row."""
    report = failing_report()
    assert report.findings[0].code == "WSD-IDLE-TIMEOUT-SHORT"
    assert Checklist.from_report(report).first_failure() == Selection("idle", 0)


def test_failure_stops_include_checks_that_could_not_run() -> None:
    """n stops at failing findings and at error checks, in path order; never at warnings."""
    stops = Checklist.from_report(failing_report()).failure_stops()
    assert stops == [Selection("idle", 0), Selection("affinity", 0), Selection("cluster")]


def test_failure_stops_start_with_the_first_failure_shown() -> None:
    """n/N step through failures in the report's order, so the first failure shown (the root
    cause) is stop 1, whatever row it sits in."""
    report = failing_report()
    reordered = report.model_copy(update={"findings": list(reversed(report.findings))})
    checklist = Checklist.from_report(reordered)
    first = checklist.first_failure()
    stops = checklist.failure_stops()
    assert first is not None and stops[0] == first


def test_failures_only_keeps_failed_and_broken_checks() -> None:
    """The failures-only view hides ok, warned and skipped checks."""
    visible = Checklist.from_report(failing_report()).visible(failures_only=True)
    assert [r.id for r in visible] == ["idle", "affinity", "cluster"]


def test_events_move_a_row_from_pending_to_running_to_done() -> None:
    """Started, progress, finding and finished events update the row they name."""
    report = failing_report()
    checks = {c.id: c for c in checks_of(report)}
    checklist = Checklist.from_checks(list(checks.values()))
    row = checklist.rows["idle"]
    assert row.phase is Phase.PENDING
    checklist.apply(CheckStarted(check=checks["idle"]), now=10.0)
    assert (row.phase, row.started_at) == (Phase.RUNNING, 10.0)
    checklist.apply(CheckProgress(check_id="idle", message="30 s — GCP", fraction=0.25), 11.0)
    assert (row.progress_message, row.progress_fraction) == ("30 s — GCP", 0.25)
    finding = report.findings[0]
    checklist.apply(FindingFound(finding=finding), 12.0)
    result = report.check("idle")
    assert result is not None
    checklist.apply(CheckFinished(check=checks["idle"], result=result, findings=(finding,)), 13.0)
    assert row.phase is Phase.DONE and row.findings == [finding]  # counted once
    assert not checklist.finished


def test_running_row_shows_spinner_elapsed_bar_and_message() -> None:
    """A running idle row: spinner, elapsed time, a bar and the defaults it is passing."""
    row = Row(id="idle", title="Idle timeout", hop="idle", phase=Phase.RUNNING, started_at=0.0)
    row.progress_message, row.progress_fraction = "60 s — ingress-nginx default", 0.5
    text = row_label(row, show_hop=True, now=62.0, frame=0, width=78).plain
    assert text.startswith("idle     ⠋ idle")
    assert "1m02s" in text and "▕" in text and text.endswith("60 s — ingress-nginx default")


def test_finished_row_reads_without_colour() -> None:
    """Marks differ by shape, so a failed row is recognisable in plain text."""
    result = CheckReport(
        id="dns", title="DNS", hop="name", status=CheckStatus.FAIL, summary="NXDOMAIN"
    )
    row = Row(id="dns", title="DNS", hop="name", phase=Phase.DONE, result=result)
    assert row_label(row, show_hop=False, now=0, frame=0, width=60).plain.split()[:2] == [
        "×",
        "dns",
    ]


def test_duration_and_bar_formats() -> None:
    """Durations stay short; the bar has eighth-cell resolution and fixed width."""
    assert [duration(s) for s in (0.0004, 0.35, 2.41, 60.2, 125)] == [
        "0 ms",
        "350 ms",
        "2.4 s",
        "1m00s",
        "2m05s",
    ]
    assert bar(0.5, 4) == "▕██  ▏"
    assert bar(1.5, 4) == "▕████▏"
    assert len(bar(0.33, 10)) == 12


def test_live_findings_are_not_duplicated_by_the_final_report() -> None:
    """When the run finishes, each row holds the report's findings exactly once."""
    finding = Finding(
        code="WSD-X", check="dns", status=Status.FAIL, title="t", detail="d", docs="docs/x.md"
    )
    check = Check(id="dns", title="DNS", hop=Hop.NAME, probe=_probe)
    checklist = Checklist.from_checks([check])
    checklist.apply(FindingFound(finding=finding), 0)
    from wsdoctor.report import Report

    report = Report(
        target=TARGET,
        started_at=failing_report().started_at,
        duration_s=1,
        status="fail",
        checks=[
            CheckReport(
                id="dns",
                title="DNS",
                hop="name",
                status=CheckStatus.FAIL,
                observation=DnsObservation(name="x", source="literal"),
            )
        ],
        findings=[finding],
    )
    checklist.finish(report)
    assert checklist.rows["dns"].findings == [finding] and checklist.finished


def test_a_finding_of_an_unlisted_check_gets_a_row() -> None:
    """A finding whose check is not among the report's checks is shown, not dropped."""
    report = failing_report()
    stray = Finding(
        code="WSD-X", check="crosscheck", status=Status.FAIL, title="t", detail="d", docs="x"
    )
    checklist = Checklist.from_report(report.model_copy(update={"findings": [stray]}))
    row = checklist.rows["crosscheck"]
    assert row.findings == [stray] and row.status is CheckStatus.FAIL
    assert list(checklist.rows)[-1] == "crosscheck"
