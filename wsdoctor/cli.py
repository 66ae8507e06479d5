"""Command line: ``main(argv, env) -> ExitStatus``. Only argparse is imported at start-up;
everything heavy is imported by the command that uses it."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from wsdoctor import __version__
from wsdoctor.exit import ExitStatus

if TYPE_CHECKING:
    from wsdoctor.report import Report
    from wsdoctor.reports.tui.source import Source
    from wsdoctor.settings import Settings

COMMANDS = ("explain", "demo", "show", "lint", "probe")

DESCRIPTION = """\
Diagnose WebSocket connections end to end: DNS, TCP, TLS, plain HTTP, the upgrade
handshake and messages (and, on request, idle timeout, affinity and the Kubernetes
objects behind the host). Each finding says what was seen, why, and the exact fix.

TARGET is host, host:port, host/path, ws://..., wss://..., http(s)://... (mapped to
ws/wss) or an IPv6 literal in brackets ([::1]:8443). Default scheme wss, path /."""

EPILOG = """\
other commands:
  wsdoctor explain CODE       print the documentation page of a finding code
  wsdoctor demo               diagnose a built-in local deployment with known faults
  wsdoctor show REPORT.json   render a saved JSON report again (no network)
  wsdoctor lint PATH...       check Kubernetes manifests for WebSocket problems (no network)
  wsdoctor probe --config F   scheduled probe: Prometheus exporter with /metrics and /probe

examples:
  wsdoctor wss://ws.example.com/chat
  wsdoctor ws.example.com --resolve ws.example.com:443:203.0.113.7   # one ingress IP
  wsdoctor wss://ws.example.com/ws -H 'Authorization: Bearer ...' --origin https://app.example.com
  wsdoctor ws.example.com --format json -o report.json --fail-on warn

exit status:
  0  no finding at or above --fail-on (default: fail)
  1  at least one finding at or above --fail-on
  2  usage error (bad target, option or configuration)
  3  could not run at all"""


@dataclass
class Environment:
    """The outside world as ``main`` sees it; tests pass their own."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    stdout_isatty: bool | None = None

    @property
    def is_tty(self) -> bool:
        """Whether stdout is an interactive terminal."""
        if self.stdout_isatty is not None:
            return self.stdout_isatty
        try:
            return self.stdout.isatty()
        except (AttributeError, ValueError):
            return False

    def colour(self, no_color_flag: bool) -> bool:
        """Colour only on a terminal, and never with NO_COLOR or --no-color."""
        return self.is_tty and not no_color_flag and not self.environ.get("NO_COLOR")


