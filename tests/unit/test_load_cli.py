"""``wsdoctor load`` on the command line: safe by default (N required and capped), one-line
usage errors, and the plot the text and TUI views draw (its start-up cost is pinned with the
other commands' in test_startup_imports)."""

from __future__ import annotations

import pytest

from tests.helpers import run_cli
from wsdoctor.commands.load import default_rate
from wsdoctor.load.model import RampPoint
from wsdoctor.load.plot import plain_lines, ramp_plot

URL = "ws://127.0.0.1:9/ws"


@pytest.mark.parametrize(("argv", "message"), [
    ([URL], "the following arguments are required: -c/--connections"),
    ([URL, "-c", "5000"], "more than 1000: add --allow-many"),
    ([URL, "-c", "0"], "--connections must be at least 1"),
    ([URL, "-c", "200000", "--allow-many"], "200000 is more than 100000, the most one run"),
    ([URL, "-c", "10", "--rate", "0"], "--rate must be above 0"),
    ([URL, "-c", "10", "--rate", "nan"], "--rate must be above 0"),
    ([URL, "-c", "10", "--message-rate", "1000"], "--message-rate must be between"),
    ([URL, "-c", "10", "--message-size", "1"], "--message-size must be between"),
    ([URL, "-c", "10", "--hold", "soon"], "is not a duration"),
    (["ws://[::1/ws", "-c", "10"], "target"),
    ([URL, "-c", "10", "--resolve", "nonsense"], "--resolve"),
])
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], message: str) -> None:
    """Each wrong command line gives one line naming the problem, exit status 2, and opens
    no connection."""
    result = run_cli("load", *argv)
    assert result.status == 2, result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert "wsdoctor load --help" in result.stderr


def test_the_main_command_refuses_only_load() -> None:
    """`wsdoctor TARGET --only load` says to use the load command (it needs a count)."""
    result = run_cli(URL, "--only", "load")
    assert result.status == 2 and "wsdoctor load TARGET --connections N" in result.stderr


def test_the_default_ramp_takes_about_ten_seconds_within_bounds() -> None:
    """N/10 connections a second, at least 5 and at most 200."""
    assert default_rate(20) == 5 and default_rate(500) == 50 and default_rate(10000) == 200


def test_the_plot_draws_bars_up_to_the_cap_and_the_refusals_beneath() -> None:
    """Given a ramp to a cap of 20 with refusals after it, the plot's top row reaches the cap
    (marked), the refusal strip is empty before the cap and marked after it, and the axis
    spans the run."""
    points = [RampPoint(t=i * 0.05, attempted=i, open=min(i, 20), refused=max(0, i - 20))
              for i in range(41)]
    lines = plain_lines(ramp_plot(points, cap=20, width=40, height=4))
    assert lines[0].strip() == "open connections over 2.0 s (cap 20)"
    top = lines[1]
    assert top.strip().startswith("20 ┤") and top.endswith("← cap")
    strip = next(line for line in lines if line.lstrip().startswith("refused"))
    marks = strip.split("refused", 1)[1].strip().rsplit(" ", 1)[0]
    assert set(marks[:19]) == {"·"} and set(marks[21:]) <= set("▁▂▃▄▅▆▇█")
    assert strip.endswith(" 20") and lines[-1].rstrip().endswith("2.0 s")


def test_a_target_that_refuses_everything_is_no_connection_not_a_cap_of_0() -> None:
    """Given every attempt refused from the first, the summary, the run's lines and the
    plot speak of no connection, not of 'cap 0: refused above it'."""
    from wsdoctor.checks.load import summarize_load
    from wsdoctor.load.model import LoadCause, LoadObservation
    from wsdoctor.load.view import plot, summary_lines
    from wsdoctor.settings import LoadPlan

    refused = LoadCause(cause="TCP connection refused", kind="refusal", count=8,
                        first_attempt=1, open_at_first=0, first_at_s=0.0, address="a")
    obs = LoadObservation(
        url=URL, plan=LoadPlan(connections=100, rate=10, hold_s=0), stopped="steady_refusals",
        duration_s=2.3, ramp_s=2.3, attempted=8, upgraded=0, peak_open=0, held_at_end=0,
        refused=8, dropped=0, cap=0, cap_cause="TCP connection refused", causes=[refused],
        ramp=[RampPoint(t=i * 0.3, attempted=i, open=0, refused=i) for i in range(9)])
    assert summarize_load(obs) == "no connection: TCP connection refused (8 of 8 attempts)"
    assert "cap: 0 held" not in "\n".join(summary_lines(obs))
    assert "cap" not in "\n".join(plain_lines(plot(obs)))


def test_the_ascii_plot_uses_ascii_only() -> None:
    """With --ascii the plot is plain ASCII."""
    points = [RampPoint(t=i * 0.1, attempted=i, open=i, refused=0) for i in range(30)]
    text = "\n".join(plain_lines(ramp_plot(points, ascii_only=True)))
    assert text.isascii() and "#" in text


@pytest.mark.parametrize("command", [[], ["watch"], ["load"]])
def test_no_command_repeats_url_credentials_in_its_usage_error(command: list[str]) -> None:
    """A target with credentials is refused in one line that masks them, by every command
    that takes a target (one parser of targets serves them all)."""
    result = run_cli(*command, "ws://alice:s3cret-Passw0rd@h.test/", *(
        ["-c", "1"] if command == ["load"] else []))
    assert result.status == 2 and "s3cret" not in result.stderr
    assert "ws://<redacted>@h.test/" in result.stderr
