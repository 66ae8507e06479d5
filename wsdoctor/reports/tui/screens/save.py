"""``s``: ask where to save the JSON report, with a ready default."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class SaveScreen(ModalScreen[str | None]):
    """Returns the path typed (enter) or None (escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default_path: str) -> None:
        super().__init__()
        self.default_path = default_path

    def compose(self) -> ComposeResult:
        with Vertical(id="save"):
            yield Label("Save the JSON report to:")
            yield Input(value=self.default_path, id="save-path")
            yield Label("enter to save · esc to cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#save").border_title = "save report"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
