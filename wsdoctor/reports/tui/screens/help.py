"""``?``: every key, what it does, and how to read the marks."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    ("↑ ↓  j k", "move between checks and findings"),
    ("→ ←  l h", "expand a check / back to its check"),
    ("enter, space", "expand or collapse the check"),
    ("n  N", "next / previous failure"),
    ("f", "show failures only, or everything"),
    ("c", "copy the selected fix to the clipboard (OSC 52)"),
    ("s", "save the JSON report (same as --format json)"),
    ("r", "run the diagnosis again (live runs only)"),
    ("?", "this help"),
    ("q, ctrl+c", "quit (cancels running probes)"),
)
MARKS = (
    ("√", "ok"),
    ("‼", "warning"),
    ("×", "failed"),
    ("!", "could not run (error)"),
    ("-", "skipped (the reason says how to enable it)"),
    ("·", "waiting"),
    ("⠋", "running"),
)


def help_table() -> Table:
    """Keys and marks, as one table."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, what in KEYS:
        table.add_row(key, what)
    table.add_row("", "")
    for mark, meaning in MARKS:
        table.add_row(mark, meaning)
    table.add_row("", "")
    table.add_row(
        "",
        Text(
            "Checks are listed in path order (name → network → TLS → upgrade → messages → "
            "idle → affinity → cluster); when a run ends the first failure is selected.",
            style="dim",
        ),
    )
    return table


class HelpScreen(ModalScreen[None]):
    """A modal list of keys; any of escape, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", show=True),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(help_table())

    def on_mount(self) -> None:
        self.query_one("#help").border_title = "wsdoctor keys"
        self.query_one("#help").border_subtitle = "esc to close"
