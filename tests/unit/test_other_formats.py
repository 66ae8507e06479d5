"""Markdown and JUnit renderings of a saved report."""

import io
import xml.etree.ElementTree as ET

import pytest

from tests.unit.test_text_report import run_streamed
from wsdoctor.models import Status
from wsdoctor.reports import render
from wsdoctor.reports.text import TextStyle

STYLE = TextStyle(colour=False, ascii_only=False)


def rendered(fmt: str, fail_on: Status | None = Status.FAIL) -> str:
    _, report = run_streamed(STYLE)
    out = io.StringIO()
    render(report, fmt, out, STYLE, fail_on=fail_on)
    return out.getvalue()


def test_markdown_has_checklist_and_fix_snippet() -> None:
    """The Markdown report lists each check and each failure with its fix as a code block."""
    text = rendered("markdown")
    assert "| ❌ | `tcp` | network |" in text
    assert "### ❌ `WSD-TEST-BROKEN` Broken thing" in text
    assert "```yaml\nkey: value\n```" in text


def test_junit_marks_the_failing_check() -> None:
    """In JUnit XML the check with a fail finding is a failure, the others pass."""
    root = ET.fromstring(rendered("junit"))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("failures") == "1" and suite.get("tests") == "2"
    failure = root.find(".//testcase[@name='tcp']/failure")
    assert failure is not None and failure.get("type") == "WSD-TEST-BROKEN"
    assert root.find(".//testcase[@name='dns']/failure") is None


def test_junit_respects_fail_on_never() -> None:
    """With --fail-on never nothing is a JUnit failure."""
    root = ET.fromstring(rendered("junit", fail_on=None))
    assert root.find(".//failure") is None


def test_unknown_format_is_an_error() -> None:
    """An unknown format raises instead of silently falling back."""
    with pytest.raises(ValueError, match="unknown format"):
        rendered("yaml")


def test_markdown_quotes_a_servers_links_and_images_as_text() -> None:
    """A server's body quoted in a finding, with Markdown in it: an image would load a
    tracker when the incident document is viewed, a link would be clickable. Both stay text;
    the report's own link to the docs still works."""
    from wsdoctor.reports.markdown import render_markdown

    _, report = run_streamed(STYLE)
    hostile = r"body: '![x](https://tracker.example/p.png) [click](javascript:alert(1)) \'"
    finding = next(f for f in report.findings if f.code == "WSD-TEST-BROKEN")
    forged = report.model_copy(update={"findings": [
        finding.model_copy(update={"detail": hostile, "evidence": {"body_start": hostile}}),
        *[f for f in report.findings if f is not finding]]})
    text = render_markdown(forged)
    assert "![x](" not in text and "[click](" not in text
    assert r"!\[x\](https://tracker.example/p.png) \[click\](javascript:alert(1)) \\'" in text
    assert "See [WSD-TEST-BROKEN](" in text
