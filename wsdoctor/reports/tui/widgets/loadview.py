"""A load run in the details pane: the ramp plot (open connections as green bars, refusals
as a red strip) drawn to the pane's width, then the run's summary lines. Every string goes
in as ``Text``, never as markup: causes quote what servers sent."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

from wsdoctor.checks.load import LoadObservation
from wsdoctor.load.plot import ramp_plot
from wsdoctor.load.view import summary_lines

ROLE_STYLES = {"bar": "green", "refusal": "bold red", "label": "dim", "axis": "dim"}
#: Columns around the bars: the axis labels on the left, the cap mark or total on the right.
MARGINS = 20
MIN_WIDTH = 20


class RampPlot:
    """The ramp plot, as wide as the space it is given."""

    def __init__(self, obs: LoadObservation) -> None:
        self.obs = obs

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(MIN_WIDTH, min(60, options.max_width - MARGINS))
        for line in ramp_plot(self.obs.ramp, cap=self.obs.cap, width=width):
            text = Text(no_wrap=True, overflow="crop")
            for part, role in line:
                text.append(part, style=ROLE_STYLES[role])
            yield text


def load_view(obs: LoadObservation) -> RenderableType:
    """The ramp plot and the summary of a load run."""
    return Group(RampPlot(obs), Text(""), *(Text(line) for line in summary_lines(obs)))
