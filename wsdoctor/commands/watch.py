"""``wsdoctor watch TARGET``: hold connections for a long time and name what cut each one."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from wsdoctor.commands.netoptions import (
    add_backend_header_option,
    add_connection_options,
    add_kubernetes_options,
    add_verdict_output_options,
    connection_settings,
    target_of,
)
from wsdoctor.commands.options_clients import add_client_options, client_settings
from wsdoctor.console import Environment, Parser, UsageError
from wsdoctor.durations import positive_duration
from wsdoctor.exit import ExitStatus

if TYPE_CHECKING:
    from wsdoctor.models import Target
    from wsdoctor.report import Report
    from wsdoctor.settings import Settings
    from wsdoctor.watch.model import WatchOptions
    from wsdoctor.watch.session import WatchEvent, WatchSession

DESCRIPTION = """\
Hold WebSocket connections to TARGET for a long time, record how each one ends (close
frame and code, FIN, reset, or silence found by an unanswered ping), reconnect with
backoff, and name what cut it: a pod that terminated, a proxy reload, an idle or lifetime
timeout, a load balancer that dropped the flow. With a kubeconfig the Pods, EndpointSlices,
Deployments, ReplicaSets, HPAs, Events, Ingresses and the controller's ConfigMap behind the
target's route are watched (read-only), and a drop is matched to the change that caused it.

Ctrl-C (or SIGTERM) ends the watch with the summary. With -o the JSON report is rewritten
within about a second of every change, so it survives even kill -9; `wsdoctor show FILE`
opens it again."""

EPILOG = """\
examples:
  wsdoctor watch wss://chat.example.com/ws --duration 8h -o drops.json
  wsdoctor watch wss://chat.example.com/ws --heartbeat 25s     # as the app's clients ping
  wsdoctor watch chat.example.com --resolve chat.example.com:443:203.0.113.7 -c 20

