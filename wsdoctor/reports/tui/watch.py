"""The live view of ``wsdoctor watch`` (and of a saved watch report): the timeline of the held
connections with drops and cluster events as marks, the running verdict, and a log with one
line per event. The watch runs on its own event loop in a worker thread; its events reach the
app as messages. ``q`` ends the watch (with its summary); once it has ended, ``q`` leaves."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.filter import Monochrome
from textual.message import Message
from textual.widgets import Footer, RichLog, Static

from wsdoctor.report import Report
from wsdoctor.reports.tui.format import finding_mark
from wsdoctor.reports.tui.widgets.timeline import drop_marks, render_timeline
from wsdoctor.untrusted import printable
from wsdoctor.untrusted import safe as safe_report
from wsdoctor.watch.model import WatchObservation
from wsdoctor.watch.session import (
    Finished,
    Started,
    Tick,
    WatchEvent,
    WatchSession,
)
from wsdoctor.watch.text import event_line, safe

REFRESH_S = 1.0


class WatchMessage(Message):
    """An event of the watch, from its thread."""

    def __init__(self, event: WatchEvent) -> None:
        super().__init__()
        self.event = event


class WatchFailed(Message):
    """The watch itself failed (not a connection: a bug or a broken report path)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


def _watch_of(report: Report) -> WatchObservation | None:
    check = report.check("watch")
    return check.observation if check is not None and isinstance(
        check.observation, WatchObservation) else None


