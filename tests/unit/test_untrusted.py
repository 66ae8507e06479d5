"""Untrusted text at the rendering edge: escaped visibly, capped, and JSON that a terminal
cannot act on while holding the same data."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from wsdoctor.models import CheckStatus, Finding, Fix, Resource, Scheme, Status, Target
from wsdoctor.report import CheckReport, Report
from wsdoctor.reports import render
from wsdoctor.reports.text import TextStyle
from wsdoctor.untrusted import (
    LINE_LIMIT,
    header_text,
    json_safe,
    one_line,
    printable,
    rewrap_latin1,
    safe,
)

HOSTILE = "\x1b[2J\x1b]52;c;cHduZWQ=\x07\x9b31m\u202eevil\u202c\x00\x0b\x7f\ufffe\uffff\r"


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b[2J", "\\x1b[2J"),
    ("\x1b]52;c;Zm9v\x07", "\\x1b]52;c;Zm9v\\x07"),
    ("\x9b31m", "\\x9b31m"),
    ("a\u202eb\u2066c", "a\\u202eb\\u2066c"),
    ("\x00\x7f\ufffe\uffff\ud800", "\\x00\\x7f\\ufffe\\uffff\\ud800"),
    ("line\nnext\rover", "line\\x0anext\\x0dover"),
    ("café → ok\ttab", "café → ok\ttab"),
])
def test_printable_escapes_what_a_terminal_acts_on(raw: str, shown: str) -> None:
    """CSI, OSC (52 too), C1, bidi controls, NUL, DEL, XML non-characters, surrogates and line
    breaks in a one-line field are escaped visibly; ordinary Unicode and tabs stay."""
    assert printable(raw) == shown


def test_printable_keeps_lines_where_asked_and_caps_lengths() -> None:
    """Multi-line fields keep newlines (not CR); long text is cut with a count, and cutting
    again changes nothing."""
    assert printable("a\nb\rc", multiline=True) == "a\nb\\x0dc"
    long = printable("x" * 5000)
    assert len(long) <= LINE_LIMIT and long.endswith("more characters)")
    assert printable(long) == long
    assert one_line("first\n  second\n") == "first second"


def _hostile_report() -> Report:
    finding = Finding(code="WSD-X" + HOSTILE, check="http", status=Status.FAIL,
                      title="t" + HOSTILE, detail="d\n" + HOSTILE,
                      evidence={"k" + HOSTILE: [HOSTILE, 1]},
                      resource=Resource(kind="Address", name=HOSTILE),
                      fix=Fix(summary=HOSTILE, snippet="```\n" + HOSTILE), docs="x" + HOSTILE)
    check = CheckReport(id="http", title="Plain" + HOSTILE, hop="upgrade" + HOSTILE,
                        status=CheckStatus.FAIL, summary=HOSTILE, traceback=HOSTILE)
    return Report(target=Target(url="ws://h/" + HOSTILE, scheme=Scheme.WS, host="h", port=80,
                                path="/"),
                  started_at=datetime(2025, 1, 1, tzinfo=UTC), duration_s=1.0, status="fail",
                  checks=[check, check.model_copy(update={"id": "tcp",
                                                          "status": CheckStatus.ERROR,
                                                          "reason": HOSTILE})],
                  findings=[finding])


@pytest.mark.parametrize("fmt", ["text", "markdown", "junit", "short"])
def test_a_forged_report_renders_with_nothing_raw(fmt: str) -> None:
    """Given a report whose every field holds escapes (as a forged file given to ``show``),
    each format shows them escaped; the JUnit document parses."""
    import io

    out = io.StringIO()
    render(_hostile_report(), "text" if fmt == "short" else fmt, out,
           TextStyle(colour=False, ascii_only=False), short=fmt == "short")
    text = out.getvalue()
    for char in "\x1b\x9b\x00\x07\x0b\x7f\u202e\u2066\ufffe\uffff\r":
        assert char not in text, (fmt, repr(char))
    assert "\\x1b[2J" in text
    if fmt == "junit":
        ET.fromstring(text.encode())


def test_json_output_escapes_c1_and_bidi_but_keeps_the_data() -> None:
    """The JSON report writes C1, DEL and bidi controls as \\u escapes: a terminal cannot act
    on them, a JSON reader gets the same strings."""
    report = _hostile_report()
    text = report.to_json()
    assert not any(c in text for c in "\x1b\x9b\x7f\u202e\ufffe")
    assert Report.model_validate_json(text) == report
    assert json.loads(json_safe('"\u2028"')) == "\u2028"


def test_safe_leaves_enums_and_clean_models_alone() -> None:
    """Statuses (str enums) are never rewritten, and a clean model is the same object."""
    report = _hostile_report()
    shown = safe(report)
    assert shown.findings[0].status is Status.FAIL and shown.checks[0].status is CheckStatus.FAIL
    assert safe(shown) == shown
    clean = Resource(kind="Address", name="127.0.0.1:80")
    assert safe(clean) is clean


def test_map_strings_reaches_into_dataclasses_without_mutating_them() -> None:
    """A frozen dataclass (a watch event) holding a model and a string is copied with both
    changed; one with nothing to change comes back as the same object."""
    import dataclasses

    from wsdoctor.models import Resource
    from wsdoctor.untrusted import map_strings

    @dataclasses.dataclass(frozen=True)
    class Event:
        note: str
        resource: Resource

    event = Event("a\x1bb", Resource(kind="Pod", namespace="n", name="x\x1by"))
    changed = map_strings(event, lambda text, _field: text.replace("\x1b", "?"))
    assert changed == Event("a?b", Resource(kind="Pod", namespace="n", name="x?y"))
    assert event.note == "a\x1bb"
    assert map_strings(changed, lambda text, _field: text) is changed


def test_head_bytes_are_utf8_when_valid_else_latin1() -> None:
    """A head in UTF-8 reads as what the server wrote; bytes that are not UTF-8 keep one
    character per byte; a C1 control sent as UTF-8 is still escaped when shown."""
    assert header_text("Accès ✓".encode()) == "Accès ✓"
    assert header_text(b"Refus\xe9 \xff") == "Refusé ÿ"
    assert rewrap_latin1("Accès ✓".encode().decode("latin-1")) == "Accès ✓"
    assert rewrap_latin1("Refusé") == "Refusé"  # was latin-1 already (not valid UTF-8)
    assert rewrap_latin1("✓") == "✓"  # not latin-1 at all: left alone
    assert printable(header_text("a\u009b31mb".encode())) == "a\\x9b31mb"
