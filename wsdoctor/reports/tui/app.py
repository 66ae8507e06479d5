"""The wsdoctor TUI: a live (or saved) checklist in path order, the details of what is
selected, and keys to jump between failures, copy a fix, save the report and rerun."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.events import Resize
from textual.filter import Monochrome
from textual.widgets import Footer, Static, Tree

from wsdoctor.models import Status
from wsdoctor.report import Report
from wsdoctor.reports.tui.format import finding_mark, progress_line
from wsdoctor.reports.tui.messages import RunEnded, RunnerEvent
from wsdoctor.reports.tui.screens.help import HelpScreen
from wsdoctor.reports.tui.screens.save import SaveScreen
from wsdoctor.reports.tui.source import LiveDiagnosis, LiveRun, Source
from wsdoctor.reports.tui.state import Checklist, Selection
from wsdoctor.reports.tui.widgets.checklist import CheckTree
from wsdoctor.reports.tui.widgets.details import DetailsPane
from wsdoctor.reports.tui.widgets.header import header_text
from wsdoctor.runner import RunFinished
from wsdoctor.untrusted import printable

#: Below this width the checklist sits above the details instead of beside them.
NARROW = 100
TICK_S = 0.1


class DoctorApp(App[Report | None]):
    """Shows one diagnosis. The app's return value is the final report (None if quit early)."""

    CSS_PATH = "app.tcss"
    TITLE = "wsdoctor"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "next_failure", "Next fail"),
        Binding("N,p", "previous_failure", "Prev fail", show=False),
        Binding("f", "toggle_failures", "Fails only"),
        Binding("c", "copy_fix", "Copy fix"),
        Binding("s", "save", "Save"),
        Binding("r", "rerun", "Rerun"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        source: Source,
        *,
        save_dir: Path | None = None,
        saved_from: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        animate: bool = True,
        no_color: bool = False,
    ) -> None:
        super().__init__()
        self.live = source if isinstance(source, LiveRun) else None
        self.checklist = (
            Checklist.from_report(source)
            if isinstance(source, Report)
            else Checklist.from_checks(source.selected())
        )
        self.url = printable(source.target.url)
        self.save_dir = save_dir
        self.saved_from = printable(saved_from) if saved_from is not None else None
        self.clock = clock
        self.animated = animate
        self.report: Report | None = source if isinstance(source, Report) else None
        self.failures_only = False
        self.generation = 0
        self.frame = 0
        self.started = clock()
        self.diagnosis: LiveDiagnosis | None = None
        self.run_error: str | None = None
        self.checks = CheckTree(id="checklist")
        self.details = DetailsPane(id="details")
        self.header = Static(id="header")
        self.status = Static(id="status")
        self.progress = Static(id="progress")
        if no_color and not self.no_color:  # --no-color; NO_COLOR itself Textual handles
            self.no_color = True
            self._filters.append(Monochrome())

    def compose(self) -> ComposeResult:
        yield self.header
        with Container(id="main"):
            yield self.checks
            yield self.details
        yield self.progress
        yield self.status
        yield Footer()

    def on_mount(self) -> None:
        self.checks.border_title = "checks (path order)"
        self.set_class(self.size.width < NARROW, "narrow")
        if self.live is not None:
            self.start_run()
        else:
            self.checks.rebuild(self.checklist, self.failures_only)
            self.select_first_failure()
        if self.animated:
            self.set_interval(TICK_S, self.tick)
        self.checks.focus()

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < NARROW, "narrow")

    # -- the live run -------------------------------------------------------------------

    def start_run(self) -> None:
        """Start (or restart) the diagnosis in a worker thread."""
        assert self.live is not None
        self.cancel_run()
        self.generation += 1
        generation = self.generation
        self.checklist = Checklist.from_checks(self.live.selected())
        self.report, self.run_error, self.started = None, None, self.clock()
        self.diagnosis = LiveDiagnosis(
            self.live, lambda event: self._post(RunnerEvent(generation, event))
        )
        self.run_worker(
            partial(self._work, self.diagnosis, generation),
            name="diagnosis",
            group="diagnosis",
            thread=True,
            exit_on_error=False,
        )
        self.checks.rebuild(self.checklist, self.failures_only)
        self.checks.select(Selection(next(iter(self.checklist.rows), "")))
        self.set_status(Text("diagnosing… (q quits and cancels the probes)", style="dim"))
        self.refresh_view()

    def _post(self, message: RunnerEvent | RunEnded) -> None:
        """Thread-safe: queue a message for the app (dropped once the app is closing)."""
        self.post_message(message)

    def _work(self, diagnosis: LiveDiagnosis, generation: int) -> None:
        """Worker thread: run the diagnosis; report back only through messages."""
        try:
            diagnosis.run()
        except Exception as exc:
            assert self.live is not None
            error = self.live.settings.redactor()(f"{type(exc).__name__}: {exc}")
            self._post(RunEnded(generation, printable(error)))
        else:
            self._post(RunEnded(generation, None))

    def on_runner_event(self, message: RunnerEvent) -> None:
        if message.generation != self.generation:
            return
        changed = self.checklist.apply(message.event, self.clock())
        if isinstance(message.event, RunFinished):
            self.report = message.event.report
            self.checks.rebuild(self.checklist, self.failures_only)
            self.select_first_failure()
            self.refresh_view()
        elif changed is not None:
            self.checks.now = self.clock()
            self.checks.relabel({changed})
            self.refresh_view(details=changed == self._selected_id())

    def on_run_ended(self, message: RunEnded) -> None:
        if message.generation != self.generation or message.error is None:
            return
        self.run_error = message.error
        self.set_status(Text(f"the run failed: {message.error}", style="bold red"))

    def tick(self) -> None:
        """Spinners and clocks move while something runs."""
        running = self.checks.running_ids()
        if self.report is not None and not running:
            return
        self.frame += 1
        self.checks.now, self.checks.frame = self.clock(), self.frame
        self.checks.relabel(running)
        self.refresh_view(details=bool(running & {self._selected_id()}))

    # -- view -------------------------------------------------------------------------

    def _selected_id(self) -> str:
        selection = self.checks.selection
        return selection.check_id if selection else ""

    def refresh_view(self, details: bool = True) -> None:
        """Redraw the header, the progress strip, and the details of what is selected."""
        strip = progress_line(self.checklist)
        self.progress.display = strip is not None
        if strip is not None:
            self.progress.update(strip)
        elapsed = self.report.duration_s if self.report else self.clock() - self.started
        self.header.update(
            header_text(
                self.checklist,
                self.url,
                elapsed=elapsed,
                frame=self.frame,
                saved_from=self.saved_from,
            )
        )
        if details:
            selection = self.checks.selection
            row = self.checklist.rows.get(selection.check_id) if selection else None
            self.details.show(row, selection, self.clock())

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[Selection]) -> None:
        self.refresh_view()
        self.details.scroll_home(animate=False)

    def set_status(self, text: Text) -> None:
        """The line above the footer: what just happened, or what is selected and why."""
        self.status.update(text)

    def select_first_failure(self) -> None:
        """Put the cursor on the first failure (root causes first) and say so."""
        first = self.checklist.first_failure()
        if first is None:
            self.checks.select(Selection(next(iter(self.checklist.rows), "")))
            self.set_status(Text("no failures · ? for help", style="dim"))
            return
        self.checks.select(first)
        self.checks.call_after_refresh(self.checks.show_cursor_from_top)
        row = self.checklist.rows[first.check_id]
        finding = row.findings[first.finding] if first.finding is not None else None
        kind = "warning" if finding is not None and finding.status is Status.WARN else "failure"
        text = Text(f"first {kind} selected: ")
        if finding is not None:
            text.append_text(finding_mark(finding.status))
            text.append(f" {finding.code}", style="bold")
        else:
            text.append(f"{row.id} could not run", style="bold")
        stops = len(self.checklist.failure_stops(self.failures_only))
        text.append(f" · {stops} failure{'s' * (stops != 1)} · n/N next/previous", style="dim")
        self.set_status(text)

    # -- actions ------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Rerun only exists for live runs."""
        if action == "rerun":
            return self.live is not None
        return True

    def _step_failure(self, step: int) -> None:
        stops = self.checklist.failure_stops(self.failures_only)
        if not stops:
            self.notify("no failures", timeout=2)
            return
        selection = self.checks.selection
        if selection in stops:
            target = stops[(stops.index(selection) + step) % len(stops)]
        else:
            target = stops[0] if step > 0 else stops[-1]
        self.checks.select(target)
        row = self.checklist.rows[target.check_id]
        what = row.findings[target.finding].code if target.finding is not None else row.id
        self.set_status(
            Text(f"failure {stops.index(target) + 1} of {len(stops)}: {what} · n/N next/previous")
        )

    def action_next_failure(self) -> None:
        """Jump to the next failing finding (or check that could not run)."""
        self._step_failure(1)

    def action_previous_failure(self) -> None:
        """Jump to the previous failure."""
        self._step_failure(-1)

    def action_toggle_failures(self) -> None:
        """Show only failed checks, or all of them again."""
        self.failures_only = not self.failures_only
        self.checks.rebuild(self.checklist, self.failures_only)
        self.checks.border_title = (
            "failures only (f: show all)" if self.failures_only else "checks (path order)"
        )
        if self.checks.cursor_node is None and self.checklist.visible(self.failures_only):
            self.checks.select(Selection(self.checklist.visible(self.failures_only)[0].id))
        self.refresh_view()

    def selected_fix(self) -> tuple[str, str] | None:
        """(code, text to copy) for the selected finding, or the selected check's first fix."""
        selection = self.checks.selection
        if selection is None:
            return None
        row = self.checklist.rows[selection.check_id]
        findings = (
            [row.findings[selection.finding]] if selection.finding is not None else row.findings
        )
        for finding in sorted(findings, key=lambda f: -f.status.rank):
            if finding.fix is not None and finding.status is not Status.OK:
                return finding.code, finding.fix.snippet or finding.fix.summary
        return None

    def action_copy_fix(self) -> None:
        """Put the selected fix on the clipboard with OSC 52 (works over SSH and in tmux)."""
        fix = self.selected_fix()
        if fix is None:
            self.notify("the selection has no fix to copy", severity="warning", timeout=3)
            return
        code, text = fix
        self.copy_to_clipboard(text)
        self.set_status(Text(f"copied the fix of {code} to the clipboard (OSC 52)"))

    def default_save_path(self) -> Path:
        """``wsdoctor-HOST-YYYYmmdd-HHMMSS.json`` in the save directory (default: here)."""
        report = self.report
        assert report is not None
        host = re.sub(r"[^A-Za-z0-9._-]", "_", report.target.host).strip("_") or "report"
        name = f"wsdoctor-{host}-{report.started_at:%Y%m%d-%H%M%S}.json"
        return self.save_dir / name if self.save_dir is not None else Path(name)

    def action_save(self) -> None:
        """Ask where, then write the report exactly as ``--format json`` prints it."""
        if self.report is None:
            self.notify("the run has not finished yet", severity="warning", timeout=3)
            return
        self.push_screen(SaveScreen(str(self.default_save_path())), self._save_to)

    def _save_to(self, path: str | None) -> None:
        from wsdoctor.commands.diagnose import write_report_file

        if path is None or self.report is None:
            return
        target = Path(path).expanduser()
        try:
            write_report_file(self.report, str(target))
        except OSError as exc:
            self.notify(printable(f"cannot save: {exc.strerror or exc}"), severity="error",
                        timeout=6, markup=False)
            return
        self.set_status(Text(printable(f"saved the JSON report to {target.resolve()}"),
                             style="bold"))

    def action_rerun(self) -> None:
        """Run the whole diagnosis again."""
        if self.live is not None:
            self.start_run()

    def action_help(self) -> None:
        """Show the keys."""
        self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        """Cancel running probes, then leave with the report (if the run finished)."""
        self.cancel_run()
        self.exit(self.report)

    def cancel_run(self) -> None:
        """Stop the probes of a run still going; their connections close as they unwind.
        Events it may still post are dropped (they belong to an older generation)."""
        if self.diagnosis is not None and not self.diagnosis.finished.is_set():
            self.generation += 1
            self.diagnosis.cancel()

    def on_unmount(self) -> None:
        self.cancel_run()
