"""Markdown rendering of a report, for incident documents and pull-request comments."""

from __future__ import annotations

import re
from urllib.parse import quote

from wsdoctor.models import CheckStatus, Finding, Status
from wsdoctor.report import Report
from wsdoctor.reports.text import VERDICTS, human_duration
from wsdoctor.untrusted import safe

_CHECK_ICON = {
    CheckStatus.OK: "✅",
    CheckStatus.WARN: "⚠️",
    CheckStatus.FAIL: "❌",
    CheckStatus.SKIPPED: "⏭️",
    CheckStatus.ERROR: "💥",
}
_FINDING_ICON = {Status.OK: "✅", Status.INFO: "ℹ️", Status.WARN: "⚠️", Status.FAIL: "❌"}


def _text(text: str) -> str:
    """Prose: HTML a server sent stays text (``<redacted>`` is shown, not swallowed as a tag),
    and so do its Markdown links and images (an ``![x](https://tracker/)`` in a quoted body
    would load when the incident document is viewed)."""
    return (text.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace("[", "\\[").replace("]", "\\]"))


def _cell(text: str) -> str:
    return _text(text).replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """An inline code span that no backtick inside can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text.replace(chr(10), ' ')}{pad}{fence}"


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in ``text``."""
    return "`" * max(3, max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)


def _url(text: str) -> str:
    return quote(text, safe=":/#?&=.-_~%+@")


def _finding(finding: Finding) -> list[str]:
    lines = [f"### {_FINDING_ICON[finding.status]} {_code(finding.code)} "
             f"{_cell(finding.title)}", ""]
    if finding.resource is not None:
        lines += [f"**Resource:** {_code(str(finding.resource))}", ""]
    lines += [_text(finding.detail), ""]
    if finding.evidence:
        lines += ["| evidence | value |", "|---|---|"]
        lines += [f"| {_cell(k)} | {_cell(str(v))} |" for k, v in finding.evidence.items()]
        lines.append("")
    if finding.fix is not None:
        lines += [f"**Fix:** {_text(finding.fix.summary)}", ""]
        if finding.fix.snippet:
            fence = _fence(finding.fix.snippet)
            lines += [f"{fence}{finding.fix.language or ''}", finding.fix.snippet.rstrip(),
                      fence, ""]
    lines += [f"See [{_cell(finding.code)}]({_url(finding.docs)}) or run "
              f"`wsdoctor explain {_cell(finding.code)}`.", ""]
    return lines


def _hops(report: Report) -> list[str]:
    """A bisected run's hops side by side (nothing for other runs)."""
    check = report.check("hops")
    rows = getattr(check.observation, "table", None) if check is not None else None
    if not rows:
        return []
    from wsdoctor.reports.hops import HEADER, cells

    lines = ["## Hops", "", "| | " + " | ".join(HEADER) + " | where |",
             "|---" * (len(HEADER) + 2) + "|"]
    for row in rows:
        values = list(cells(row))
        values += [""] * (len(HEADER) - len(values))
        where = row.name + (f" at {row.endpoint}" if row.endpoint else "")
        lines.append(f"| {_CHECK_ICON[row.status]} | "
                     + " | ".join(_cell(v) for v in values) + f" | {_cell(where)} |")
    return [*lines, ""]
def _load_ramp(report: Report) -> list[str]:
    """A load run's summary and ramp plot, as a preformatted block."""
    from wsdoctor.checks.load import LoadObservation

    check = report.check("load")
    obs = check.observation if check is not None else None
    if not isinstance(obs, LoadObservation):
        return []
    from wsdoctor.load.plot import plain_lines
    from wsdoctor.load.view import plot, summary_lines

    body = "\n".join([*summary_lines(obs), "", *plain_lines(plot(obs))])
    fence = _fence(body)
    return ["## Load run", "", fence, body, fence, ""]


def render_markdown(report: Report) -> str:
    """The report as a Markdown document: verdict, checklist, then findings, worst first."""
    report = safe(report)
    verdict = VERDICTS[CheckStatus(report.status)]
    lines = [
        f"# wsdoctor: {_code(report.target.url)} — {verdict}",
        "",
        f"wsdoctor {_text(report.tool.version)}, {report.started_at:%Y-%m-%d %H:%M:%S} UTC, "
        f"{human_duration(report.duration_s)}.",
        "",
        "| | check | hop | result | time |",
        "|---|---|---|---|---|",
    ]
    for check in report.checks:
        result = check.summary if check.status not in (
            CheckStatus.SKIPPED, CheckStatus.ERROR) else f"{check.status.value}: {check.reason}"
        lines.append(
            f"| {_CHECK_ICON[check.status]} | {_code(check.id).replace('|', chr(92) + '|')} | "
            f"{_cell(check.hop)} | "
            f"{_cell(result)} | "
            f"{human_duration(check.duration_s)} |"
        )
    lines.append("")
    lines += _hops(report)
    lines += _load_ramp(report)
    shown = [f for f in report.findings if f.status is not Status.OK]
    if shown:
        lines += ["## Findings", ""]
        for finding in shown:
            lines += _finding(finding)
    return "\n".join(lines).rstrip() + "\n"
