"""Where the TUI's report comes from: a saved ``Report``, or a live run of the runner.

A live run executes ``wsdoctor.runner.diagnose`` on its own event loop in a worker thread, so
no probe can ever stall the UI; the runner's events go to a callback (which posts Textual
messages), and :meth:`LiveDiagnosis.cancel` stops the probes from the UI thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import field
from typing import Any, Protocol

from wsdoctor.checks.base import Check
from wsdoctor.models import Target
from wsdoctor.records import dataclass
from wsdoctor.report import Report
from wsdoctor.runner import Event, EventSink, diagnose, select_checks
from wsdoctor.settings import Settings


class Runner(Protocol):
    """The signature of :func:`wsdoctor.runner.diagnose`."""

    def __call__(
        self,
        target: Target,
        settings: Settings,
        *,
        checks: Sequence[Check] | None,
        sink: EventSink | None,
        options: dict[str, Any] | None,
    ) -> Awaitable[Report]: ...


#: While a cancelled run unwinds, its tasks are cancelled again this often.
RECANCEL_S = 0.02


@dataclass(frozen=True)
class LiveRun:
    """Diagnose ``target`` now, with these settings and checks."""

    target: Target
    settings: Settings
    checks: Sequence[Check] | None = None
    """None: the registry's (only the selected checks' modules are imported)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """The settings as recorded in the report (secrets redacted)."""
    runner: Runner = diagnose
    """What runs the checks: the real runner, or a scripted stand-in in tests."""

    def selected(self) -> list[Check]:
        """The checks this run will execute, in registry (path) order."""
        return select_checks(self.settings, self.checks)


Source = Report | LiveRun


class LiveDiagnosis:
    """One run of the runner on a private event loop; ``run`` blocks (call it in a thread),
    ``cancel`` may be called from any thread, before, during or after ``run``."""

    def __init__(self, run: LiveRun, sink: Callable[[Event], None]) -> None:
        self._run = run
        self._sink = sink
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Report] | None = None
        self._cancelled = False
        self.finished = threading.Event()
        """Set once the run's event loop is closed: no probe, socket or task is left."""

    def run(self) -> Report | None:
        """Run the diagnosis; None when it was cancelled. Exceptions from the runner
        itself (not from probes, which it contains) propagate."""
        loop = asyncio.new_event_loop()
        try:
            with self._lock:
                if self._cancelled:
                    return None
                self._loop = loop
                self._task = loop.create_task(self._diagnose())
            try:
                return loop.run_until_complete(self._task)
            except asyncio.CancelledError:
                return None
        finally:
            with self._lock:
                self._loop = None
            _close(loop)
            self.finished.set()

    async def _diagnose(self) -> Report:
        return await self._run.runner(
            self._run.target,
            self._run.settings,
            checks=self._run.checks,
            sink=self._sink,
            options=dict(self._run.options),
        )

    def cancel(self) -> None:
        """Stop the run: its probes get CancelledError and close their connections."""
        with self._lock:
            self._cancelled = True
            if self._loop is not None and self._task is not None:
                self._loop.call_soon_threadsafe(self._cancel_everything, self._loop)

    def _cancel_everything(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the run's loop: cancel every task, and again every few milliseconds until the
        run is over, so that a probe's clean-up that waits on the peer (a TLS close_notify
        that never comes) cannot hold up quitting. The sockets are closed all the same."""
        for task in asyncio.all_tasks(loop):
            task.cancel()
        if self._task is not None and not self._task.done():
            loop.call_later(RECANCEL_S, self._cancel_everything, loop)

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled


def _close(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel whatever is left on the loop, let it unwind, and close the loop. The default
    executor is not waited for: a blocked thread must not hold up quitting."""
    try:
        leftovers = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in leftovers:
            task.cancel()
        if leftovers:
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
