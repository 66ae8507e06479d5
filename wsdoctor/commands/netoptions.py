"""The options every command that connects to a target shares (``wsdoctor TARGET``,
``wsdoctor watch``): the connection and kubernetes groups, their validation, and durations.
Only argparse at import time."""

from __future__ import annotations

import argparse
import os
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
    if name.lower() in HANDSHAKE_HEADERS:
        hint = "use --resolve HOST:PORT:ADDR to reach an address under the right Host" \
            if name.lower() == "host" else "use --origin" if name.lower() == "origin" \
            else "use --subprotocol" if name.lower() == "sec-websocket-protocol" \
            else "a fresh, valid one is sent with every handshake"
        raise UsageError(f"--header {name}: wsdoctor sets this header itself ({hint})")
    return name, value.strip()


#: Headers the upgrade request is made of: overriding them would test a broken handshake.
HANDSHAKE_HEADERS = frozenset({
    "host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-extensions", "sec-websocket-protocol", "sec-websocket-accept", "origin",
})
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _check_cafile(path: str) -> None:
    """--cacert must be a readable PEM bundle: a wrong file would silently disable TLS checks."""
    import ssl

    if os.path.isdir(path):
        raise UsageError(f"--cacert {path}: is a directory; give a PEM file")
    if not os.path.isfile(path):
        raise UsageError(f"--cacert {path}: no such file")
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise UsageError(f"--cacert {path}: not a PEM certificate bundle ({exc})") from None


def connection_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Validated settings of the connection and kubernetes groups (any command that has
    them); UsageError on a bad value."""
    from wsdoctor.settings import Header, ResolvePin

    if args.cacert:
        _check_cafile(args.cacert)
    if args.kubeconfig and not any(
        os.path.isfile(p) for p in args.kubeconfig.split(os.pathsep) if p
    ):  # a flag names the file on purpose: a typo is an error, not a quiet skip
        raise UsageError(f"--kubeconfig {args.kubeconfig}: no such file")
    if args.dns_server:
        _check_dns_server(args.dns_server)
    if args.origin is not None and (
        "://" not in args.origin or any(c.isspace() or ord(c) < 32 for c in args.origin)
    ):
        raise UsageError(f"--origin {args.origin!r}: expected a URL such as https://app.example")
    for name in split_list(args.subprotocol):
        if not _TOKEN.match(name):
            raise UsageError(f"--subprotocol {name!r}: a subprotocol is one token (RFC 6455), "
                             "with no spaces or separators")
    pins = [ResolvePin(host=h, port=p, address=a) for h, p, a in map(_parse_resolve, args.resolve)]
    headers = [Header(name=n, value=v) for n, v in map(_parse_header, args.header)]
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
