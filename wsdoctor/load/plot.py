"""The ramp of a load run drawn in a terminal: open connections over time as bars (eighth
blocks, or ``#`` in ASCII), refusals as a strip beneath, the cap marked. A pure function of
the report's ramp points, shared by the text report and the TUI (each paints the roles its
own way)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from wsdoctor.load.model import RampPoint

Role = Literal["axis", "bar", "refusal", "label"]
Line = list[tuple[str, Role]]

BLOCKS = " ▁▂▃▄▅▆▇█"
STRIP = "·▁▂▃▄▅▆▇█"
ASCII_STRIP = ".:-=+*#%@"
WIDTH = 60
HEIGHT = 6


def _columns(points: Sequence[RampPoint], width: int) -> list[RampPoint]:
    """One point per column: the last one at or before each column's time."""
    end = points[-1].t or 1.0
    found, index = [], 0
    for column in range(width):
        t = end * (column + 1) / width
        while index + 1 < len(points) and points[index + 1].t <= t + 1e-9:
            index += 1
        found.append(points[index])
    return found


def _label(value: int, wide: int) -> str:
    return f"{value:>{wide}} "


def ramp_plot(points: Sequence[RampPoint], *, cap: int | None = None, width: int = WIDTH,
              height: int = HEIGHT, ascii_only: bool = False) -> list[Line]:
    """The plot as lines of (text, role) segments; empty without points."""
    if not points:
        return []
    columns = _columns(points, width)
    top = max(max(p.open for p in points), cap or 0, 1)
    wide = max(len(str(top)), len("refused"))
    lines: list[Line] = [[(f"{' ' * wide}  open connections over {points[-1].t:.1f} s"
                           + (f" (cap {cap})" if cap is not None else ""), "label")]]
    cap_row = None if cap is None else min(height - 1, int(cap * height / top - 1e-9))
    for row in range(height - 1, -1, -1):
        value = round(top * (row + 1) / height)
        label = _label(value, wide) if row in (height - 1, (height - 1) // 2) else " " * (wide + 1)
        cells = []
        for point in columns:
            eighths = round(point.open * height * 8 / top) - row * 8
            if ascii_only:
                cells.append("#" if eighths >= 4 else " ")
            else:
                cells.append(BLOCKS[max(0, min(8, eighths))])
        line: Line = [(label + ("|" if ascii_only else "┤"), "axis"), ("".join(cells), "bar")]
        if row == cap_row:
            line.append((" <- cap" if ascii_only else " ← cap", "label"))
        lines.append(line)
    lines.append([(" " * wide + (" +" if ascii_only else " └") + ("-" if ascii_only else "─")
                   * width, "axis")])
    lines.append(_refusal_strip(columns, wide, ascii_only))
    lines.append([(f"{' ' * (wide + 2)}0 s{' ' * max(1, width - 3 - len(f'{points[-1].t:.1f} s'))}"
                   f"{points[-1].t:.1f} s", "axis")])
    return lines


def _refusal_strip(columns: list[RampPoint], wide: int, ascii_only: bool) -> Line:
    """Refusals per column, scaled to the busiest column; the total at the end."""
    deltas = [max(0, b.refused - a.refused) for a, b in zip([columns[0], *columns], columns,
                                                            strict=False)]
    deltas[0] = columns[0].refused
    busiest = max(deltas) or 1
    chars = ASCII_STRIP if ascii_only else STRIP
    strip = "".join(chars[0] if d == 0 else chars[max(1, round(d * (len(chars) - 1) / busiest))]
                    for d in deltas)
    total = columns[-1].refused
    return [(f"{'refused':>{wide}}  ", "axis"), (strip, "refusal"), (f" {total}", "label")]


def plain_lines(lines: Sequence[Line]) -> list[str]:
    """The plot without roles (for tests and plain outputs)."""
    return ["".join(text for text, _ in line) for line in lines]
