"""The watch's timeline as Rich text: one row per held connection (slot), time from left to
right, drops as marks coloured by the severity of the finding that explains them, failed
reconnects, and a row of cluster events. Pure: the same observation draws the same picture,
live or from a saved report."""

from __future__ import annotations

from rich.text import Text

from wsdoctor.models import Finding, Status
from wsdoctor.untrusted import printable
from wsdoctor.watch.model import WatchObservation

#: Rows drawn at most (a watch of 1,000 connections shows its first slots and a count).
MAX_ROWS = 24
#: Width of the row labels: at least this, more for long replica names (up to a third of
#: the width, at most LABEL_MAX); a longer name keeps its end, where pod names differ.
LABEL = 18
LABEL_MAX = 40
_STYLE = {Status.FAIL: "bold red", Status.WARN: "bold yellow", Status.INFO: "cyan",
          Status.OK: "green"}


def drop_marks(findings: list[Finding]) -> dict[int, Status]:
    """Connection id → the severity of the finding that explains its drop."""
    marks: dict[int, Status] = {}
    for finding in findings:
        ids = finding.evidence.get("connections")
        if finding.check == "watch" and isinstance(ids, list):
            for value in ids:
                if isinstance(value, int) and finding.status.rank > marks.get(
                        value, Status.OK).rank:
                    marks[value] = finding.status
    return marks


def _clock(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.1f}m" if seconds >= 120 else f"{seconds:.0f}s"


def fit_label(text: str, width: int, ascii_only: bool = False) -> str:
    """``text`` in ``width`` characters: a longer one loses its middle, since replica names
    share their start (``chat-7d9f8c6b5-``) and differ at the end (``-x2k4q``)."""
    if len(text) <= width:
        return text
    keep = width - 1
    head = keep // 2
    return text[:head] + ("~" if ascii_only else "…") + text[len(text) - (keep - head):]


def slot_labels(obs: WatchObservation) -> dict[int, str]:
    """``#N NAME`` per slot: the replica its latest connection reached (or that connection's
    address when no replica is known), with the address too when the watch spreads over
    several."""
    several = len(obs.addresses) > 1
    out: dict[int, str] = {}
    latest: dict[int, tuple[float, str | None, str]] = {}
    for record in obs.connections:
        if record.slot not in latest or record.opened_at >= latest[record.slot][0]:
            latest[record.slot] = (record.opened_at, record.replica, record.address)
    for attempt in obs.failed_attempts:
        latest.setdefault(attempt.slot, (attempt.at, None, attempt.address))
    for slot, (_, replica, address) in latest.items():
        name = printable(replica, limit=64) if replica else printable(address, limit=64)
        if replica and several:
            name += f" {printable(address, limit=64)}"
        out[slot] = f"#{slot + 1} {name}"
    return out


def render_timeline(obs: WatchObservation, marks: dict[int, Status], width: int,
                    now: float | None = None, ascii_only: bool = False) -> Text:
    """The picture of ``obs`` up to ``now`` (default: its duration) in ``width`` columns."""
    end = max(now if now is not None else obs.duration_s, 1.0)
    slots = sorted({c.slot for c in obs.connections} | {a.slot for a in obs.failed_attempts})
    labels = slot_labels(obs)
    longest = max((len(labels[slot]) for slot in slots[:MAX_ROWS]), default=0)
    label_width = max(LABEL, min(longest, LABEL_MAX, width // 3))
    columns = max(width - label_width - 1, 10)
    step = end / columns
    line, gap, drop, fail, event = ("-", " ", "x", "!", "|") if ascii_only else \
        ("─", " ", "×", "!", "│")

    def column(t: float) -> int:
        return min(columns - 1, max(0, int(t / step)))

    out = Text()
    head = f"{'time':<{label_width}} 0"
    tail = _clock(end)
    out.append(head + " " * max(1, columns - len(tail) - 1) + tail + "\n", style="dim")
    cells = [gap] * columns
    styles: list[str | None] = [None] * columns
    for ev in obs.events:
        cells[column(ev.at)], styles[column(ev.at)] = event, "magenta"
    _row(out, "cluster events", cells, styles, label_width)
    by_slot: dict[int, list[int]] = {}
    for index, record in enumerate(obs.connections):
        by_slot.setdefault(record.slot, []).append(index)
    for slot in slots[:MAX_ROWS]:
        cells = [gap] * columns
        styles = [None] * columns
        records = [obs.connections[index] for index in by_slot.get(slot, [])]
        for record in records:
            stop = record.ended_at if record.ended_at is not None else end
            for i in range(column(record.opened_at), column(stop) + 1):
                cells[i], styles[i] = line, "green"
        for record in records:  # on top of the lines: a reconnect in the same column hides none
            if record.ended_at is not None:
                status = marks.get(record.id)
                cells[column(record.ended_at)] = drop
                styles[column(record.ended_at)] = _STYLE.get(status, "bold") if status \
                    else "bold"
        for attempt in obs.failed_attempts:
            if attempt.slot == slot:
                cells[column(attempt.at)], styles[column(attempt.at)] = fail, "red"
        _row(out, fit_label(labels[slot], label_width, ascii_only), cells, styles, label_width)
    if len(slots) > MAX_ROWS:
        out.append(f"… and {len(slots) - MAX_ROWS} more connections\n", style="dim")
    return out


def _row(out: Text, label: str, cells: list[str], styles: list[str | None],
         width: int) -> None:
    out.append(f"{label[:width]:<{width}} ", style="dim")
    for cell, style in zip(cells, styles, strict=True):
        out.append(cell, style=style or "")
    out.append("\n")
