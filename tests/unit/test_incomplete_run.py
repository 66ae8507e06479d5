"""A check that crashes or overruns its time limit makes the run ``error`` (unless something
failed) and the exit status non-zero, whatever --fail-on says; every renderer names it."""

import asyncio
import io

import pytest

from tests.unit.test_runner import TARGET, WARNING, make, probe_a, probe_crash, warn_rule
from wsdoctor.checks.base import rule
from wsdoctor.commands.diagnose import exit_status
from wsdoctor.exit import ExitStatus
from wsdoctor.models import Status
from wsdoctor.report import Report
from wsdoctor.reports import render
from wsdoctor.reports.text import TextStyle
from wsdoctor.runner import diagnose
from wsdoctor.settings import Settings


def crashed_run(*, with_warning: bool = False) -> Report:
    checks = [make("a", probe_a, rules=(rule(warn_rule),) if with_warning else ()),
              make("b", probe_crash)]
    return asyncio.run(diagnose(TARGET, Settings(), checks=checks))


def test_a_crashed_check_makes_the_run_error_and_exit_4() -> None:
    """Given a crashing probe and no finding, the report says error and the exit is 4."""
    report = crashed_run()
    assert report.status == "error"
    assert exit_status(report, Settings()) is ExitStatus.INCOMPLETE


@pytest.mark.parametrize("fail_on", [Status.FAIL, None], ids=["fail", "never"])
def test_never_exit_0_with_a_crashed_check(fail_on: Status | None) -> None:
    """--fail-on never ignores findings, not an incomplete diagnosis."""
    report = crashed_run(with_warning=True)
    assert report.status == "error"
    assert exit_status(report, Settings(fail_on=fail_on)) is ExitStatus.INCOMPLETE


def test_a_finding_at_fail_on_still_exits_1() -> None:
    """A finding that reaches --fail-on is the answer (exit 1) even when a check crashed."""
    report = crashed_run(with_warning=True)
    assert exit_status(report, Settings(fail_on=Status.WARN)) is ExitStatus.FINDINGS
    assert WARNING.code in [f.code for f in report.findings]


@pytest.mark.parametrize("fmt", ["text", "markdown", "junit", "json"])
def test_every_format_renders_an_incomplete_run(fmt: str) -> None:
    """The error status renders in every format (the text verdict says incomplete)."""
    out = io.StringIO()
    render(crashed_run(), fmt, out, TextStyle(colour=False, ascii_only=True), short=False,
           fail_on=Status.FAIL)
    text = out.getvalue()
    assert "RuntimeError: boom" in text or (fmt == "json" and '"status": "error"' in text)
    if fmt in ("text", "markdown"):
        assert "diagnosis incomplete" in text
