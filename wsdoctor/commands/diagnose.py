"""``wsdoctor TARGET``: run a diagnosis and render it (text, JSON, TUI...), write the report
and metrics files, and decide the exit status."""

from __future__ import annotations

import argparse

from wsdoctor.commands.netoptions import target_of
from wsdoctor.commands.options import build_parser, report_options, settings_from_args
from wsdoctor.console import Environment, RunFailed, UsageError, unwritable, write_output
from wsdoctor.exit import ExitStatus

TYPE_CHECKING = False  # not typing's: `wsdoctor --help` does without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from wsdoctor.report import Report
    from wsdoctor.reports.tui.source import Source
    from wsdoctor.runner import Event, EventSink
    from wsdoctor.settings import Settings


def exit_status(report: Report, settings: Settings) -> ExitStatus:
    """1 when a finding reaches --fail-on; else 4 when a check ended in error (whatever
    --fail-on says: an incomplete diagnosis is never a pass); else 0."""
    from wsdoctor.models import CheckStatus

    threshold = settings.fail_on.rank if settings.fail_on is not None else None
    if threshold is not None and any(f.status.rank >= threshold for f in report.findings):
        return ExitStatus.FINDINGS
    if any(c.status is CheckStatus.ERROR for c in report.checks):
        return ExitStatus.INCOMPLETE
    return ExitStatus.OK


def write_report_file(report: Report, path: str) -> None:
    """Write the JSON report atomically (a half-written incident attachment is worse than
    none); a device such as /dev/stdout is written through, never replaced."""
    from wsdoctor.files import write_replacing

    write_replacing(path, report.to_json().encode("utf-8"))


def diagnose_command(
    argv: Sequence[str],
    env: Environment,
    *,
    parser: argparse.ArgumentParser | None = None,
    adjust: Callable[[Settings, argparse.Namespace], Settings] | None = None,
) -> ExitStatus:
    """``wsdoctor TARGET``; ``wsdoctor bisect`` passes its parser and what it adds to the
    settings."""
    args = (parser or build_parser()).parse_args(list(argv))
    args.environ_kubeconfig = env.environ.get("KUBECONFIG") or None
    from wsdoctor.validate import first_error

    target = target_of(args.target)
    try:
        settings = settings_from_args(args, env.environ)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise UsageError(first_error(exc)) from None
    if adjust is not None:
        settings = adjust(settings, args)
    check_metrics_options(args)
    for path, what in ((args.output, "the report"), (args.textfile, "metrics")):
        problem = unwritable(path) if path else None
        if problem:  # say so now, not after a long idle measurement
            env.stderr.write(f"wsdoctor: cannot write {what} to {path}: {problem}\n")
            return ExitStatus.CANNOT_RUN
    try:
        return execute(target, settings, args, env)
    except (UsageError, BrokenPipeError):
        raise
    except Exception as exc:  # a crash's message may quote what a server echoed
        raise RunFailed(exc, settings.redactor()) from exc


def check_metrics_options(args: argparse.Namespace) -> None:
    """``--textfile`` must be a ``.prom`` file (the only ones node_exporter reads) and
    ``--pushgateway`` an http(s) URL, before anything runs."""
    if args.textfile and not args.textfile.endswith(".prom"):
        raise UsageError(
            f"--textfile {args.textfile}: node_exporter's textfile collector reads "
            "only files ending in .prom"
        )
    if args.pushgateway is not None:
        from wsdoctor.exporter.oneshot import split_gateway
        from wsdoctor.redact import mask_userinfo

        try:
            split_gateway(args.pushgateway)
        except ValueError as exc:
            raise UsageError(f"--pushgateway {mask_userinfo(args.pushgateway)!r}: {exc}") from None


