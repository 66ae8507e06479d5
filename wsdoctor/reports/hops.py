"""The hops of a bisected run side by side, as text lines: one row per hop (innermost
first) with the same columns, then where each hop was reached. Shared by the text report
(streamed and saved) and ``--short``-free views; the TUI shows the same rows as a table."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from wsdoctor.checks.hops_model import HopRow
from wsdoctor.models import CheckStatus

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
HEADER = ("hop", "upgrade", "101 in", "idle timeout", "closed by", "affinity")


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def cells(row: HopRow) -> tuple[str, ...]:
    """The row's cells under :data:`HEADER` (a skipped hop: its reason in one cell)."""
    if row.status in (CheckStatus.SKIPPED, CheckStatus.ERROR):
        return row.hop, f"{row.status.value}: {row.note or ''}".rstrip(": ")
    return (row.hop, row.upgrade or "-", _ms(row.time_to_101_ms),
            row.idle or "not measured", row.closed_by or "-", row.affinity or "not measured")


def table_lines(rows: Sequence[HopRow], mark: Callable[[CheckStatus], str],
                indent: str = "      ") -> list[str]:
    """The table, then one ``where`` line per hop. ``mark`` draws a hop's status."""
    all_cells = [cells(r) for r in rows]
    full = [c for c in all_cells if len(c) == len(HEADER)]
    widths = [max(len(c[i]) for c in [HEADER, *full]) for i in range(len(HEADER) - 1)]

    def line(values: Sequence[str]) -> str:
        padded = [v.ljust(widths[i]) if i < len(values) - 1 else v
                  for i, v in enumerate(values)]
        return "  ".join(padded).rstrip()
    marks = [mark(row.status) for row in rows]
    shown = [len(_ANSI.sub("", m)) for m in marks]
    pad = " " * (max(shown) + 1)
    lines = [f"{indent}{pad}{line(HEADER)}"]
    for values, drawn, width in zip(all_cells, marks, shown, strict=True):
        lines.append(f"{indent}{drawn}{' ' * (len(pad) - width)}{line(values)}")
    for row in rows:
        where = f" at {row.endpoint}" if row.endpoint else ""
        note = f" — {row.note}" if row.note and row.status not in (
            CheckStatus.SKIPPED, CheckStatus.ERROR) else ""
        lines.append(f"{indent}{pad}{row.hop}: {row.name}{where}{note}")
    return lines
