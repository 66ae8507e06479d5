"""Rich renderables for the details pane: an observation as a small table, a finding with
its evidence, fix snippet and docs link. Plain functions of data, no widget state.

Every string goes in as a ``Text``, never as a ``str``: Rich would read ``[bold]`` or
``[link=...]`` in a str as markup, and the text comes from servers and saved files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.style import Style
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from wsdoctor.models import Finding, Fix, Model
from wsdoctor.reports.tui.format import finding_mark

MAX_LIST_ROWS = 12
MAX_CELL = 60
#: Fix languages mapped to Pygments lexers (haproxy has none: shown as plain text).
LEXERS = {"yaml": "yaml", "nginx": "nginx", "shell": "bash", "json": "json"}


def _cell(value: Any) -> Text:
    """A value as one short table cell (literal text, never markup)."""
    return Text(_cell_text(value))


def _cell_text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        text = ", ".join(_cell_text(v) for v in value) or "–"
    elif isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = str(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _records_table(records: list[dict[str, Any]]) -> Table:
    """A list of records (e.g. one row per TCP attempt) as a table with a column per field."""
    columns = [k for k in records[0] if any(r.get(k) not in (None, [], {}) for r in records)]
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold dim")
    for column in columns:
        table.add_column(Text(column.replace("_", " ")), overflow="fold")
    for record in records[:MAX_LIST_ROWS]:
        table.add_row(*(_cell(record.get(c)) for c in columns))
    if len(records) > MAX_LIST_ROWS:
        table.add_row(Text(f"… {len(records) - MAX_LIST_ROWS} more"),
                      *[Text("")] * (len(columns) - 1))
    return table


def observation_view(observation: Model | None) -> RenderableType:
    """The key observations: scalars as ``name value`` lines, lists of records as tables."""
    if observation is None:
        return Text("no observation recorded", style="dim")
    hidden = set(getattr(observation, "detail_fields", ()))
    data = observation.model_dump(mode="json", exclude={"check", *hidden})
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    tables: list[RenderableType] = []
    for name, value in data.items():
        label = name.replace("_", " ")
        if value in (None, [], {}, ""):
            continue
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            tables.append(Text(label, style="bold"))
            tables.append(Padding(_records_table(value), (0, 0, 0, 2)))
        elif isinstance(value, dict):
            for key, inner in value.items():
                if inner not in (None, [], {}, ""):
                    grid.add_row(Text(f"{label} {key.replace('_', ' ')}"), _cell(inner))
        else:
            grid.add_row(Text(label), _cell(value))
    return Group(grid, *tables)


def evidence_view(evidence: Mapping[str, Any]) -> Table:
    """A finding's evidence as ``name value`` lines."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in evidence.items():
        text = _cell(value) if name != "traceback" else Text(
            (str(value).strip().splitlines() or [""])[-1])
        grid.add_row(Text(name.replace("_", " ")), text)
    return grid


def snippet_view(fix: Fix) -> Syntax:
    """The fix's snippet, highlighted for its language (YAML, nginx, shell...)."""
    return Syntax(
        (fix.snippet or "").rstrip(),
        LEXERS.get(fix.language or "", "text"),
        theme="ansi_dark",
        background_color="default",
        word_wrap=True,
    )


def docs_link(finding: Finding) -> Text:
    """Where to read more: the page (a clickable file link when installed) and the command."""
    from wsdoctor.docs import page_path

    path = page_path(finding.code)
    text = Text(finding.docs, style=Style(underline=True, link=path.as_uri() if path else None))
    text.append(f"  (wsdoctor explain {finding.code})", style="dim")
    return text


def _grid() -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True, width=9)
    grid.add_column(overflow="fold")
    return grid


def finding_view(finding: Finding) -> RenderableType:
    """One finding in full: what was seen and the fix first (they must fit on a small
    screen), the snippet at full width, then where, the evidence and the docs."""
    head = Text()
    head.append_text(finding_mark(finding.status))
    head.append(f" {finding.code}", style="bold")
    head.append(f"  {finding.title}")
    parts: list[RenderableType] = [head]
    top = _grid()
    top.add_row(Text("seen"), Text(finding.detail))
    if finding.fix is not None:
        top.add_row(Text("fix", style="bold green"), Text(finding.fix.summary))
    parts.append(Padding(top, (0, 0, 0, 2)))
    if finding.fix is not None and finding.fix.snippet:
        parts.append(Padding(snippet_view(finding.fix), (0, 0, 0, 4)))
    rest = _grid()
    if finding.resource is not None:
        rest.add_row(Text("resource"), Text(str(finding.resource)))
    if finding.evidence:
        rest.add_row(Text("evidence"), evidence_view(finding.evidence))
    if finding.explains:
        rest.add_row(Text("explains"), Text(", ".join(finding.explains)))
    rest.add_row(Text("docs"), docs_link(finding))
    parts.append(Padding(rest, (0, 0, 0, 2)))
    return Group(*parts)