heartbeats:
  without --heartbeat nothing is sent except a ping after --echo quiet seconds (default 5m),
  so idle timeouts show; with the clients' heartbeat they do not, and the drops that remain
  are the ones the clients see. Every ping must be answered within --pong-timeout, or the
  connection counts as silently dropped."""


def _duration_or_none(text: str) -> float | None:
    if text.strip().lower() in ("none", "off", "no", "0"):
        return None
    return positive_duration(text)


def _forever_or_duration(text: str) -> float | None:
    if text.strip().lower() in ("forever", "none", "0"):
        return None
    return positive_duration(text)


def build_watch_parser() -> argparse.ArgumentParser:
    """The parser of ``wsdoctor watch``: its own options, then the main command's connection
    and kubernetes groups."""
    parser = Parser(prog="wsdoctor watch", description=DESCRIPTION, epilog=EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", metavar="TARGET", help="the WebSocket endpoint to watch")
    hold = parser.add_argument_group("holding")
    hold.add_argument("--duration", type=_forever_or_duration, default=3600.0,
                      metavar="DURATION", help="how long to watch: 90s, 30m, 8h, or 'forever' "
                      "(until Ctrl-C; default: 1h)")
    hold.add_argument("-c", "--connections", type=int, default=4, metavar="N",
                      help="connections held at once, spread over the addresses (default: 4, "
                      "at most 10000)")
    hold.add_argument("--heartbeat", type=_duration_or_none, default=None, metavar="DURATION",
                      help="ping every DURATION like the application's clients (default: none, "
                      "so idle timeouts show)")
    hold.add_argument("--echo", type=_duration_or_none, default=300.0, metavar="DURATION",
                      help="without a heartbeat, ping after DURATION quiet to find silent "
                      "drops; 'none' never pings (default: 5m)")
    hold.add_argument("--pong-timeout", type=positive_duration, default=5.0, metavar="DURATION",
                      help="a ping unanswered this long is a silent drop (default: 5s)")
    hold.add_argument("--backoff", type=positive_duration, default=0.5, metavar="DURATION",
                      help="first wait before reconnecting, doubled after each failure up to "
                      "30 s (default: 0.5s)")
    add_backend_header_option(hold)
    add_connection_options(parser)
    add_client_options(parser, messages=False)
    add_kubernetes_options(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=("auto", "text", "json", "tui"), default="auto",
                     help="auto = the live timeline on a terminal, one line per event otherwise "
                     "(default: auto); json prints the final report")
    out.add_argument("-o", "--output", metavar="FILE",
                     help="write the JSON report to FILE as the watch goes (atomically)")
    add_verdict_output_options(out)
    return parser


def watch_options(args: argparse.Namespace) -> WatchOptions:
    """The holding options; UsageError on a bad combination."""
    from wsdoctor.watch.model import WatchOptions

    if not 1 <= args.connections <= 10_000:
        raise UsageError("--connections must be between 1 and 10000")
    return WatchOptions(
        connections=args.connections, duration=args.duration, heartbeat=args.heartbeat,
        echo=args.echo, pong_timeout=args.pong_timeout, backoff_initial=args.backoff,
        open_interval=min(0.5, 20.0 / args.connections),
    )


def watch_command(argv: Sequence[str], env: Environment) -> ExitStatus:
    """``wsdoctor watch TARGET``."""
    args = build_watch_parser().parse_args(list(argv))
    args.environ_kubeconfig = env.environ.get("KUBECONFIG") or None
    from wsdoctor.commands.diagnose import exit_status
    from wsdoctor.commands.options import suppressed_codes
    from wsdoctor.console import unwritable
    from wsdoctor.models import Status
    from wsdoctor.settings import Settings

    target = target_of(args.target)
    try:
        settings = Settings(**connection_settings(args),
                            **client_settings(args, target.host, target.secure, env.environ,
                                              target.port),
                            backend_header=args.backend_header,
                            suppress=suppressed_codes(args.suppress),
                            fail_on=None if args.fail_on == "never" else Status(args.fail_on))
        options = watch_options(args)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise UsageError(str(exc).splitlines()[0]) from None
    _raise_fd_limit(options.connections)
    problem = unwritable(args.output) if args.output else None
    if problem:
        env.stderr.write(f"wsdoctor: cannot write the report to {args.output}: {problem}\n")
        return ExitStatus.CANNOT_RUN
    fmt = args.format
    if fmt == "auto":
        fmt = "tui" if env.is_tty else "text"
    if fmt == "tui":
        report = _run_tui(target, settings, options, args, env)
    else:
        report = _run_plain(target, settings, options, args, env, fmt)
    if report is None:
        return ExitStatus.CANNOT_RUN
    return exit_status(report, settings)


def _raise_fd_limit(connections: int) -> None:
    """Each held connection is a file descriptor: raise the soft limit (up to the hard one)
    when the default (often 1024) is too low; UsageError when even the hard one is."""
    from wsdoctor.fdlimits import raise_fd_limit

    needed = connections + 128  # the cluster's streams, the report, the terminal, margins
    limits = raise_fd_limit(needed)
    if limits.soft is not None and limits.soft < needed:
        raise UsageError(f"--connections {connections} needs about {needed} open files; "
                         f"the limit is {limits.hard} (raise it with ulimit -n)")


def _session(target: Target, settings: Settings, options: WatchOptions,
             args: argparse.Namespace, sink: Callable[[WatchEvent], None] | None
             ) -> WatchSession:
    from wsdoctor.commands.options import report_options
    from wsdoctor.watch.session import WatchSession

    recorded = {**report_options(settings),
                **{f"watch_{k}": v for k, v in options.model_dump().items()}}
    return WatchSession(target, settings, options, sink=sink, report_path=args.output,
                        report_options=recorded)


def _run_plain(target: Target, settings: Settings, options: WatchOptions,
               args: argparse.Namespace, env: Environment, fmt: str) -> Report | None:
    """Text (one line per event) or JSON (the final report), until the end or a signal."""
    import asyncio
    import signal

    from wsdoctor.reports.text import TextStyle, can_encode
    from wsdoctor.watch.text import WatchTextStream

    style = TextStyle(colour=env.colour(args.no_color),
                      ascii_only=args.ascii or not can_encode(env.stdout))
    sink = WatchTextStream(env.stdout, style, target.url) if fmt == "text" else None
    session = _session(target, settings, options, args, sink)

    async def main() -> Report:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        handled = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
                handled.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                pass
        try:
            return await session.run(stop)
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)

    report = asyncio.run(main())
    if fmt == "json":
        env.stdout.write(report.to_json())  # C1 and bidi controls escaped, as every JSON
        env.stdout.flush()
    if session.write_error:
        env.stderr.write(f"wsdoctor: {session.write_error}\n")
        return None
    return report


def _run_tui(target: Target, settings: Settings, options: WatchOptions,
             args: argparse.Namespace, env: Environment) -> Report | None:
    """The live timeline on the terminal."""
    if not env.is_tty:
        raise UsageError("--format tui needs a terminal (use --format text or json)")
    from wsdoctor.reports.tui.watch import run_watch_tui

    session = _session(target, settings, options, args, None)
    no_color = args.no_color or bool(env.environ.get("NO_COLOR"))
    report = run_watch_tui(session, no_color=no_color)
    if report is not None:
        from wsdoctor.reports.text import TextStyle, can_encode, summary_line

        style = TextStyle(colour=env.colour(args.no_color), ascii_only=not can_encode(env.stdout))
        env.stdout.write(summary_line(report, style) + "\n")
    if session.write_error:
        env.stderr.write(f"wsdoctor: {session.write_error}\n")
        return None
    return report