class UsageError(Exception):
    """A wrong command line: one line for the user, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _split_list(values: list[str] | None) -> list[str]:
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The parser for ``wsdoctor TARGET``."""
    parser = _Parser(
        prog="wsdoctor",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", metavar="TARGET", help="the WebSocket endpoint to diagnose")
    parser.add_argument("--version", action="version", version=f"wsdoctor {__version__}")
    net = parser.add_argument_group("connection")
    net.add_argument(
        "--resolve",
        action="append",
        metavar="HOST:PORT:ADDR",
        default=[],
        help="connect to ADDR for HOST:PORT, keeping SNI and Host (like curl); PORT may be * ",
    )
    net.add_argument(
        "--dns-server",
        metavar="ADDR[:PORT]",
        help="query this DNS server instead of the system resolver",
    )
    net.add_argument(
        "-H",
        "--header",
        action="append",
        metavar="'NAME: VALUE'",
        default=[],
        help="extra request header, repeatable (values are redacted in reports)",
    )
    net.add_argument("--origin", metavar="URL", help="Origin header for the upgrade request")
    net.add_argument(
        "--subprotocol",
        action="append",
        metavar="NAME",
        default=[],
        help="offer this subprotocol (Sec-WebSocket-Protocol), repeatable",
    )
    net.add_argument("--cacert", metavar="FILE", help="trust this CA bundle (PEM)")
    net.add_argument(
        "-k",
        "--insecure",
        action="store_true",
        help="go on past certificate errors (they are still reported)",
    )
    net.add_argument(
        "--timeout",
        type=_positive_float,
        default=5.0,
        metavar="SECONDS",
        help="time limit for each network step (default: 5)",
    )
    checks = parser.add_argument_group("checks")
    checks.add_argument(
        "--only",
        action="append",
        metavar="CHECK[,CHECK]",
        help="run only these checks (and what they need)",
    )
    checks.add_argument(
        "--skip", action="append", metavar="CHECK[,CHECK]", help="do not run these checks"
    )
    checks.add_argument(
        "--suppress",
        action="append",
        metavar="CODE[,CODE]",
        help="leave these finding codes out (accepted, known issues)",
    )
    checks.add_argument(
        "--message-size",
        type=_non_negative_int,
        default=1024 * 1024,
        metavar="BYTES",
        help="size of the large test message (default: 1 MiB)",
    )
    checks.add_argument(
        "--pings",
        type=_non_negative_int,
        default=5,
        metavar="N",
        help="ping/pong round trips to measure (default: 5)",
    )
    _add_lifetime_options(parser)
    kube = parser.add_argument_group("kubernetes (read-only)")
    kube.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)",
    )
    kube.add_argument("--context", metavar="NAME", help="kubeconfig context (default: current)")
    kube.add_argument(
        "-n", "--namespace", metavar="NS", help="read only this namespace (default: all readable)"
    )
    kube.add_argument(
        "--no-kubernetes", action="store_true", help="do not read the cluster behind the host"
    )
    kube.add_argument(
        "--read-tls-secret",
        action="store_true",
        help="read the route's TLS Secret (tls.crt only) to compare with the served certificate",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--format",
        choices=("auto", "text", "json", "markdown", "junit", "tui"),
        default="auto",
        help="auto = the interactive TUI on a terminal, text otherwise (default: auto); json is "
        "the canonical report; markdown for incident documents; junit for CI",
    )
    out.add_argument(
        "--short", action="store_true", help="failures only, one line each, for pasting into chat"
    )
    out.add_argument("-o", "--output", metavar="FILE", help="also write the JSON report to FILE")
    out.add_argument(
        "--fail-on",
        choices=("warn", "fail", "never"),
        default="fail",
        help="exit 1 when a finding is at least this severe (default: fail)",
    )
    out.add_argument(
        "--textfile",
        metavar="PATH",
        help="also write Prometheus metrics to PATH (node_exporter textfile collector; "
        "replaced atomically)",
    )
    out.add_argument(
        "--pushgateway", metavar="URL", help="also push Prometheus metrics to this Pushgateway"
    )
    out.add_argument(
        "--push-job", default="wsdoctor", metavar="NAME", help="Pushgateway job (default: wsdoctor)"
    )
    out.add_argument("--no-color", action="store_true", help="no colour (also: NO_COLOR=1)")
    out.add_argument("--ascii", action="store_true", help="ASCII marks instead of √ ‼ ×")
    out.add_argument(
        "--debug", action="store_true", help="show tracebacks and details of internal errors"
    )
    return parser


def _parse_resolve(text: str) -> tuple[str, int, str]:
    host, sep, rest = text.partition(":")
    port_text, sep2, address = rest.partition(":")
    if not (sep and sep2 and host and address):
        raise UsageError(f"--resolve {text!r}: expected HOST:PORT:ADDR")
    if port_text == "*":
        port = 0
    elif port_text.isdigit() and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        raise UsageError(f"--resolve {text!r}: {port_text!r} is not a port")
    address = address.strip("[]")
    import ipaddress

    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise UsageError(f"--resolve {text!r}: {address!r} is not an IP address") from None
    return host.lower(), port, address


