"""The text report, in the manner of ``linkerd check``: one line per check, grouped by hop,
each finding beneath its check with the fix and the docs link. It streams as checks finish,
in path order, and renders a saved report identically."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from wsdoctor.console import silence
from wsdoctor.models import CheckStatus, Finding, Status
from wsdoctor.untrusted import printable, safe

if TYPE_CHECKING:  # at run time only what `wsdoctor lint` needs too: models
    from wsdoctor.report import CheckReport, Report
    from wsdoctor.runner import Event

_COLOURS = {"green": "32", "yellow": "33", "red": "31", "dim": "2", "bold": "1", "cyan": "36"}
_CHECK_MARK = {
    CheckStatus.OK: ("√", "[ok]", "green"),
    CheckStatus.WARN: ("‼", "[warn]", "yellow"),
    CheckStatus.FAIL: ("×", "[FAIL]", "red"),
    CheckStatus.SKIPPED: ("-", "[skip]", "dim"),
    CheckStatus.ERROR: ("!", "[ERROR]", "red"),
}
#: The overall verdict of a report, by its status.
VERDICTS = {
    CheckStatus.OK: "all checks passed",
    CheckStatus.WARN: "passed with warnings",
    CheckStatus.FAIL: "problems found",
    CheckStatus.ERROR: "diagnosis incomplete",
}
_FINDING_COLOUR = {
    Status.OK: "green",
    Status.INFO: "cyan",
    Status.WARN: "yellow",
    Status.FAIL: "red",
}


_ASCII = str.maketrans(
    {
        "—": "-",
        "–": "-",
        "→": "->",
        "…": "...",
        "≤": "<=",
        "≥": ">=",
        "×": "x",
        "√": "v",
        "‼": "!!",
        "µ": "u",
    }
)


class TextStyle:
    """Colour and mark choices: ANSI colour only on a terminal without NO_COLOR; ASCII marks
    when the output cannot encode the Unicode ones."""

    def __init__(self, colour: bool, ascii_only: bool) -> None:
        self.colour = colour
        self.ascii_only = ascii_only

    def plain(self, text: str) -> str:
        """The text as it may be written: transliterated to ASCII when ASCII is required."""
        if not self.ascii_only:
            return text
        return text.translate(_ASCII).encode("ascii", "replace").decode("ascii")

    def paint(self, text: str, colour: str) -> str:
        if not self.colour:
            return text
        return f"\x1b[{_COLOURS[colour]}m{text}\x1b[0m"

    def check_mark(self, status: CheckStatus) -> str:
        uni, asc, colour = _CHECK_MARK[status]
        return self.paint(asc if self.ascii_only else uni, colour)

    def finding_mark(self, status: Status) -> str:
        return self.paint(
            status.ascii_mark if self.ascii_only else status.mark, _FINDING_COLOUR[status]
        )


def human_duration(seconds: float) -> str:
    """``0.4 ms``, ``12 ms``, ``3.02 s``, ``61.5 s``."""
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def check_line(check: CheckReport, style: TextStyle) -> str:
    """``√ tls  TLS handshake  TLSv1.3, cert valid 89 days   12 ms``."""
    verdict = (
        check.summary
        if check.status not in (CheckStatus.SKIPPED, CheckStatus.ERROR)
        else f"{check.status.value}: {check.reason or ''}"
    )
    duration = human_duration(check.duration_s)
    return (
        f"{style.check_mark(check.status)} {check.id:<10} {check.title}"
        + (f" — {verdict}" if verdict else "")
        + style.paint(f"  [{duration}]", "dim")
    )


def finding_lines(finding: Finding, style: TextStyle) -> list[str]:
    """A finding under its check: title, what was seen, the fix and where to read more."""
    pad = "    "
    lines = [
        f"{pad}{style.finding_mark(finding.status)} "
        f"{style.paint(finding.code, 'bold')} {finding.title}"
    ]
    if finding.resource is not None:
        lines.append(f"{pad}  resource: {finding.resource}")
    lines.extend(f"{pad}  {line}" for line in finding.detail.splitlines())
    if finding.fix is not None:
        lines.append(f"{pad}  fix: {finding.fix.summary}")
        if finding.fix.snippet:
            lines.extend(f"{pad}      {line}" for line in finding.fix.snippet.rstrip().splitlines())
    lines.append(f"{pad}  see: wsdoctor explain {finding.code} ({finding.docs})")
    return lines


_ROLE_COLOURS = {"bar": "green", "refusal": "red", "label": "dim", "axis": "dim"}


def observation_lines(check: CheckReport, style: TextStyle) -> list[str]:
    """Lines drawn from a check's observation under its line: a load run's summary and its
    ramp plot (other checks say it all in their summary)."""
    from wsdoctor.checks.load import LoadObservation

    obs = check.observation
    if not isinstance(obs, LoadObservation):
        return []
    from wsdoctor.load.view import plot, summary_lines

    lines = list(summary_lines(obs))
    for line in plot(obs, ascii_only=style.ascii_only):
        lines.append("".join(style.paint(text, _ROLE_COLOURS[role]) if text.strip() else text
                             for text, role in line))
    return lines


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def summary_line(report: Report, style: TextStyle) -> str:
    """Closing line: the overall verdict with counts."""
    counts = {s: sum(1 for f in report.findings if f.status is s) for s in Status}
    errors = sum(1 for c in report.checks if c.status is CheckStatus.ERROR)
    parts = [f"{counts[Status.FAIL]} failed", _plural(counts[Status.WARN], "warning")]
    if errors:
        parts.append(f"{_plural(errors, 'check')} could not run")
    status = CheckStatus(report.status)
    return (
        f"{style.check_mark(status)} {style.paint(printable(report.target.url), 'bold')}: "
        f"{VERDICTS[status]} "
        f"({', '.join(parts)}) in {human_duration(report.duration_s)}"
    )


class TextRenderer:
    """Streams check lines in path order as they finish; then the summary."""

    def __init__(self, out: TextIO, style: TextStyle, order: Sequence[str], url: str) -> None:
        self.out = out
        self.style = style
        self.order = list(order)
        self.finished: dict[str, tuple[CheckReport, tuple[Finding, ...]]] = {}
        self.printed = 0
        self.last_hop: str | None = None
        self.reader_gone = False
        self._write(f"wsdoctor — {printable(url)}\n")
        self._flush()

    def _write(self, text: str) -> None:
        if self.reader_gone:
            return
        try:
            self.out.write(self.style.plain(text))
        except BrokenPipeError:  # `wsdoctor ... | head`: stop writing, let the run finish
            self.reader_gone = True
            silence(self.out)

    def _flush(self) -> None:
        if not self.reader_gone:
            try:
                self.out.flush()
            except BrokenPipeError:
                self.reader_gone = True
                silence(self.out)

    def __call__(self, event: Event) -> None:
        from wsdoctor.runner import CheckFinished, RunFinished  # loaded already: it calls us

        if isinstance(event, CheckFinished):
            self.finished[event.check.id] = (safe(event.result), safe(event.findings))
            self._flush_ready()
        elif isinstance(event, RunFinished):
            self.finish(event.report)

    def _flush_ready(self) -> None:
        while self.printed < len(self.order) and self.order[self.printed] in self.finished:
            check, findings = self.finished[self.order[self.printed]]
            self._write_check(check, findings)
            self.printed += 1
        self._flush()

    def _write_check(self, check: CheckReport, findings: Sequence[Finding]) -> None:
        if check.hop != self.last_hop:
            self._write(f"\n{self.style.paint(check.hop, 'bold')}\n{'-' * len(check.hop)}\n")
            self.last_hop = check.hop
        self._write(check_line(check, self.style) + "\n")
        table = getattr(check.observation, "table", None)
        if table:
            from wsdoctor.reports.hops import table_lines

            # Cells were escaped with the rest of the check (``safe``); marks are ours.
            self._write("\n".join(table_lines(table, self.style.check_mark)) + "\n")
        for line in observation_lines(check, self.style):
            self._write(f"      {line}\n")
        for finding in sorted(findings, key=lambda f: -f.status.rank):
            if finding.status is not Status.OK:
                self._write("\n".join(finding_lines(finding, self.style)) + "\n")

    def finish(self, report: Report) -> None:
        """Print the checks the stream has not announced (all of them when rendering a saved
        report), from the report, then the summary."""
        report = safe(report)
        by_check: dict[str, list[Finding]] = {}
        for finding in report.findings:
            by_check.setdefault(finding.check, []).append(finding)
        for check in report.checks:
            if check.id not in self.finished:
                self.finished[check.id] = (check, tuple(by_check.get(check.id, ())))
        self._flush_ready()
        self._write("\n" + summary_line(report, self.style) + "\n")
        self._flush()


def render_report(report: Report, out: TextIO, style: TextStyle) -> None:
    """Render a finished (or saved) report exactly as the stream would have."""
    TextRenderer(out, style, [c.id for c in report.checks], report.target.url).finish(report)


def render_short(report: Report, out: TextIO, style: TextStyle) -> None:
    """Failures and warnings, one line each, for pasting into chat (a warning such as an
    unreadable cluster says part of the diagnosis is missing: it must not vanish here)."""
    report = safe(report)
    failures = [f for f in report.findings if f.status in (Status.FAIL, Status.WARN)]
    out.write(style.plain(summary_line(report, style) + "\n"))
    for finding in failures:
        where = f" [{finding.resource}]" if finding.resource else ""
        fix = f" — fix: {finding.fix.summary}" if finding.fix else ""
        out.write(
            style.plain(
                f"{style.finding_mark(finding.status)} {finding.code} {finding.title}{where}{fix}\n"
            )
        )
    out.flush()


def can_encode(stream: TextIO) -> bool:
    """Whether ``stream`` can show the Unicode marks (else the ASCII fallback is used)."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "√‼×—→".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True
