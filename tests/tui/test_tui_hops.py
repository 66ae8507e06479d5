"""The details pane shows a bisected run's hops as their table, not the nested detail."""

from __future__ import annotations

import io

from rich.console import Console

from tests.unit.test_hops_rules import facts, hop
from wsdoctor.checks.hops_model import HopsObservation
from wsdoctor.checks.hops_table import complete
from wsdoctor.reports.tui.widgets.evidence import observation_view


def test_hops_details_show_the_table() -> None:
    """Given a completed hops observation, the pane lists one row per hop with the
    comparison's columns and leaves the per-hop observations (in the JSON) out."""
    state = facts([hop("pod"), hop("controller", skipped="forbidden")], public_cut=4.0)
    obs = state.get(HopsObservation)
    assert obs is not None
    console = Console(width=160, file=io.StringIO(), record=True)
    console.print(observation_view(complete(obs, state)))
    text = console.export_text()
    assert "time to 101 ms" in text and "idle timeout s" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "skipped" in lines["controller"] and "forbidden" in lines["controller"]
    assert "4.0 s" in lines["public"] and "proxy (FIN)" in lines["public"]
    assert "findings" not in text and "plan" not in text