def _parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or any(c in name for c in ' \t()<>@,;\\"/[]?={}'):
        raise UsageError(f"--header {text!r}: expected 'Name: value'")
    if "\r" in value or "\n" in value:
        raise UsageError(f"--header {name}: the value must not contain line breaks")
    return name, value.strip()


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Validated settings from parsed arguments; UsageError on a bad combination."""
    from wsdoctor.models import Status
    from wsdoctor.settings import Header, ResolvePin, Settings

    if args.cacert and not os.path.isfile(args.cacert):
        raise UsageError(f"--cacert {args.cacert}: no such file")
    if args.dns_server:
        _check_dns_server(args.dns_server)
    if args.origin is not None and "://" not in args.origin:
        raise UsageError(f"--origin {args.origin!r}: expected a URL such as https://app.example")
    pins = [ResolvePin(host=h, port=p, address=a) for h, p, a in map(_parse_resolve, args.resolve)]
    headers = [Header(name=n, value=v) for n, v in map(_parse_header, args.header)]
    return Settings(
        resolve=pins,
        dns_server=args.dns_server,
        headers=headers,
        origin=args.origin,
        subprotocols=_split_list(args.subprotocol),
        cafile=args.cacert,
        insecure=args.insecure,
        timeout=args.timeout,
        only=_split_list(args.only),
        skip=_split_list(args.skip),
        suppress=_split_list(args.suppress),
        message_size=args.message_size,
        pings=min(args.pings, 100),
        fail_on=None if args.fail_on == "never" else Status(args.fail_on),
        **_lifetime_settings(args),
        kubernetes=not args.no_kubernetes,
        kubeconfig=args.kubeconfig or getattr(args, "environ_kubeconfig", None),
        kube_context=args.context,
        namespace=args.namespace,
        read_tls_secret=args.read_tls_secret,
    )


def _add_lifetime_options(parser: argparse.ArgumentParser) -> None:
    """Options of the idle, keepalive, capture and affinity checks."""
    idle = parser.add_argument_group(
        "idle timeout and heartbeats (not run by default: they wait for the timeout)",
        "--idle holds a silent WebSocket open until something closes it (or --idle-max)\n"
        "and says who closed it and which known defaults match; alongside, a pinging\n"
        "connection shows whether heartbeats keep it open. --idle-max, --expect-idle,\n"
        "--ping-interval and --capture imply --idle (so does --only idle). The wait runs\n"
        "concurrently with the other checks: a run takes about the timeout found.",
    )
    idle.add_argument("--idle", action="store_true",
                      help="run the idle and keepalive checks")
    idle.add_argument("--idle-max", type=_positive_float, metavar="SECONDS",
                      help="longest wait for the idle timeout (default: 90; raise it for AWS "
                      "NLB 350 s, Azure LB 240 s)")
    idle.add_argument("--expect-idle", type=_positive_float, metavar="SECONDS",
                      help="idle seconds the application needs: a shorter timeout fails, with "
                      "the fix for the component whose default matches")
    idle.add_argument("--ping-interval", type=_positive_float, metavar="SECONDS",
                      help="the application's heartbeat interval to try (default: pings at "
                      "0.5, 1, 2, 4... s, which straddle any timeout)")
    idle.add_argument("--capture", action="store_true",
                      help="also sniff a silent connection (root or CAP_NET_RAW, libpcap): "
                      "which side sent the first FIN/RST and from how many hops")
    aff = parser.add_argument_group("session affinity")
    aff.add_argument("--affinity-cookie", action="append", metavar="NAME", default=[],
                     help="cookie that pins replicas, besides the proxies' default names")
    aff.add_argument("--backend-header", metavar="NAME",
                     help="response header naming the replica (default: X-Pod-Name, "
                     "X-Served-By, X-Backend-Server... if present)")
    aff.add_argument("--expect-affinity", action="store_true",
                     help="reconnects must reach the same replica: no affinity fails")
    aff.add_argument("--affinity-connections", type=_non_negative_int, default=6, metavar="N",
                     help="handshakes the affinity check makes (default: 6)")


def _lifetime_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Settings of the idle, keepalive, capture and affinity options."""
    enable: list[str] = []
    wants_idle = args.idle or args.capture or any(
        v is not None for v in (args.idle_max, args.expect_idle, args.ping_interval))
    if wants_idle:
        enable += ["idle", "keepalive"]
    if args.capture:
        enable.append("capture")
    if not 2 <= args.affinity_connections <= 50:
        raise UsageError("--affinity-connections must be between 2 and 50")
    values: dict[str, Any] = {
        "enable": enable,
        "expect_idle": args.expect_idle,
        "ping_interval": args.ping_interval,
        "affinity_cookie": _split_list(args.affinity_cookie),
        "backend_header": args.backend_header,
        "expect_affinity": args.expect_affinity,
        "affinity_connections": args.affinity_connections,
    }
    if args.idle_max is not None:
        values["idle_max"] = args.idle_max
    return values


