"""The options every command that connects to a target shares (``wsdoctor TARGET``,
``wsdoctor watch``, ``wsdoctor load``): the target, the connection and kubernetes groups and
their validation, and what the two holding commands share beyond them.
Only argparse at import time."""

from __future__ import annotations

import argparse

from wsdoctor.console import UsageError
from wsdoctor.durations import positive_duration

TYPE_CHECKING = False  # not typing's: `wsdoctor --help` does without importing typing
if TYPE_CHECKING:
    from typing import Any

    from wsdoctor.models import Target


def target_of(text: str) -> Target:
    """The TARGET argument parsed; UsageError with one line that never repeats URL
    credentials (for every command that takes a target)."""
    from wsdoctor.redact import mask_userinfo
    from wsdoctor.target import TargetError, parse_target

    try:
        return parse_target(text)
    except TargetError as exc:
        raise UsageError(f"target {mask_userinfo(text)!r}: {exc}") from None


def split_list(values: list[str] | None, option: str, hint: str = "") -> list[str]:
    """Repeatable, comma-separated option values as one list (``--only a,b --only c``); an
    empty value or item (``--only ''``, ``a,,b``) is a UsageError naming ``option``, never a
    quiet "nothing given" (``hint`` says what to give)."""
    out: list[str] = []
    for value in values or []:
        items = [item.strip() for item in value.split(",")]
        if not all(items):
            where = "an empty value" if not value.strip(" ,") else f"an empty item in '{value}'"
            raise UsageError(f"{option}: {where}" + (f"; {hint}" if hint else ""))
        out.extend(items)
    return out


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """The "connection" group: how to reach the target (shared by ``wsdoctor watch``)."""
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
        type=positive_duration,
        default=5.0,
        metavar="SECONDS",
        help="time limit for each network step (default: 5)",
    )


def add_kubernetes_options(parser: argparse.ArgumentParser) -> None:
    """The "kubernetes (read-only)" group (shared by ``wsdoctor watch``)."""
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


def add_backend_header_option(group: argparse._ArgumentGroup) -> None:
    """``--backend-header`` of the commands that hold connections (``watch``, ``load``)."""
    group.add_argument("--backend-header", metavar="NAME",
                       help="response header naming the replica (default: X-Pod-Name, "
                       "X-Served-By... if present; else a first message naming it)")


def add_verdict_output_options(out: argparse._ArgumentGroup) -> None:
    """The output options after ``--format``/``-o`` that ``watch`` and ``load`` share: how the
    verdict sets the exit status, which codes to leave out, how the terminal is written."""
    out.add_argument("--fail-on", choices=("warn", "fail", "never"), default="fail",
                     help="exit 1 when a finding is at least this severe (default: fail)")
    out.add_argument("--suppress", action="append", metavar="CODE[,CODE]",
                     help="leave these finding codes out")
    out.add_argument("--no-color", action="store_true", help="no colour (also: NO_COLOR=1)")
    out.add_argument("--ascii", action="store_true", help="ASCII marks instead of √ ‼ ×")
    out.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")


def _checked(option: str, shown: str, check: Any, *args: Any) -> Any:
    """``check(*args)`` from :mod:`wsdoctor.validate`; its ValueError as one usage line."""
    try:
        return check(*args)
    except ValueError as exc:
        raise UsageError(f"{option} {shown}: {exc}" if shown else f"{option}: {exc}") from None


def connection_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Validated settings of the connection and kubernetes groups (any command that has
    them); UsageError on a bad value."""
    from wsdoctor import validate
    from wsdoctor.settings import Header, ResolvePin

    if args.cacert is not None:
        _checked("--cacert", args.cacert, validate.cafile, args.cacert)
    if args.kubeconfig is not None:
        _checked("--kubeconfig", args.kubeconfig, validate.kubeconfig, args.kubeconfig)
    if args.dns_server is not None:  # an empty one too: never a quiet system resolver
        _checked("--dns-server", repr(args.dns_server), validate.dns_server, args.dns_server)
    if args.origin is not None:
        _checked("--origin", "", validate.origin, args.origin)
    subprotocols = split_list(args.subprotocol, "--subprotocol", "give NAME[,NAME]")
    for name in subprotocols:
        _checked("--subprotocol", "", validate.subprotocol, name)
    pins = [ResolvePin(host=h, port=p, address=a) for h, p, a in
            (_checked("--resolve", repr(t), validate.resolve_pin, t) for t in args.resolve)]
    headers = [Header(name=n, value=v) for n, v in
               (_checked("--header", "", validate.header, t) for t in args.header)]
    return {
        "resolve": pins,
        "dns_server": args.dns_server,
        "headers": headers,
        "origin": args.origin,
        "subprotocols": subprotocols,
        "cafile": args.cacert,
        "insecure": args.insecure,
        "timeout": args.timeout,
        "kubernetes": not args.no_kubernetes,
        "kubeconfig": args.kubeconfig or getattr(args, "environ_kubeconfig", None),
        "kube_context": args.context,
        "namespace": args.namespace,
        "read_tls_secret": args.read_tls_secret,
    }
