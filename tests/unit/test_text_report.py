"""The text report: streamed output equals the rendering of the saved report; colour rules."""

import asyncio
import io
from collections.abc import Iterator

from wsdoctor.checks.base import Check, Code, Facts, Hop, ProbeContext, rule
from wsdoctor.checks.dns import DnsObservation
from wsdoctor.checks.tcp import TcpAttempt, TcpObservation
from wsdoctor.cli import Environment
from wsdoctor.models import Finding, Fix, Resource, Status
from wsdoctor.report import Report
from wsdoctor.reports.text import TextRenderer, TextStyle, render_report, render_short
from wsdoctor.runner import diagnose
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

BROKEN = Code("WSD-TEST-BROKEN", Status.FAIL, "Broken thing")


async def probe_dns(ctx: ProbeContext) -> DnsObservation:
    return DnsObservation(name="x.test", source="literal", addresses=["127.0.0.1"])


async def probe_tcp(ctx: ProbeContext) -> TcpObservation:
    await asyncio.sleep(0.01)
    return TcpObservation(attempts=[TcpAttempt(address="127.0.0.1", port=1, outcome="refused")])


def judge(facts: Facts) -> Iterator[Finding]:
    yield BROKEN.finding("tcp", "it broke", resource=Resource(kind="Address", name="127.0.0.1:1"),
                         fix=Fix(summary="mend it", snippet="key: value", language="yaml"))


CHECKS = [
    Check(id="dns", title="DNS", hop=Hop.NAME, probe=probe_dns),
    Check(id="tcp", title="TCP", hop=Hop.NETWORK, probe=probe_tcp, needs=("dns",),
          rules=(rule(judge),)),
]


def run_streamed(style: TextStyle) -> tuple[str, Report]:
    out = io.StringIO()
    target = parse_target("ws://127.0.0.1:1/")
    renderer = TextRenderer(out, style, [c.id for c in CHECKS], target.url)
    report = asyncio.run(diagnose(target, Settings(), checks=CHECKS, sink=renderer))
    return out.getvalue(), report


def test_stream_equals_rendering_of_saved_report() -> None:
    """Given a run, the streamed text and the text from its saved JSON are identical."""
    streamed, report = run_streamed(TextStyle(colour=False, ascii_only=False))
    saved = Report.model_validate_json(report.model_dump_json())
    again = io.StringIO()
    render_report(saved, again, TextStyle(colour=False, ascii_only=False))
    assert streamed == again.getvalue()
    assert "× WSD-TEST-BROKEN Broken thing" in streamed
    assert "fix: mend it" in streamed and "      key: value" in streamed
    assert "see: wsdoctor explain WSD-TEST-BROKEN (https://" in streamed


def test_ascii_fallback_has_no_unicode_marks() -> None:
    """With ASCII marks, the output is pure ASCII."""
    streamed, _ = run_streamed(TextStyle(colour=False, ascii_only=True))
    assert "[FAIL] WSD-TEST-BROKEN" in streamed
    streamed.encode("ascii")


def test_colour_only_on_a_terminal_without_no_color() -> None:
    """ANSI colour needs a terminal, and NO_COLOR or --no-color turns it off."""
    assert Environment(stdout_isatty=True, environ={}).colour(False)
    assert not Environment(stdout_isatty=True, environ={"NO_COLOR": "1"}).colour(False)
    assert not Environment(stdout_isatty=True, environ={}).colour(True)
    assert not Environment(stdout_isatty=False, environ={}).colour(False)
    streamed, _ = run_streamed(TextStyle(colour=True, ascii_only=False))
    assert "\x1b[31m" in streamed


def test_short_lists_failures_only() -> None:
    """--short prints the verdict line and one line per failure, with its fix."""
    _, report = run_streamed(TextStyle(colour=False, ascii_only=False))
    out = io.StringIO()
    render_short(report, out, TextStyle(colour=False, ascii_only=False))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("× WSD-TEST-BROKEN Broken thing [Address 127.0.0.1:1]")
    assert lines[1].endswith("fix: mend it")


CROSS = Code("WSD-TEST-CROSS", Status.FAIL, "Cross-check")


def cross_rule(facts: Facts) -> Iterator[Finding]:
    yield CROSS.finding("dns", "judged with tcp's result")


def test_cross_check_lands_under_its_check_live_as_in_the_saved_report() -> None:
    """A rule owned by an earlier check that needs a later one: the live text shows its
    finding under that check with the final mark, exactly as the saved report renders."""
    checks = [
        Check(id="dns", title="DNS", hop=Hop.NAME, probe=probe_dns,
              rules=(rule(cross_rule, "tcp"),)),
        CHECKS[1],
    ]
    out = io.StringIO()
    target = parse_target("ws://127.0.0.1:1/")
    style = TextStyle(colour=False, ascii_only=False)
    renderer = TextRenderer(out, style, [c.id for c in checks], target.url)
    report = asyncio.run(diagnose(target, Settings(), checks=checks, sink=renderer))
    again = io.StringIO()
    render_report(Report.model_validate_json(report.model_dump_json()), again, style)
    assert out.getvalue() == again.getvalue()
    assert "× dns" in out.getvalue() and "cross-checks" not in out.getvalue()
