"""Renderers: each consumes the same Report (or, for live views, the same event stream)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from wsdoctor.models import Status

if TYPE_CHECKING:
    from wsdoctor.report import Report
    from wsdoctor.reports.text import TextStyle

#: Formats that render a finished report (the TUI and streamed text also exist).
STATIC_FORMATS = ("text", "json", "markdown", "junit")


def render(report: Report, fmt: str, out: TextIO, style: TextStyle, *, short: bool = False,
           fail_on: Status | None = Status.FAIL) -> None:
    """Write ``report`` in ``fmt``; ValueError for an unknown format (never a fallback)."""
    if short:
        from wsdoctor.reports.text import render_short

        render_short(report, out, style)
    elif fmt == "json":
        out.write(report.to_json())
    elif fmt == "text":
        from wsdoctor.reports.text import render_report

        render_report(report, out, style)
        if report.check("watch") is not None:  # a saved watch: its timeline too
            from wsdoctor.watch.text import render_timeline

            render_timeline(report, out, style)
    elif fmt == "markdown":
        from wsdoctor.reports.markdown import render_markdown

        out.write(render_markdown(report))
    elif fmt == "junit":
        from wsdoctor.reports.junit import render_junit

        out.write(render_junit(report, fail_on))
    else:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(STATIC_FORMATS)}")
    out.flush()
