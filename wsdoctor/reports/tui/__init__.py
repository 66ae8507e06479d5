"""The interactive Textual TUI. Imported only when it is used: ``wsdoctor --help`` must not
load Textual. ``make_app`` is the one way in, for the CLI and for the tests alike."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from wsdoctor.reports.tui.app import DoctorApp
from wsdoctor.reports.tui.source import LiveDiagnosis, LiveRun, Source

__all__ = ["DoctorApp", "LiveDiagnosis", "LiveRun", "Source", "make_app"]


def make_app(
    source: Source,
    *,
    save_dir: Path | None = None,
    saved_from: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    animate: bool = True,
    no_color: bool = False,
) -> DoctorApp:
    """The app for a saved ``Report`` (no network) or a :class:`LiveRun` (diagnose now).

    ``save_dir`` is where ``s`` proposes to save; ``saved_from`` names the file a saved report
    came from; ``clock`` and ``animate=False`` make spinners and clocks stand still (for
    snapshot tests); ``no_color`` is ``--no-color`` (``NO_COLOR`` is honoured anyway).
    """
    return DoctorApp(
        source,
        save_dir=save_dir,
        saved_from=saved_from,
        clock=clock,
        animate=animate,
        no_color=no_color,
    )
