"""JUnit XML rendering: one test case per check, failures carrying their findings, so CI
systems show a WebSocket regression like a failing test."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from wsdoctor.models import CheckStatus, Status
from wsdoctor.report import Report
from wsdoctor.untrusted import safe


def render_junit(report: Report, fail_on: Status | None = Status.FAIL) -> str:
    """A ``<testsuites>`` document; a check fails when it has a finding at ``fail_on`` or
    worse, errors when it could not run, and is skipped when it was skipped. Every text is
    :func:`~wsdoctor.untrusted.safe`: characters XML cannot carry are escaped, so the document
    always parses."""
    report = safe(report)
    threshold = fail_on.rank if fail_on is not None else Status.FAIL.rank + 1
    suites = ET.Element("testsuites", name="wsdoctor")
    suite = ET.SubElement(
        suites, "testsuite", name=report.target.url, tests=str(len(report.checks)),
        time=f"{report.duration_s:.3f}", timestamp=report.started_at.isoformat(),
    )
    failures = errors = skipped = 0
    for check in report.checks:
        case = ET.SubElement(suite, "testcase", classname=f"wsdoctor.{check.hop}",
                             name=check.id, time=f"{check.duration_s:.3f}")
        findings = [f for f in report.findings
                    if f.check == check.id and f.status.rank >= threshold]
        if check.status is CheckStatus.ERROR:
            errors += 1
            ET.SubElement(case, "error", message=check.reason or "error").text = (
                check.traceback or check.reason or "")
        elif check.status is CheckStatus.SKIPPED:
            skipped += 1
            ET.SubElement(case, "skipped", message=check.reason or "skipped")
        elif findings:
            failures += 1
            body = "\n\n".join(
                f"{f.code}: {f.title}\n{f.detail}"
                + (f"\nresource: {f.resource}" if f.resource else "")
                + (f"\nfix: {f.fix.summary}" if f.fix else "")
                + f"\nsee: {f.docs}"
                for f in findings
            )
            ET.SubElement(case, "failure", message=f"{findings[0].code}: {findings[0].title}",
                          type=findings[0].code).text = body
        if check.summary:
            ET.SubElement(case, "system-out").text = check.summary
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") \
        + "\n"