def execute(
    target: object, settings: Settings, args: argparse.Namespace, env: Environment,
    extra_sink: EventSink | None = None,
) -> ExitStatus:
    """Run a diagnosis and render it as asked; shared by ``wsdoctor TARGET``, ``demo`` and
    ``load``. ``extra_sink`` also gets the run's events (outside the TUI)."""
    import asyncio

    from wsdoctor.models import Target
    from wsdoctor.reports.text import TextRenderer, TextStyle, can_encode
    from wsdoctor.runner import SelectionError, diagnose, select_checks

    assert isinstance(target, Target)
    try:
        order = [c.id for c in select_checks(settings)]
    except SelectionError as exc:
        raise UsageError(str(exc)) from None
    fmt = args.format
    if fmt == "auto":
        fmt = "tui" if env.is_tty and not args.short else "text"
    if fmt == "tui":
        from wsdoctor.reports.tui import LiveRun

        live = LiveRun(target, settings, options=report_options(settings))
        tui_report = run_tui(live, env, args.no_color)
        if tui_report is None:
            env.stderr.write("wsdoctor: quit before the diagnosis finished (no report)\n")
            return ExitStatus.CANNOT_RUN
        return finish(tui_report, settings, args, env)
    style = TextStyle(
        colour=env.colour(args.no_color), ascii_only=args.ascii or not can_encode(env.stdout)
    )
    sink: EventSink | None = None
    if fmt == "text" and not args.short:
        sink = TextRenderer(env.stdout, style, order, target.url)
    if extra_sink is not None:
        sink = _both(sink, extra_sink)
    report = asyncio.run(diagnose(target, settings, sink=sink, options=report_options(settings)))
    if sink is None:
        from wsdoctor.reports import render

        write_output(env.stdout, lambda out: render(report, fmt, out, style, short=args.short,
                                                    fail_on=settings.fail_on))
    return finish(report, settings, args, env)


def _both(first: EventSink | None, second: EventSink) -> EventSink:
    """One sink that passes every event to ``first`` (if any), then ``second``."""

    def sink(event: Event) -> None:
        if first is not None:
            first(event)
        second(event)

    return sink


def finish(
    report: Report, settings: Settings, args: argparse.Namespace, env: Environment
) -> ExitStatus:
    """After a run, whatever showed it: write -o and the metrics files; the exit status."""
    if args.output:
        try:
            write_report_file(report, args.output)
        except OSError as exc:
            env.stderr.write(
                f"wsdoctor: cannot write the report to {args.output}: {exc.strerror or exc}\n"
            )
            return ExitStatus.CANNOT_RUN
    if not write_metrics(report, settings, args, env):
        return ExitStatus.CANNOT_RUN
    return exit_status(report, settings)


def write_metrics(
    report: Report, settings: Settings, args: argparse.Namespace, env: Environment
) -> bool:
    """``--textfile`` and ``--pushgateway``; False (and one line on stderr) when one failed."""
    if getattr(args, "textfile", None):
        from wsdoctor.exporter.oneshot import write_textfile

        try:
            write_textfile(report, settings, args.textfile)
        except OSError as exc:
            env.stderr.write(
                f"wsdoctor: cannot write metrics to {args.textfile}: {exc.strerror or exc}\n"
            )
            return False
    if getattr(args, "pushgateway", None):
        from wsdoctor.exporter.oneshot import push

        try:
            push(report, settings, args.pushgateway, args.push_job)
        except OSError as exc:  # URLError and HTTPError are OSErrors
            from wsdoctor.redact import Redactor, mask_userinfo, url_secrets
            from wsdoctor.untrusted import one_line

            # The gateway's answer (an HTTP reason phrase) is the server's text: escaped, and
            # without the run's secrets nor the gateway URL's credentials (sent as Basic).
            redact = Redactor([*url_secrets(args.pushgateway), *settings.redactor_secrets()])
            env.stderr.write(one_line(redact.text(f"wsdoctor: cannot push metrics to "
                                                  f"{mask_userinfo(args.pushgateway)}: {exc}"))
                             + "\n")
            return False
    return True


def run_tui(
    source: Source, env: Environment, no_color: bool, saved_from: str | None = None
) -> Report | None:
    """Run the Textual TUI on the terminal; the final report, or None if quit before it."""
    if not env.is_tty:
        raise UsageError("--format tui needs a terminal (use --format text or json)")
    from wsdoctor.reports.tui import make_app

    no_color = no_color or bool(env.environ.get("NO_COLOR"))
    app = make_app(source, saved_from=saved_from, no_color=no_color)
    report = app.run()
    if app.return_code:
        raise RuntimeError("the TUI stopped on an internal error")
    if report is None and app.run_error:
        raise RuntimeError(f"the diagnosis failed: {app.run_error}")
    if report is not None:  # the verdict stays in the terminal after the screen is gone
        from wsdoctor.reports.text import TextStyle, can_encode, summary_line

        style = TextStyle(colour=env.colour(no_color), ascii_only=not can_encode(env.stdout))
        env.stdout.write(summary_line(report, style) + "\n")
        env.stdout.flush()
    return report