def _check_dns_server(text: str) -> None:
    import ipaddress

    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":") or "53"
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--dns-server {text!r}: expected an IP address[:port]") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--dns-server {text!r}: {port!r} is not a port")


def report_options(settings: Settings) -> dict[str, Any]:
    """The settings as recorded in the report, secrets redacted."""
    from wsdoctor.settings import REDACTED

    data = settings.model_dump(mode="json")
    data["headers"] = [f"{h.name}: {REDACTED}" for h in settings.headers]
    data["resolve"] = [f"{p.host}:{p.port or '*'}:{p.address}" for p in settings.resolve]
    return {k: v for k, v in data.items() if not isinstance(v, dict)}


def exit_status(report: Report, settings: Settings) -> ExitStatus:
    """1 when a finding reaches --fail-on, else 0."""
    if settings.fail_on is None:
        return ExitStatus.OK
    threshold = settings.fail_on.rank
    return (
        ExitStatus.FINDINGS
        if any(f.status.rank >= threshold for f in report.findings)
        else ExitStatus.OK
    )


def write_report_file(report: Report, path: str) -> None:
    """Write the JSON report atomically (a half-written incident attachment is worse than none)."""
    from pathlib import Path

    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)


def diagnose_command(argv: Sequence[str], env: Environment) -> ExitStatus:
    """``wsdoctor TARGET``."""
    args = build_parser().parse_args(list(argv))
    args.environ_kubeconfig = env.environ.get("KUBECONFIG") or None
    from wsdoctor.target import TargetError, parse_target

    try:
        target = parse_target(args.target)
    except TargetError as exc:
        raise UsageError(f"target {args.target!r}: {exc}") from None
    try:
        settings = settings_from_args(args)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise UsageError(str(exc).splitlines()[0]) from None
    check_metrics_options(args)
    return execute(target, settings, args, env)


def check_metrics_options(args: argparse.Namespace) -> None:
    """``--textfile`` must be a ``.prom`` file (the only ones node_exporter reads) and
    ``--pushgateway`` an http(s) URL, before anything runs."""
    if args.textfile and not args.textfile.endswith(".prom"):
        raise UsageError(f"--textfile {args.textfile}: node_exporter's textfile collector reads "
                         "only files ending in .prom")
    gateway = args.pushgateway
    if gateway and "://" in gateway and not gateway.startswith(("http://", "https://")):
        raise UsageError(f"--pushgateway {gateway!r}: expected an http:// or https:// URL")


def execute(
    target: object, settings: Settings, args: argparse.Namespace, env: Environment
) -> ExitStatus:
    """Run a diagnosis and render it as asked; shared by ``wsdoctor TARGET`` and ``demo``."""
    import asyncio

    from wsdoctor.models import Target
    from wsdoctor.reports.text import TextRenderer, TextStyle
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
        return _finish_tui(run_tui(live, env, args.no_color), settings, args, env)
    style = TextStyle(
        colour=env.colour(args.no_color), ascii_only=args.ascii or not _can_encode(env.stdout)
    )
    sink = None
    if fmt == "text" and not args.short:
        sink = TextRenderer(env.stdout, style, order, target.url)
    report = asyncio.run(diagnose(target, settings, sink=sink, options=report_options(settings)))
    if sink is None:
        from wsdoctor.reports import render

        render(report, fmt, env.stdout, style, short=args.short, fail_on=settings.fail_on)
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


def write_metrics(report: Report, settings: Settings, args: argparse.Namespace,
                  env: Environment) -> bool:
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
            env.stderr.write(f"wsdoctor: cannot push metrics to {args.pushgateway}: {exc}\n")
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
        from wsdoctor.reports.text import TextStyle, summary_line

        style = TextStyle(colour=env.colour(no_color), ascii_only=not _can_encode(env.stdout))
        env.stdout.write(summary_line(report, style) + "\n")
        env.stdout.flush()
    return report


