"""``wsdoctor show REPORT.json``: a saved report again, with no network."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from wsdoctor.commands.diagnose import exit_status, run_tui
from wsdoctor.console import Environment, Parser, UsageError, write_output
from wsdoctor.exit import ExitStatus

if TYPE_CHECKING:
    from wsdoctor.report import Report


#: A saved report is a few hundred KB; a cluster's worth of objects stays far below this.
REPORT_LIMIT = 64 * 1024 * 1024


def load_report(path: str, stdin: TextIO | None = None) -> Report:
    """A saved JSON report (``-``: standard input, bounded the same way); UsageError (one
    line) when missing, not a wsdoctor report, a device, too large, or a FIFO nobody writes
    to (read as empty, never waited for)."""
    from pydantic import ValidationError

    from wsdoctor.files import FileProblem, read_bounded, read_text_stream
    from wsdoctor.report import Report

    data: bytes | str
    try:
        if path == "-":
            if stdin is None:
                raise FileProblem("no standard input")
            data = read_text_stream(stdin, REPORT_LIMIT)
            path = "<stdin>"
        else:
            data = read_bounded(path, REPORT_LIMIT)
    except OSError as exc:
        raise UsageError(f"{'<stdin>' if path == '-' else path}: {exc.strerror or exc}") from None
    if not data.strip():
        raise UsageError(f"{path}: empty, not a wsdoctor JSON report")
    try:
        return Report.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(
            f"{path}: not a wsdoctor JSON report ({where + ': ' if where else ''}{first['msg']})"
        ) from None


def show_command(argv: Sequence[str], env: Environment) -> ExitStatus:
    """``wsdoctor show REPORT.json``: a saved report again, the TUI on a terminal, no network."""
    parser = Parser(
        prog="wsdoctor show",
        description="Open a saved JSON report again (no network): the interactive TUI on a "
        "terminal, the text report otherwise.",
    )
    parser.add_argument("report", metavar="REPORT.json",
                        help="a report from --format json or -o; - reads it from stdin")
    parser.add_argument(
        "--format",
        choices=("auto", "text", "json", "markdown", "junit", "tui"),
        default="auto",
        help="auto = the TUI on a terminal, text otherwise (default: auto)",
    )
    parser.add_argument("--short", action="store_true", help="failures only, one line each")
    parser.add_argument(
        "--fail-on",
        choices=("warn", "fail", "never"),
        default="fail",
        help="exit 1 when a finding is at least this severe (default: fail)",
    )
    parser.add_argument("--no-color", action="store_true", help="no colour (also: NO_COLOR=1)")
    parser.add_argument("--ascii", action="store_true", help="ASCII marks instead of √ ‼ ×")
    args = parser.parse_args(list(argv))
    fmt = args.format
    from_stdin = args.report == "-"
    if fmt == "auto":
        fmt = "tui" if env.is_tty and not args.short and not from_stdin else "text"
    if fmt == "tui" and from_stdin:
        raise UsageError("--format tui reads the keyboard from stdin: save the report to a "
                         "file to browse it, or use --format text")
    report = load_report(args.report, env.stdin)
    from wsdoctor.models import Status
    from wsdoctor.reports import render
    from wsdoctor.reports.text import TextStyle, can_encode
    from wsdoctor.settings import Settings

    settings = Settings(fail_on=None if args.fail_on == "never" else Status(args.fail_on))
    if fmt == "tui" and report.check("watch") is not None:
        from pathlib import Path

        if not env.is_tty:
            raise UsageError("--format tui needs a terminal (use --format text or json)")
        from wsdoctor.reports.tui.watch import show_watch_report

        show_watch_report(report, no_color=args.no_color or bool(env.environ.get("NO_COLOR")),
                          saved_from=Path(args.report).name)
    elif fmt == "tui":
        from pathlib import Path

        run_tui(report, env, args.no_color, saved_from=Path(args.report).name)
    else:
        style = TextStyle(
            colour=env.colour(args.no_color), ascii_only=args.ascii or not can_encode(env.stdout)
        )
        write_output(env.stdout, lambda out: render(report, fmt, out, style, short=args.short,
                                                    fail_on=settings.fail_on))
    return exit_status(report, settings)
