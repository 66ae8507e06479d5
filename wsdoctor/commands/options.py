"""The options of ``wsdoctor TARGET``: the parser, validation of each value, and the
:class:`~wsdoctor.settings.Settings` built from them. Only argparse at import time."""

from __future__ import annotations

import argparse

from wsdoctor import __version__
from wsdoctor.commands.netoptions import (
    add_connection_options,
    add_kubernetes_options,
    connection_settings,
    split_list,
    target_of,
)
from wsdoctor.commands.options_clients import add_client_options, client_settings
from wsdoctor.console import Parser, UsageError
from wsdoctor.durations import positive_duration

TYPE_CHECKING = False  # not typing's: `wsdoctor --help` does without importing typing
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from wsdoctor.settings import Settings


DESCRIPTION = """\
Diagnose WebSocket connections end to end: DNS, TCP, TLS, plain HTTP, the upgrade
handshake, messages, session affinity and (with a kubeconfig) the Kubernetes objects
behind the host; with --idle, the idle timeout really in force. Each finding says what
was seen, why, and the exact fix.

TARGET is host, host:port, host/path, ws://..., wss://..., http(s)://... (mapped to
ws/wss) or an IPv6 literal in brackets ([::1]:8443). Default scheme wss, path /."""

EPILOG = """\
other commands:
  wsdoctor explain CODE       print the documentation page of a finding code
  wsdoctor demo               diagnose a built-in local deployment with known faults
  wsdoctor show REPORT.json   render a saved JSON report again (no network)
  wsdoctor watch TARGET       hold connections for hours and name what cuts each one
  wsdoctor bisect TARGET      test the pod, the ingress controller and the public address
                              apart, and say which hop adds the fault
  wsdoctor load TARGET -c N   open N connections: the connection cap and the setting behind it
  wsdoctor lint PATH...       check Kubernetes manifests for WebSocket problems (no network)
  wsdoctor probe [--config F] Prometheus exporter: blackbox-style /probe, scheduled targets

examples:
  wsdoctor wss://ws.example.com/chat
  wsdoctor ws.example.com --resolve ws.example.com:443:203.0.113.7   # one ingress IP
  wsdoctor wss://ws.example.com/ws -H 'Authorization: Bearer ...' --origin https://app.example.com
  wsdoctor ws.example.com --format json -o report.json --fail-on warn

exit status:
  0  no finding at or above --fail-on (default: fail)
  1  at least one finding at or above --fail-on
  2  usage error (bad target, option or configuration)
  3  could not run at all
  4  a check crashed or overran its time limit (incomplete), none reached --fail-on"""


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


#: The largest --message-size (the same as wsdoctor.settings.MAX_MESSAGE_SIZE, which is not
#: imported here to keep --help free of pydantic; a test keeps them in step).
MAX_MESSAGE_SIZE = 16 * 1024 * 1024


def _message_size(text: str) -> int:
    value = _non_negative_int(text)
    if value > MAX_MESSAGE_SIZE:
        raise argparse.ArgumentTypeError(
            f"{text!r} is more than {MAX_MESSAGE_SIZE} (16 MiB), the largest test message")
    return value


#: The check ids, for --help (which must not import the registry); a test keeps them in step.
CHECK_IDS = ("dns", "tcp", "tls", "handshake", "http", "http2", "messages", "idle",
             "keepalive", "capture", "affinity", "cluster", "hops", "load")


#: What a list option's usage error says to do when a value is empty.
CHECKS_HINT = "give CHECK[,CHECK], CHECK one of " + ", ".join(CHECK_IDS)
CODES_HINT = "give CODE[,CODE] (wsdoctor explain --list prints every code)"


def suppressed_codes(values: list[str] | None) -> list[str]:
    """``--suppress CODE[,CODE]`` in the registered spelling (any case is accepted); an
    unknown code is a usage error naming the nearest known ones, never a silent no-op."""
    from wsdoctor.docs import DocsError, canonical_codes

    try:
        return canonical_codes(split_list(values, "--suppress", CODES_HINT))
    except DocsError as exc:
        raise UsageError(f"--suppress: {exc}") from None


def checks_of(values: list[str] | None, option: str) -> list[str]:
    """``--only``/``--skip CHECK[,CHECK]``: an empty value is a usage error listing the checks
    (an unknown one is refused by the settings, with the same list)."""
    return split_list(values, option, CHECKS_HINT)