def _finish_tui(
    report: Report | None, settings: Settings, args: argparse.Namespace, env: Environment
) -> ExitStatus:
    """After a live TUI run: write -o, and the exit status of the run."""
    if report is None:
        env.stderr.write("wsdoctor: quit before the diagnosis finished (no report)\n")
        return ExitStatus.CANNOT_RUN
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


def load_report(path: str) -> Report:
    """A saved JSON report; UsageError (one line) when missing or not a wsdoctor report."""
    from pathlib import Path

    from pydantic import ValidationError

    from wsdoctor.report import Report

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
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
    parser = _Parser(
        prog="wsdoctor show",
        description="Open a saved JSON report again (no network): the interactive TUI on a "
        "terminal, the text report otherwise.",
    )
    parser.add_argument("report", metavar="REPORT.json", help="a report from --format json or -o")
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
    report = load_report(args.report)
    from wsdoctor.models import Status
    from wsdoctor.reports import render
    from wsdoctor.reports.text import TextStyle
    from wsdoctor.settings import Settings

    settings = Settings(fail_on=None if args.fail_on == "never" else Status(args.fail_on))
    fmt = args.format
    if fmt == "auto":
        fmt = "tui" if env.is_tty and not args.short else "text"
    if fmt == "tui":
        from pathlib import Path

        run_tui(report, env, args.no_color, saved_from=Path(args.report).name)
    else:
        style = TextStyle(
            colour=env.colour(args.no_color), ascii_only=args.ascii or not _can_encode(env.stdout)
        )
        render(report, fmt, env.stdout, style, short=args.short, fail_on=settings.fail_on)
    return exit_status(report, settings)


def _can_encode(stream: TextIO) -> bool:
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "√‼×—→".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def explain_command(argv: Sequence[str], env: Environment) -> ExitStatus:
    """``wsdoctor explain CODE``: print the documentation page of a finding code."""
    parser = _Parser(
        prog="wsdoctor explain", description="Print the documentation page of a finding code."
    )
    parser.add_argument("code", metavar="CODE", help="e.g. WSD-TLS-EXPIRED (case-insensitive)")
    args = parser.parse_args(list(argv))
    from wsdoctor.docs import DocsError, explain

    try:
        env.stdout.write(explain(args.code))
    except DocsError as exc:
        raise UsageError(str(exc)) from None
    return ExitStatus.OK


def lint_command(argv: Sequence[str], env: Environment) -> ExitStatus:
    """``wsdoctor lint PATH...``: the cluster rules on manifests, no network, no cluster."""
    from wsdoctor.kube.lint import build_lint_parser, lint, render
    from wsdoctor.kube.manifests import ManifestError
    from wsdoctor.kube.rulebase import RuleOptions
    from wsdoctor.models import Status

    args = build_lint_parser(_Parser).parse_args(list(argv))
    if not args.expect_idle > 0:
        raise UsageError(f"--expect-idle {args.expect_idle}: must be a positive number of seconds")
    try:
        _, report = lint(
            args.paths,
            RuleOptions(expect_idle=args.expect_idle),
            env.stdin,
            set(_split_list(args.suppress)),
        )
    except ManifestError as exc:
        raise UsageError(str(exc)) from None
    colour = env.colour(args.no_color) and not args.output
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as out:
                render(report, args.format, out, False, args.ascii)
        except OSError as exc:
            env.stderr.write(f"wsdoctor: cannot write {args.output}: {exc.strerror or exc}\n")
            return ExitStatus.CANNOT_RUN
    else:
        render(report, args.format, env.stdout, colour, args.ascii or not _can_encode(env.stdout))
    if args.fail_on == "never":
        return ExitStatus.OK
    threshold = Status(args.fail_on).rank
    failed = any(lf.finding.status.rank >= threshold for lf in report.findings)
    return ExitStatus.FINDINGS if failed else ExitStatus.OK


def demo_argv(url: str, pins: list[str], ca_file: str, kubeconfig: str) -> list[str]:
    """The command line the demo runs (printed, so it can be copied and tried by hand)."""
    argv = [url]
    for pin in pins:
        argv += ["--resolve", pin]
    return [
        *argv,
        "--cacert", ca_file,
        "--kubeconfig", kubeconfig,  # the demo's fake cluster, never the user's own
        "--idle", "--idle-max", "8", "--expect-idle", "60",
        "--expect-affinity",
    ]


