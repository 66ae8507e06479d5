"""Markdown rendering of a report, for incident documents and pull-request comments."""

from __future__ import annotations

from wsdoctor.models import CheckStatus, Finding, Status
from wsdoctor.report import Report
from wsdoctor.reports.text import human_duration

_CHECK_ICON = {
    CheckStatus.OK: "✅",
    CheckStatus.WARN: "⚠️",
    CheckStatus.FAIL: "❌",
    CheckStatus.SKIPPED: "⏭️",
    CheckStatus.ERROR: "💥",
}
_FINDING_ICON = {Status.OK: "✅", Status.INFO: "ℹ️", Status.WARN: "⚠️", Status.FAIL: "❌"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _finding(finding: Finding) -> list[str]:
    lines = [f"### {_FINDING_ICON[finding.status]} `{finding.code}` {finding.title}", ""]
    if finding.resource is not None:
        lines += [f"**Resource:** `{finding.resource}`", ""]
    lines += [finding.detail, ""]
    if finding.evidence:
        lines += ["| evidence | value |", "|---|---|"]
        lines += [f"| {_cell(k)} | {_cell(str(v))} |" for k, v in finding.evidence.items()]
        lines.append("")
    if finding.fix is not None:
        lines += [f"**Fix:** {finding.fix.summary}", ""]
        if finding.fix.snippet:
            lines += [f"```{finding.fix.language or ''}", finding.fix.snippet.rstrip(), "```", ""]
    lines += [f"See [{finding.code}]({finding.docs}) or run `wsdoctor explain {finding.code}`.",
              ""]
    return lines


def render_markdown(report: Report) -> str:
    """The report as a Markdown document: verdict, checklist, then findings, worst first."""
    verdict = {"ok": "all checks passed", "warn": "passed with warnings",
               "fail": "problems found"}[report.status]
    lines = [
        f"# wsdoctor: `{report.target.url}` — {verdict}",
        "",
        f"wsdoctor {report.tool.version}, {report.started_at:%Y-%m-%d %H:%M:%S} UTC, "
        f"{human_duration(report.duration_s)}.",
        "",
        "| | check | hop | result | time |",
        "|---|---|---|---|---|",
    ]
    for check in report.checks:
        result = check.summary if check.status not in (
            CheckStatus.SKIPPED, CheckStatus.ERROR) else f"{check.status.value}: {check.reason}"
        lines.append(
            f"| {_CHECK_ICON[check.status]} | `{check.id}` | {check.hop} | {_cell(result)} | "
            f"{human_duration(check.duration_s)} |"
        )
    lines.append("")
    shown = [f for f in report.findings if f.status is not Status.OK]
    if shown:
        lines += ["## Findings", ""]
        for finding in shown:
            lines += _finding(finding)
    return "\n".join(lines).rstrip() + "\n"
