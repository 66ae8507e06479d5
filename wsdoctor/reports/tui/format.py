"""Rich text for the TUI: marks, durations, checklist rows and progress bars. Marks differ by
shape, not only by colour, so the view reads the same with ``NO_COLOR``."""

from __future__ import annotations

from rich.text import Text

from wsdoctor.models import CheckStatus, Status
from wsdoctor.reports.tui.state import Checklist, Phase, Row

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
PENDING_MARK = "·"

CHECK_MARKS: dict[CheckStatus, tuple[str, str]] = {
    CheckStatus.OK: ("√", "green"),
    CheckStatus.WARN: ("‼", "yellow"),
    CheckStatus.FAIL: ("×", "bold red"),
    CheckStatus.SKIPPED: ("-", "dim"),
    CheckStatus.ERROR: ("!", "bold red"),
}
FINDING_MARKS: dict[Status, tuple[str, str]] = {
    Status.OK: ("√", "green"),
    Status.INFO: ("i", "cyan"),
    Status.WARN: ("‼", "yellow"),
    Status.FAIL: ("×", "bold red"),
}
HOP_WIDTH = 9
ID_WIDTH = 10
DURATION_WIDTH = 7


def duration(seconds: float) -> str:
    """``12 ms``, ``3.4 s``, ``2m05s``: short, and stable in width for the column."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def check_mark(status: CheckStatus) -> Text:
    """The mark of a finished check."""
    mark, style = CHECK_MARKS[status]
    return Text(mark, style=style)


def finding_mark(status: Status) -> Text:
    """The mark of a finding."""
    mark, style = FINDING_MARKS[status]
    return Text(mark, style=style)


def bar(fraction: float, width: int) -> str:
    """A text progress bar with eighth-cell resolution: ``▕████▌   ▏``."""
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[part] if full < width else ""
    return "▕" + ("█" * full + partial).ljust(width) + "▏"


def row_label(row: Row, *, show_hop: bool, now: float, frame: int, width: int) -> Text:
    """One checklist line: hop (first row of a hop only), mark, id, duration, verdict."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{row.hop if show_hop else '':<{HOP_WIDTH}}", style="bold")
    if row.phase is Phase.DONE and row.result is not None:
        text.append_text(check_mark(row.result.status))
        took = duration(row.result.duration_s)
    elif row.phase is Phase.RUNNING:
        text.append(SPINNER[frame % len(SPINNER)], style="bold cyan")
        took = duration(max(0.0, now - (now if row.started_at is None else row.started_at)))
    else:
        text.append(PENDING_MARK, style="dim")
        took = ""
    text.append(f" {row.id:<{ID_WIDTH}}")
    text.append(f"{took:>{DURATION_WIDTH}} ", style="dim")
    text.append_text(verdict(row, max(10, width - len(text.plain))))
    text.truncate(max(width, 20), overflow="ellipsis")
    return text


def verdict(row: Row, width: int) -> Text:
    """What the row says after its duration: the verdict, the live progress, or the title."""
    result = row.result
    if row.phase is Phase.DONE and result is not None:
        if result.status in (CheckStatus.SKIPPED, CheckStatus.ERROR):
            return Text(f"{result.status.value}: {result.reason or ''}", style="dim")
        return Text(result.summary or result.title)
    if row.phase is Phase.RUNNING:
        if row.progress_fraction is not None:
            message, fraction = row.progress_message, min(max(row.progress_fraction, 0.0), 1.0)
            room = width - len(message) - 1
            if room >= 6:  # the message names the defaults passed: it wins over the bar
                return Text(bar(fraction, min(12, room - 2)) + " ", style="cyan") + message
            if room >= 4:
                return Text(message) + Text(f" {fraction:.0%}", style="cyan")
            return Text(message)
        return Text(row.progress_message or f"{row.title}…", style="italic")
    return Text(row.title, style="dim")


def finding_label(row: Row, index: int) -> Text:
    """A finding under its check: mark, code and title."""
    finding = row.findings[index]
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append_text(finding_mark(finding.status))
    text.append(f" {finding.code} ", style="bold")
    text.append(finding.title)
    return text


def progress_line(checklist: Checklist) -> Text | None:
    """The strip under the checklist while a long probe reports progress (the idle wait):
    its id, a bar, the percentage and its message (elapsed time, the next known default)."""
    rows = [
        r
        for r in checklist.rows.values()
        if r.phase is Phase.RUNNING and r.progress_fraction is not None
    ]
    if not rows:
        return None
    text = Text(no_wrap=True, overflow="ellipsis")
    for row in rows:
        fraction = min(max(row.progress_fraction or 0.0, 0.0), 1.0)
        text.append(f"{row.id} ", style="bold")
        text.append(bar(fraction, 12), style="cyan")
        text.append(f" {fraction:.0%} ", style="cyan")
        text.append(row.progress_message + "   ")
    return text