def demo_command(argv: Sequence[str], env: Environment) -> ExitStatus:
    """``wsdoctor demo``: start a local deployment with known faults and diagnose it."""
    parser = _Parser(
        prog="wsdoctor demo",
        description="Start a small WebSocket deployment on loopback (two replicas behind nginx "
        "configured like ingress-nginx, with deliberate faults) and diagnose it. Everything "
        "it starts is stopped when it ends. Needs nginx (Debian: apt-get install nginx-light).",
    )
    parser.add_argument("--serve", action="store_true",
                        help="keep the deployment running (Ctrl-C stops it) and print how to "
                             "diagnose it by hand")
    parser.add_argument("--format", choices=("auto", "text", "json", "markdown", "junit", "tui"),
                        default="auto")
    parser.add_argument("--short", action="store_true", help="failures only")
    parser.add_argument("-o", "--output", metavar="FILE", help="also write the JSON report")
    parser.add_argument("--no-color", action="store_true")
    parser.add_argument("--ascii", action="store_true")
    args = parser.parse_args(list(argv))
    from wsdoctor.lab.demo import demo_deployment
    from wsdoctor.lab.proxies import LabError

    try:
        with demo_deployment() as demo:
            run_argv = demo_argv(
                demo.url, demo.resolve_pins(), str(demo.ca_file), str(demo.kubeconfig)
            )
            shown = " ".join(run_argv)
            if args.serve:
                env.stdout.write(
                    f"demo deployment running; diagnose it with:\n\n  wsdoctor {shown}\n\n"
                    "Ctrl-C stops it.\n")
                env.stdout.flush()
                import time

                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    return ExitStatus.OK
            if args.format != "json":
                env.stderr.write(f"wsdoctor demo: running  wsdoctor {shown}\n")
            passthrough = ["--format", args.format]
            passthrough += ["--short"] if args.short else []
            passthrough += ["-o", args.output] if args.output else []
            passthrough += ["--no-color"] if args.no_color else []
            passthrough += ["--ascii"] if args.ascii else []
            status = diagnose_command([*run_argv, *passthrough], env)
    except LabError as exc:
        env.stderr.write(f"wsdoctor demo: cannot start the demo deployment: {exc}\n")
        return ExitStatus.CANNOT_RUN
    # The demo exists to show findings: finding them is success.
    return ExitStatus.OK if status in (ExitStatus.OK, ExitStatus.FINDINGS) else status


def probe_command(argv: Sequence[str], env: Environment) -> ExitStatus:
    """``wsdoctor probe``: the scheduled health probe (Prometheus exporter)."""
    from wsdoctor.exporter.command import probe_main

    return probe_main(argv, env)


def main(argv: Sequence[str], env: Environment | None = None) -> ExitStatus:
    """Entry point: dispatch to a command, turn every user error into one line and exit 2."""
    env = env or Environment()
    debug = "--debug" in argv
    commands = {
        "explain": explain_command,
        "demo": demo_command,
        "lint": lint_command,
        "probe": probe_command,
        "show": show_command,
    }
    try:
        if argv and argv[0] in commands:
            return commands[argv[0]](argv[1:], env)
        return diagnose_command(argv, env)
    except UsageError as exc:
        env.stderr.write(f"wsdoctor: error: {exc} (see 'wsdoctor --help')\n")
        return ExitStatus.USAGE
    except KeyboardInterrupt:
        env.stderr.write("wsdoctor: interrupted\n")
        return ExitStatus.CANNOT_RUN
    except SystemExit as exc:  # --help / --version
        return ExitStatus(exc.code) if isinstance(exc.code, int) else ExitStatus.OK
    except Exception as exc:
        if debug:
            import traceback

            traceback.print_exc(file=env.stderr)
        env.stderr.write(
            f"wsdoctor: could not run: {type(exc).__name__}: {exc}"
            + ("" if debug else " (run with --debug for details)")
            + "\n"
        )
        return ExitStatus.CANNOT_RUN


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(int(main(sys.argv[1:])))
