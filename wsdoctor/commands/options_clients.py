"""Options that make wsdoctor connect the way the application's own clients do: a client
certificate (mTLS), a proxy (as curl chooses one), and the application's own messages with the
reply expected. Only argparse (and the standard library) at import time."""

from __future__ import annotations

import argparse
import os
import re

from wsdoctor.console import UsageError

TYPE_CHECKING = False  # not typing's: `wsdoctor --help` does without importing typing
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from wsdoctor.settings import SendMessage

#: The environment variable holding the client key's passphrase, unless --key-password-env.
KEY_PASSWORD_ENV = "WSDOCTOR_KEY_PASSWORD"
#: A message given with --send is at most this large (it is held in memory and in the run).
SEND_LIMIT = 16 * 1024 * 1024


def add_client_options(parser: argparse.ArgumentParser, messages: bool = True) -> None:
    """The client-certificate and proxy options, and (``messages``) the application-message
    options."""
    tls = parser.add_argument_group(
        "client certificate and proxy",
        "A proxy is chosen as curl does: --proxy, else https_proxy/HTTPS_PROXY (wss) or\n"
        "http_proxy (ws), else all_proxy/ALL_PROXY; no_proxy/NO_PROXY (or --noproxy) exempts\n"
        "hosts. Through a proxy every connection is a tunnel (HTTP CONNECT or SOCKS5) to\n"
        "HOST:PORT; the proxy resolves the name (except socks5://, resolved here).",
    )
    tls.add_argument("--cert", metavar="FILE",
                     help="client certificate (PEM; may also hold the key and chain) for mTLS")
    tls.add_argument("--key", metavar="FILE",
                     help="the client certificate's private key (PEM), if not in --cert; an "
                     f"encrypted key's passphrase is read from ${KEY_PASSWORD_ENV}")
    tls.add_argument("--key-password-env", metavar="NAME",
                     help=f"read the key's passphrase from this variable instead of "
                     f"{KEY_PASSWORD_ENV}")
    tls.add_argument("-x", "--proxy", metavar="URL",
                     help="connect through this proxy: http://, https://, socks5:// or "
                     "socks5h:// [user:password@]host[:port]; '' turns proxies off")
    tls.add_argument("--noproxy", metavar="HOSTS",
                     help="comma-separated hosts (domains, addresses, CIDR; * for all) not to "
                     "proxy; replaces NO_PROXY")
    if not messages:
        return
    app = parser.add_argument_group("application messages")
    app.add_argument("--send", action="append", metavar="MESSAGE", default=[],
                     help="a message of the application's own, sent after the upgrade "
                     "(repeatable, in order): text, or @FILE for the binary content of FILE "
                     "(@@ for a text starting with @)")
    app.add_argument("--expect", metavar="REGEX",
                     help="a reply must match this regular expression (searched in the "
                     "messages received after the last --send, or in the first message "
                     "without --send)")
    app.add_argument("--find-max-message", action="store_true",
                     help="find the largest message the path accepts, by bisection")


def _readable(option: str, path: str) -> None:
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a directory; give a PEM file")
    if not os.path.isfile(path):
        raise UsageError(f"{option} {path}: no such file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{option} {path}: not readable")


def check_client_certificate(cert: str, key: str | None, password: str | None) -> None:
    """Load the pair as the TLS contexts will, so a wrong file or passphrase is one line now
    rather than a failed handshake later."""
    import ssl

    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key_path = key or cert
    with open(key_path, "rb") as handle:
        key_pem = handle.read()
    if b"PRIVATE KEY-----" not in key_pem:
        raise UsageError(f"--cert {cert}: no private key in it; give the key with --key FILE"
                         if key is None else f"--key {key}: not a PEM private key")
    try:
        load_pem_private_key(key_pem, password.encode() if password is not None else None)
    except TypeError:
        raise UsageError(f"--key {key_path}: the key is encrypted: put its passphrase in "
                         f"${KEY_PASSWORD_ENV} (or the variable named by --key-password-env)"
                         if password is None else
                         f"--key {key_path}: the key is not encrypted, yet a passphrase "
                         "was given") from None
    except ValueError as exc:
        wrong = "the passphrase is wrong" if password is not None else f"unreadable ({exc})"
        raise UsageError(f"--key {key_path}: {wrong}") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_cert_chain(cert, key, password=password)
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(f"--cert {cert}: not a certificate matching the key ({exc})") from None


def parse_send(items: list[str]) -> list[SendMessage]:
    from wsdoctor.settings import SendMessage

    messages: list[SendMessage] = []
    for item in items:
        if item.startswith("@@"):
            messages.append(SendMessage(text=item[1:], source="text"))
        elif item.startswith("@"):
            path = item[1:]
            _readable("--send", path)
            if os.path.getsize(path) > SEND_LIMIT:
                raise UsageError(f"--send {item}: larger than {SEND_LIMIT // (1 << 20)} MiB")
            with open(path, "rb") as handle:
                messages.append(SendMessage(binary=handle.read(), source=item))
        else:
            messages.append(SendMessage(text=item, source="text"))
    return messages


def client_settings(args: argparse.Namespace, host: str, secure: bool,
                    environ: Mapping[str, str], port: int | None = None) -> dict[str, Any]:
    """Settings of these options, validated; the proxy is chosen for ``host``."""
    from wsdoctor.proxy_config import ProxyConfigError, choose_proxy

    values: dict[str, Any] = {}
    if args.key and not args.cert:
        raise UsageError("--key needs --cert (the certificate it belongs to)")
    if args.key_password_env and not args.cert:
        raise UsageError("--key-password-env needs --cert")
    if args.cert:
        _readable("--cert", args.cert)
        if args.key:
            _readable("--key", args.key)
        variable = args.key_password_env or KEY_PASSWORD_ENV
        password = environ.get(variable)
        if args.key_password_env and password is None:
            raise UsageError(f"--key-password-env {variable}: the variable is not set")
        check_client_certificate(args.cert, args.key, password)
        values |= {"client_cert": args.cert, "client_key": args.key,
                   "client_key_password": password}
    try:
        proxy, note = choose_proxy(host, secure, args.proxy, args.noproxy, environ, port)
    except ProxyConfigError as exc:
        raise UsageError(str(exc)) from None
    values |= {"proxy": proxy, "proxy_note": note}
    # Registered with the run's redactor: never in any output, even where a server echoes them.
    values["secrets"] = [*(proxy.credentials() if proxy else []),
                         *([values["client_key_password"]]
                           if values.get("client_key_password") else [])]
    if not hasattr(args, "send"):  # a command without the application-message options
        return values
    if args.expect is not None:
        try:
            re.compile(args.expect)
        except re.error as exc:
            raise UsageError(f"--expect {args.expect!r}: not a regular expression ({exc})") \
                from None
    values |= {"send": parse_send(args.send), "expect": args.expect,
               "find_max_message": args.find_max_message}
    return values
