"""Messages the diagnosis worker posts to the app (the worker never touches a widget)."""

from __future__ import annotations

from textual.message import Message

from wsdoctor.runner import Event


class RunnerEvent(Message):
    """One event of the runner (check started, progress, finished, finding, run finished)."""

    def __init__(self, generation: int, event: Event) -> None:
        super().__init__()
        self.generation = generation
        """Which run it belongs to: events of a run replaced by a rerun are dropped."""
        self.event = event


class RunEnded(Message):
    """The worker is done: normally, cancelled, or because the runner itself crashed."""

    def __init__(self, generation: int, error: str | None) -> None:
        super().__init__()
        self.generation = generation
        self.error = error
