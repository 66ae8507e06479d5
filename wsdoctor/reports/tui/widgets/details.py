"""The details pane: everything about the selected check or finding."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import ProgressBar, Static

from wsdoctor.models import CheckStatus, Model
from wsdoctor.reports.tui.format import check_mark, duration
from wsdoctor.reports.tui.state import Phase, Row, Selection
from wsdoctor.reports.tui.widgets.evidence import finding_view, observation_view

TRACEBACK_LINES = 12


class DetailsPane(VerticalScroll):
    """Head (check, status, time), a progress bar while a long probe runs, then the body:
    observations and findings of a check, or one finding in full."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.head = Static(id="detail-head")
        self.bar = ProgressBar(total=1.0, show_eta=False, id="detail-progress")
        self.progress_text = Static(id="detail-progress-text")
        self.body = Static(id="detail-body")

    def compose(self) -> ComposeResult:
        yield self.head
        yield self.bar
        yield self.progress_text
        yield self.body

    def on_mount(self) -> None:
        self.border_title = "details"
        self._set_progress(None, "")

    def show(self, row: Row | None, selection: Selection | None, now: float) -> None:
        """Render ``row`` (and the finding ``selection`` points at, if any)."""
        head, body = self.head, self.body
        if row is None or selection is None:
            head.update(Text("Select a check to see its evidence.", style="dim"))
            body.update("")
            self._set_progress(None, "")
            return
        head.update(_head(row, now, with_verdict=selection.finding is None))
        if row.phase is Phase.RUNNING:
            self._set_progress(row.progress_fraction, row.progress_message)
        else:
            self._set_progress(None, "")
        body.update(_body(row, selection.finding))

    def _set_progress(self, fraction: float | None, message: str) -> None:
        bar, text = self.bar, self.progress_text
        bar.display = fraction is not None
        text.display = bool(message)
        if fraction is not None:
            bar.update(progress=min(max(fraction, 0.0), 1.0))
        text.update(Text(message, style="cyan"))


def _head(row: Row, now: float, with_verdict: bool) -> Text:
    text = Text()
    if row.phase is Phase.DONE and row.result is not None:
        text.append_text(check_mark(row.result.status))
        took = f"took {duration(row.result.duration_s)}"
    elif row.phase is Phase.RUNNING:
        text.append("…", style="bold cyan")
        since = now if row.started_at is None else row.started_at
        took = f"running for {duration(max(0.0, now - since))}"
    else:
        text.append("·", style="dim")
        took = "waiting for the checks it needs"
    text.append(f" {row.title}", style="bold")
    text.append(f"  {row.id} · hop {row.hop} · {took}", style="dim")
    result = row.result if with_verdict else None
    if result is not None and result.status in (CheckStatus.SKIPPED, CheckStatus.ERROR):
        text.append(f"\n{result.status.value}: {result.reason or ''}")
    elif result is not None and result.summary:
        text.append(f"\n{result.summary}")
    return text


def _ramp(observation: Model | None) -> RenderableType | None:
    """A load run's ramp plot and summary (shown before its findings), else None."""
    from wsdoctor.checks.load import LoadObservation

    if not isinstance(observation, LoadObservation):
        return None
    from wsdoctor.reports.tui.widgets.loadview import load_view

    return load_view(observation)


def _body(row: Row, finding: int | None) -> RenderableType:
    parts: list[RenderableType] = []
    if finding is not None and finding < len(row.findings):
        parts.append(finding_view(row.findings[finding]))
        return Group(*parts)
    result = row.result
    ramp = _ramp(result.observation if result is not None else None)
    if ramp is not None:
        parts.extend((Rule("ramp", align="left", style="dim"), ramp))
    if row.findings:
        parts.append(Rule("findings", align="left", style="dim"))
        for item in row.findings:
            parts.extend((finding_view(item), Text("")))
    if result is not None and result.observation is not None and ramp is None:
        parts.append(Rule("observations", align="left", style="dim"))
        parts.append(observation_view(result.observation))
    if result is not None and result.traceback:
        parts.append(Rule("traceback (attach to a bug report)", align="left", style="dim"))
        lines = result.traceback.rstrip().splitlines()[-TRACEBACK_LINES:]
        parts.append(Text("\n".join(lines), style="dim"))
    if not parts and row.phase is Phase.DONE:
        parts.append(Text("no findings", style="dim"))
    return Group(*parts)
