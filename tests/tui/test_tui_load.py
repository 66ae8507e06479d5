"""A load run in the TUI: its check shows the ramp plot (open connections and refusals over
time) and the run's summary above its findings, from a live run's report or a saved one."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.tui.test_tui_app import text_of
from tests.unit.test_load_rules import observation, refusal
from wsdoctor.load import rules
from wsdoctor.load.model import RampPoint
from wsdoctor.models import CheckStatus
from wsdoctor.report import CheckReport, Report
from wsdoctor.reports.tui import make_app
from wsdoctor.reports.tui.state import Selection
from wsdoctor.target import parse_target


def load_report() -> Report:
    ramp = [RampPoint(t=i * 0.05, attempted=i, open=min(i, 20), refused=max(0, i - 20))
            for i in range(26)]
    obs = observation(stopped="steady_refusals", attempted=25, upgraded=20, peak_open=20,
                      held_at_end=20, refused=5, cap=20, cap_cause="HTTP 503",
                      refusals_started_at=20, causes=[refusal()], ramp=ramp)
    cap = rules.CAP.finding("load", "20 held, then HTTP 503.", title="Connections are refused "
                            "above 20 (HTTP 503)")
    check = CheckReport(id="load", title="Connection capacity", hop="capacity",
                        status=CheckStatus.FAIL, summary="cap 20", observation=obs)
    return Report(target=parse_target("ws://ws.lab.test:8080/ws"),
                  started_at=datetime.now(UTC), duration_s=1.3, status="fail", checks=[check],
                  findings=[cap])


async def test_the_load_check_shows_the_ramp_plot_and_summary_before_its_findings() -> None:
    """Given a saved load report, selecting the load check shows the plot (bars, the cap
    mark, the refusal strip), the k6-like summary, then the cap finding."""
    app = make_app(load_report(), animate=False)
    async with app.run_test(size=(120, 48)) as pilot:
        assert app.checks.selection == Selection("load", 0)
        await pilot.press("left")
        assert app.checks.selection == Selection("load")
        body = text_of(app, "#detail-body")
        assert "open connections over 1.2 s (cap 20)" in body
        assert "← cap" in body and "█" in body and "refused" in body
        assert "cap: 20 held, then HTTP 503" in body
        assert body.index("open connections over") < body.index("WSD-LOAD-CAP")
