"""A load run in the details pane: the ramp plot (open connections as green bars, refusals
as a red strip), then the run's summary lines. Every string goes in as ``Text``, never as
markup: causes quote what servers sent."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from wsdoctor.checks.load import LoadObservation
from wsdoctor.load.view import plot, summary_lines

ROLE_STYLES = {"bar": "green", "refusal": "bold red", "label": "dim", "axis": "dim"}


def load_view(obs: LoadObservation) -> RenderableType:
    """The ramp plot and the summary of a load run."""
    lines: list[RenderableType] = []
    for line in plot(obs):
        text = Text(no_wrap=True, overflow="crop")
        for part, role in line:
            text.append(part, style=ROLE_STYLES[role])
        lines.append(text)
    lines.append(Text(""))
    lines.extend(Text(line) for line in summary_lines(obs))
    return Group(*lines)
