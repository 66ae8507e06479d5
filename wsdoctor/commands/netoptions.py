"""The options every command that connects to a target shares (``wsdoctor TARGET``,
``wsdoctor load``): the connection and kubernetes groups, their validation, and durations.
Only argparse at import time."""

from __future__ import annotations

import argparse
import re
from typing import Any

from wsdoctor.cli import UsageError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def positive_duration(text: str) -> float:
    """Seconds, plain (``90``, ``0.5``) or with a unit as in the probe config (``90s``,
    ``5m``, ``1h``, ``250ms``)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(ms|s|min|m|h)?\s*", text)
    try:
        value = float(text) if match is None else float(match[1]) * _UNITS[match[2] or "s"]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration (seconds, or with a unit: 90s, 5m, 1h)"
        ) from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def split_list(values: list[str] | None) -> list[str]:
    """Repeatable, comma-separated option values as one list (``--only a,b --only c``)."""
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def checked(option: str, shown: str, check: Any, *args: Any) -> Any:
    """``check(*args)`` from :mod:`wsdoctor.validate`; its ValueError as one usage line."""
    try:
        return check(*args)
    except ValueError as exc:
        raise UsageError(f"{option} {shown}: {exc}" if shown else f"{option}: {exc}") from None


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """The "connection" group: how to reach the target (shared by ``wsdoctor load``)."""
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
    """The "kubernetes (read-only)" group (shared by ``wsdoctor load``)."""
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

def connection_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Validated settings of the connection and kubernetes groups (any command that has
    them); UsageError on a bad value."""
    from wsdoctor import validate
    from wsdoctor.settings import Header, ResolvePin

    if args.cacert is not None:
        checked("--cacert", args.cacert, validate.cafile, args.cacert)
    if args.kubeconfig is not None:
        checked("--kubeconfig", args.kubeconfig, validate.kubeconfig, args.kubeconfig)
    if args.dns_server is not None:  # an empty one too: never a quiet system resolver
        checked("--dns-server", repr(args.dns_server), validate.dns_server, args.dns_server)
    if args.origin is not None:
        checked("--origin", "", validate.origin, args.origin)
    for name in split_list(args.subprotocol):
        checked("--subprotocol", "", validate.subprotocol, name)
    pins = [ResolvePin(host=h, port=p, address=a) for h, p, a in
            (checked("--resolve", repr(t), validate.resolve_pin, t) for t in args.resolve)]
    headers = [Header(name=n, value=v) for n, v in
               (checked("--header", "", validate.header, t) for t in args.header)]
    return {
        "resolve": pins,
        "dns_server": args.dns_server,
        "headers": headers,
        "origin": args.origin,
        "subprotocols": split_list(args.subprotocol),
        "cafile": args.cacert,
        "insecure": args.insecure,
        "timeout": args.timeout,
        "kubernetes": not args.no_kubernetes,
        "kubeconfig": args.kubeconfig or getattr(args, "environ_kubeconfig", None),
        "kube_context": args.context,
        "namespace": args.namespace,
        "read_tls_secret": args.read_tls_secret,
    }