class WatchApp(App[Report | None]):
    """A running watch (``session``) or a saved watch report (``report``)."""

    TITLE = "wsdoctor watch"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #header { height: 2; padding: 0 1; background: $boost; }
    #timeline { height: auto; max-height: 60%; padding: 0 1; }
    #verdict { height: auto; max-height: 10; padding: 0 1; border-top: solid $primary; }
    #log { border-top: solid $primary; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "End / quit"),
        Binding("ctrl+c", "quit", "End / quit", show=False, priority=True),
    ]

    def __init__(self, session: WatchSession | None = None, report: Report | None = None,
                 *, no_color: bool = False, saved_from: str | None = None) -> None:
        super().__init__()
        assert (session is None) != (report is None)
        self.session = session
        self.report = report
        self.saved_from = saved_from
        self.started_at: datetime | None = None
        self.started = time.monotonic()
        self.ended = report is not None
        self.quitting = False
        self.error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.header = Static(id="header")
        self.timeline = Static(id="timeline")
        self.verdict = Static(id="verdict")
        self.log_view = RichLog(id="log", max_lines=2000, wrap=False)
        self._shown: tuple[Report, Report] | None = None
        if no_color and not self.no_color:
            self.no_color = True
            self._filters.append(Monochrome())

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.timeline
        yield self.verdict
        yield self.log_view
        yield Footer()

    def on_mount(self) -> None:
        if self.session is not None:
            def sink(event: WatchEvent) -> None:
                self.post_message(WatchMessage(event))  # thread-safe

            self.session.sink = sink
            self.run_worker(self._work, name="watch", thread=True, exit_on_error=False)
            self.set_interval(REFRESH_S, self.redraw)
            self.log_view.write(Text("preflight: resolving and upgrading…", style="dim"))
        elif (shown := self.shown()) is not None:
            obs = _watch_of(shown)
            if obs is not None:
                self.started_at = obs.started_at
                from wsdoctor.watch.text import timeline_lines

                for line in timeline_lines(obs):
                    self.log_view.write(Text(line))
        self.redraw()

    # -- the watch --------------------------------------------------------------------------

    def _work(self) -> None:
        """Worker thread: the watch on its own event loop."""
        assert self.session is not None
        loop = asyncio.new_event_loop()
        try:
            stop = asyncio.Event()
            self._loop, self._stop = loop, stop
            loop.run_until_complete(self.session.run(stop))
        except Exception as exc:
            error = self.session.settings.redactor()(f"{type(exc).__name__}: {exc}")
            self.post_message(WatchFailed(printable(error)))
        finally:
            self._loop = None
            loop.close()

    def on_watch_failed(self, message: WatchFailed) -> None:
        self.error, self.ended = message.error, True
        self.log_view.write(Text(f"the watch failed: {message.error}", style="bold red"))
        self.redraw()

    def on_watch_message(self, message: WatchMessage) -> None:
        event = message.event
        if isinstance(event, Started):
            self.started_at, self.report = event.started_at, event.preflight
            self.started = time.monotonic()
            cluster = "watching the cluster" if event.cluster == "watched" else \
                f"cluster not watched ({safe(event.cluster_note, 120)})"
            self._line(0.0, f"holding over {', '.join(event.addresses) or 'nothing'}; {cluster}")
        elif (line := event_line(event)) is not None:
            self._line(line[0], line[1], line[2] or "")
        elif isinstance(event, Tick):
            self.report = event.report
            self.redraw()
        elif isinstance(event, Finished):
            self.report, self.ended = event.report, True
            self._line(None, "the watch ended (q leaves)", "bold")
            self.redraw()
            if self.quitting:
                self.exit(self.report)

    def _line(self, t: float | None, text: str, style: str = "") -> None:
        stamp = ""
        if self.started_at is not None and t is not None:
            stamp = (self.started_at + timedelta(seconds=t)).astimezone().strftime("%H:%M:%S")
        self.log_view.write(Text(f"{stamp:<9}{safe(text, 2000)}", style=style))

    def action_quit(self) -> None:  # type: ignore[override]
        """End the watch (its report is kept), or leave once it has ended."""
        if self.ended:
            self.exit(self.report)
            return
        self.quitting = True
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)
            self._line(None, "ending the watch…", "bold")
        else:
            self.exit(self.report)

    # -- view -------------------------------------------------------------------------------

    def shown(self) -> Report | None:
        """The report as drawn: every string escaped (:func:`wsdoctor.untrusted.safe`: a saved
        report may be forged), made once per report."""
        if self.report is None:
            return None
        if self._shown is None or self._shown[0] is not self.report:
            self._shown = (self.report, safe_report(self.report))
        return self._shown[1]

    def redraw(self) -> None:
        report = self.shown()
        obs = _watch_of(report) if report is not None else None
        now = obs.duration_s if obs is not None and (self.ended or obs.finished) else \
            time.monotonic() - self.started if self.started_at is not None else 0.0
        title = Text(f"wsdoctor watch {report.target.url if report else ''}", style="bold")
        if obs is not None:
            drops = len(obs.drops())
            state = "finished" if obs.finished else "saved mid-run" if self.saved_from \
                else "ending…" if self.quitting else "watching"
            held = sum(1 for c in obs.connections if c.ended_at is None)
            plural = "s" if drops != 1 else ""
            title.append(f"  {state} · {now:.0f} s · {held} open · {drops} drop{plural} · "
                         f"{obs.failed_attempts_total} failed attempts · cluster {obs.cluster}",
                         style="dim")
        elif self.error:
            title.append(f"  {self.error}", style="red")
        self.header.update(title)
        if obs is not None and report is not None:
            width = max(self.size.width - 2, 40)
            self.timeline.update(render_timeline(obs, drop_marks(report.findings), width,
                                                 now=max(now, obs.duration_s)))
        self.verdict.update(self._verdict(report))

    def _verdict(self, report: Report | None) -> Text:
        text = Text()
        if report is None:
            return Text("no verdict yet", style="dim")
        for finding in report.findings[:8]:
            text.append_text(finding_mark(finding.status))
            text.append(f" {finding.code} ", style="bold")
            text.append(safe(finding.title, 300) + "\n")
        if not report.findings:
            text.append("no finding yet", style="dim")
        return text


def run_watch_tui(session: WatchSession, *, no_color: bool = False) -> Report | None:
    """Run the live view until the user leaves; the final report (None if none came)."""
    app = WatchApp(session, no_color=no_color)
    report = app.run()
    if app.return_code:
        raise RuntimeError("the TUI stopped on an internal error")
    if app.error is not None:
        raise RuntimeError(f"the watch failed: {app.error}")
    return report


def show_watch_report(report: Report, *, no_color: bool = False,
                      saved_from: str | None = None) -> None:
    """A saved watch report in the same view (no network)."""
    WatchApp(report=report, no_color=no_color, saved_from=saved_from).run()
