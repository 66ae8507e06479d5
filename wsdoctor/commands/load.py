"""``wsdoctor load TARGET --connections N``: a bounded load run that finds the connection cap,
how it refuses, and the setting behind it.

A command of its own rather than an option of ``wsdoctor TARGET``: a diagnosis opens a
handful of connections, a load run deliberately opens many, so it needs its own consent (an
explicit N, capped), its own knobs (rate, hold, messages) and its own Ctrl-C (stop the ramp,
close everything, still report). It runs through the same runner, report and renderers, with
the same connection and kubernetes options."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
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
from wsdoctor.console import Environment, Parser, RunFailed, UsageError, unwritable
from wsdoctor.durations import positive_duration
from wsdoctor.exit import ExitStatus

if TYPE_CHECKING:
    from wsdoctor.runner import Event
    from wsdoctor.settings import LoadPlan

#: Connections a run may open without --allow-many (the model caps any run further).
SAFE_CONNECTIONS = 1000
MAX_RATE = 2000.0

DESCRIPTION = """\
Open up to N WebSocket connections to TARGET at a steady rate, hold them, optionally send
messages on each, and report like k6 (connect-time percentiles, sessions, failures by
cause, round trips under load) plus the number of connections at which refusals started,
how they looked (status, headers, body, close code), how the connections spread over the
replicas, and, with a kubeconfig, the configured limit that explains the cap (ingress-nginx
limit-connections, HAProxy maxconn, Istio connectionPool, Traefik inFlightReq, the
application's MAX_CONNECTIONS...).

Gentle by default: N is required and at most 1000 without --allow-many; the ramp is gradual;
the ramp stops once refusals are steady; Ctrl-C stops it and closes every connection within
a second, and the run is still reported. Only load what you are allowed to load."""

EPILOG = """\
examples:
  wsdoctor load wss://chat.example.com/ws -c 500            # ramp to 500 at 50/s, hold 10 s
  wsdoctor load wss://chat.example.com/ws -c 5000 --rate 250 --allow-many -o load.json
  wsdoctor load ws://10.0.0.7/ws -c 200 --message-rate 1    # round trips under load (echo)

exit status: 0 all connections held; 1 a cap or other failure (see --fail-on); 2 usage;
3 could not run"""


def default_rate(connections: int) -> float:
    """A ramp of about ten seconds: N/10 per second, between 5 and 200."""
    return float(min(200, max(5, round(connections / 10))))


def build_load_parser() -> argparse.ArgumentParser:
    """The parser of ``wsdoctor load``: its own options, then the main command's connection
    and kubernetes groups."""
    parser = Parser(prog="wsdoctor load", description=DESCRIPTION, epilog=EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", metavar="TARGET", help="the WebSocket endpoint to load")
    run = parser.add_argument_group("load")
    run.add_argument("-c", "--connections", type=int, required=True, metavar="N",
                     help=f"connections to open and hold (at most {SAFE_CONNECTIONS} without "
                     "--allow-many)")
    run.add_argument("--rate", type=float, metavar="PER_SECOND",
                     help="new connections per second (default: N/10, between 5 and 200)")
    run.add_argument("--hold", type=_duration_or_zero, default=10.0, metavar="DURATION",
                     help="how long to hold them after the ramp (default: 10s; 0: close at "
                     "once)")
    run.add_argument("--message-rate", type=float, default=0.0, metavar="PER_SECOND",
                     help="messages per second on each held connection, to time round trips "
                     "under load (the application must echo; default: none)")
    run.add_argument("--message-size", type=int, default=64, metavar="BYTES",
                     help="size of each message (default: 64)")
    run.add_argument("--steady-refusals", type=int, default=5, metavar="K",
                     help="stop the ramp after K refused attempts in a row (default: 5; 0: "
                     "never stop early)")
    run.add_argument("--allow-many", action="store_true",
                     help=f"allow more than {SAFE_CONNECTIONS} connections (up to "
                     "this machine's open-file limit)")
    add_backend_header_option(run)
    add_connection_options(parser)
    add_client_options(parser, messages=False)
    add_kubernetes_options(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--format", choices=("auto", "text", "json", "markdown", "junit", "tui"),
                     default="auto", help="auto = the interactive TUI on a terminal, text "
                     "otherwise (default: auto); json is the canonical report")
    out.add_argument("--short", action="store_true",
                     help="failures only, one line each, for pasting into chat")
    out.add_argument("-o", "--output", metavar="FILE", help="also write the JSON report to FILE")
    add_verdict_output_options(out)
    return parser


def _duration_or_zero(text: str) -> float:
    return 0.0 if text.strip() in ("0", "0s") else positive_duration(text)


def load_plan(args: argparse.Namespace) -> LoadPlan:
    """The plan from the command line; UsageError when it is not safe or not sane."""
    from wsdoctor.settings import MAX_CONNECTIONS, LoadPlan

    n = args.connections
    if n < 1:
        raise UsageError("--connections must be at least 1")
    if n > SAFE_CONNECTIONS and not args.allow_many:
        raise UsageError(f"--connections {n} is more than {SAFE_CONNECTIONS}: add --allow-many "
                         "if the target is yours to load")
    if n > MAX_CONNECTIONS:  # also with --allow-many: one process, one machine
        raise UsageError(f"--connections {n} is more than {MAX_CONNECTIONS}, the most one run "
                         "opens (run from several machines for more)")
    rate = default_rate(n) if args.rate is None else args.rate
    if not 0 < rate <= MAX_RATE or rate != rate:
        raise UsageError(f"--rate must be above 0 and at most {MAX_RATE:g} per second")
    if not 0 <= args.message_rate <= 100 or args.message_rate != args.message_rate:
        raise UsageError("--message-rate must be between 0 and 100 per second")
    if not 16 <= args.message_size <= 1024 * 1024:
        raise UsageError("--message-size must be between 16 and 1048576 bytes")
    if args.steady_refusals < 0:
        raise UsageError("--steady-refusals must not be negative")
    return LoadPlan(connections=n, rate=rate, hold_s=args.hold, message_rate=args.message_rate,
                    message_size=args.message_size, steady_refusals=args.steady_refusals)


def load_command(argv: Sequence[str], env: Environment) -> ExitStatus:
    """``wsdoctor load TARGET``."""
    args = build_load_parser().parse_args(list(argv))
    args.environ_kubeconfig = env.environ.get("KUBECONFIG") or None
    from wsdoctor.commands.diagnose import check_metrics_options, execute
    from wsdoctor.commands.options import suppressed_codes
    from wsdoctor.models import Status
    from wsdoctor.settings import Settings
    from wsdoctor.validate import first_error

    target = target_of(args.target)
    if args.format == "json" and args.short:
        raise UsageError("--short is a text view: use it without --format json (or use -o)")
    try:
        settings = Settings(
            **connection_settings(args),
            **client_settings(args, target.host, target.secure, env.environ, target.port),
            only=["load"] if args.no_kubernetes else ["load", "cluster"],
            suppress=suppressed_codes(args.suppress),
            fail_on=None if args.fail_on == "never" else Status(args.fail_on),
            backend_header=args.backend_header,
            load=load_plan(args),
        )
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise UsageError(first_error(exc)) from None
    from wsdoctor.fdlimits import fd_shortfall

    assert settings.load is not None
    shortfall = fd_shortfall(settings.load.connections)
    if shortfall:  # said now: the report's WSD-LOAD-CLIENT-LIMIT comes after the run
        env.stderr.write(f"wsdoctor: {shortfall}\n")
    args.textfile = args.pushgateway = None
    check_metrics_options(args)
    if args.output and (problem := unwritable(args.output)):
        env.stderr.write(f"wsdoctor: cannot write the report to {args.output}: {problem}\n")
        return ExitStatus.CANNOT_RUN
    if not args.no_kubernetes:
        _import_cluster_client()
    try:
        return execute(target, settings, args, env, extra_sink=_progress_line(env))
    except (UsageError, BrokenPipeError):
        raise
    except Exception as exc:
        raise RunFailed(exc, settings.redactor()) from exc


def _import_cluster_client() -> None:
    """Import the cluster check's client before the run, not during it: the client meter
    counts the memory the process gains once the ramp starts as the connections' (the
    kubernetes client alone is ~35 MiB)."""
    import importlib

    for name in ("kubernetes.client", "wsdoctor.kube.reader"):
        try:
            importlib.import_module(name)
        except ImportError:  # the cluster check says so in the report
            pass


def _progress_line(env: Environment) -> ProgressLine | None:
    """A one-line progress display on stderr, when stderr is a terminal."""
    try:
        interactive = env.stderr.isatty()
    except (AttributeError, ValueError):
        interactive = False
    return ProgressLine(env) if interactive else None


class ProgressLine:
    """Rewrites one stderr line with the load run's progress; clears it when it ends."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.shown = False

    def __call__(self, event: Event) -> None:
        from wsdoctor.runner import CheckFinished, CheckProgress
        from wsdoctor.untrusted import one_line

        if isinstance(event, CheckProgress) and event.check_id == "load":
            self.env.stderr.write(f"\r\x1b[2Kload: {one_line(event.message)}")
            self.env.stderr.flush()
            self.shown = True
        elif isinstance(event, CheckFinished) and event.check.id == "load" and self.shown:
            self.env.stderr.write("\r\x1b[2K")
            self.env.stderr.flush()
            self.shown = False