def build_parser(
    prog: str = "wsdoctor", description: str = DESCRIPTION, epilog: str = EPILOG
) -> argparse.ArgumentParser:
    """The parser for ``wsdoctor TARGET`` (``wsdoctor bisect`` adds its group to it)."""
    parser = Parser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", metavar="TARGET", help="the WebSocket endpoint to diagnose")
    parser.add_argument("--version", action="version", version=f"wsdoctor {__version__}")
    add_connection_options(parser)
    checks = parser.add_argument_group("checks")
    checks.add_argument(
        "--only",
        action="append",
        metavar="CHECK[,CHECK]",
        help="run only these checks (and what they need); CHECK is one of "
        + ", ".join(CHECK_IDS),
    )
    checks.add_argument(
        "--skip", action="append", metavar="CHECK[,CHECK]", help="do not run these checks"
    )
    checks.add_argument(
        "--suppress",
        action="append",
        metavar="CODE[,CODE]",
        help="leave these finding codes out (accepted, known issues; case-insensitive)",
    )
    checks.add_argument(
        "--message-size",
        type=_message_size,
        default=512 * 1024,
        metavar="BYTES",
        help="size of the large test message (default: 512 KiB, under the default limits "
        "of websockets and socket.io; at most 16 MiB; 0 skips it)",
    )
    checks.add_argument(
        "--pings",
        type=_non_negative_int,
        default=5,
        metavar="N",
        help="ping/pong round trips to measure (default: 5)",
    )
    add_client_options(parser)
    _add_lifetime_options(parser)
    add_kubernetes_options(parser)
    out = parser.add_argument_group("output")
    out.add_argument(
        "--format",
        choices=("auto", "text", "json", "markdown", "junit", "tui"),
        default="auto",
        help="auto = the interactive TUI on a terminal, text otherwise (default: auto); json is "
        "the canonical report; markdown for incident documents; junit for CI",
    )
    out.add_argument(
        "--short",
        action="store_true",
        help="failures and warnings only, one line each, for pasting into chat",
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


def settings_from_args(args: argparse.Namespace,
                       environ: Mapping[str, str] | None = None) -> Settings:
    """Validated settings from parsed arguments and the environment (the proxy variables,
    the client key's passphrase); UsageError on a bad combination."""
    from wsdoctor.models import Status
    from wsdoctor.settings import Settings

    target = target_of(args.target)

    if args.format == "json" and args.short:
        raise UsageError("--short is a text view: use it without --format json (or use -o)")
    only, skip = checks_of(args.only, "--only"), checks_of(args.skip, "--skip")
    both = set(only) & set(skip)
    if both:
        raise UsageError(f"{', '.join(sorted(both))}: given to both --only and --skip")
    if "load" in only:
        raise UsageError("the load check runs as 'wsdoctor load TARGET --connections N'")
    return Settings(
        **connection_settings(args),
        only=only,
        skip=skip,
        suppress=suppressed_codes(args.suppress),
        message_size=args.message_size,
        pings=min(args.pings, 100),
        fail_on=None if args.fail_on == "never" else Status(args.fail_on),
        **_lifetime_settings(args),
        **client_settings(args, target.host, target.secure, environ or {}, target.port),
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
    idle.add_argument("--idle", action="store_true", help="run the idle and keepalive checks")
    idle.add_argument(
        "--idle-max",
        type=positive_duration,
        metavar="SECONDS",
        help="longest wait for the idle timeout (default: 90; raise it for AWS "
        "NLB 350 s, Azure LB 240 s)",
    )
    idle.add_argument(
        "--expect-idle",
        type=positive_duration,
        metavar="SECONDS",
        help="idle seconds the application needs: a shorter timeout fails, with "
        "the fix for the component whose default matches",
    )
    idle.add_argument(
        "--ping-interval",
        type=positive_duration,
        metavar="SECONDS",
        help="the application's heartbeat interval to try (default: pings at "
        "0.5, 1, 2, 4... s, which straddle any timeout)",
    )
    idle.add_argument(
        "--capture",
        action="store_true",
        help="also sniff a silent connection (root or CAP_NET_RAW, libpcap): "
        "which side sent the first FIN/RST and from how many hops",
    )
    aff = parser.add_argument_group("session affinity")
    aff.add_argument(
        "--affinity-cookie",
        action="append",
        metavar="NAME",
        default=[],
        help="cookie that pins replicas, besides the proxies' default names",
    )
    aff.add_argument(
        "--backend-header",
        metavar="NAME",
        help="response header naming the replica (default: X-Pod-Name, "
        "X-Served-By, X-Backend-Server... if present)",
    )
    aff.add_argument(
        "--expect-affinity",
        action="store_true",
        help="reconnects must reach the same replica: no affinity fails",
    )
    aff.add_argument(
        "--affinity-connections",
        type=_non_negative_int,
        default=6,
        metavar="N",
        help="handshakes the affinity check makes (default: 6)",
    )


def _lifetime_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Settings of the idle, keepalive, capture and affinity options."""
    enable: list[str] = []
    wants_idle = (
        args.idle
        or args.capture
        or any(v is not None for v in (args.idle_max, args.expect_idle, args.ping_interval))
    )
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
        "affinity_cookie": split_list(args.affinity_cookie, "--affinity-cookie",
                                      "give a cookie NAME"),
        "backend_header": args.backend_header,
        "expect_affinity": args.expect_affinity,
        "affinity_connections": args.affinity_connections,
    }
    if args.idle_max is not None:
        values["idle_max"] = args.idle_max
    return values


def report_options(settings: Settings) -> dict[str, Any]:
    """The settings as recorded in the report, secrets redacted."""
    from wsdoctor.settings import REDACTED

    data = settings.model_dump(mode="json")
    data["headers"] = [f"{h.name}: {REDACTED}" for h in settings.headers]
    data["proxy"] = f"{settings.proxy.url} ({settings.proxy.source})" if settings.proxy else None
    data["send"] = [f"{m.source}, {len(m.payload)} bytes" for m in settings.send]
    data["resolve"] = [f"{p.host}:{p.port or '*'}:{p.address}" for p in settings.resolve]
    return {k: v for k, v in data.items() if not isinstance(v, dict)}
