"""Validation of what the user gives, shared by the command line, the run settings and the
exporter's configuration, so each refuses the same values with the same one-line reason.

Each function returns the normalised value or raises ``ValueError`` with a message that
does not repeat the value's secret parts (the caller adds the option or key it came from).
Imports nothing heavy: the command line calls it before anything else is loaded.
"""

from __future__ import annotations

import ipaddress
import os
import re

#: RFC 9110 §5.6.2 token: a header name, a subprotocol.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: RFC 9110 §5.5 field-value, ASCII only: visible characters, spaces and tabs inside.
_FIELD_VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?")
#: Headers the upgrade request is made of: overriding them would test a broken handshake.
HANDSHAKE_HEADERS = frozenset({
    "host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-extensions", "sec-websocket-protocol", "sec-websocket-accept", "origin",
})
#: Headers that would make the upgrade request something else, with why (RFC 9110, RFC 9113
#: §8.2.2): a GET upgrade has no body, and connection-specific headers break HTTP/2 and proxies.
FRAMING_HEADERS = {
    "content-length": "the upgrade request has no body: a server would wait for one and the "
    "handshake would hang or be refused",
    "transfer-encoding": "the upgrade request has no body: a server would wait for a chunked "
    "one and the handshake would hang or be refused",
    "expect": "the upgrade request has no body to send after 100 Continue",
    "te": "it is hop-by-hop, and HTTP/2 forbids it: RFC 9113 §8.2.2",
    "keep-alive": "it is hop-by-hop, and HTTP/2 forbids it: RFC 9113 §8.2.2",
    "proxy-connection": "it is hop-by-hop, and HTTP/2 forbids it: RFC 9113 §8.2.2",
    "trailer": "the upgrade request has no body, hence no trailers",
}


def _describe_bad(text: str) -> str:
    """What is wrong with a header value, without quoting it (it may be a secret)."""
    for char in text:
        code = ord(char)
        if char in "\r\n":
            return "a line break (it would inject another header)"
        if code == 0:
            return "a NUL character"
        if (code < 0x20 and char != "\t") or code == 0x7F:
            return f"the control character U+{code:04X}"
        if code > 0x7E:
            return (f"the non-ASCII character U+{code:04X} (header values are ASCII: "
                    "percent-encode it)")
    return "an invalid character"


def header_name(name: str) -> str:
    """A request header name: an RFC 9110 token, and not one the handshake is made of."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid header name (letters, digits and "
                         "!#$%&'*+-.^_`|~ only)")
    lowered = name.lower()
    if lowered in FRAMING_HEADERS:
        raise ValueError(f"{name}: not sent on a WebSocket handshake ({FRAMING_HEADERS[lowered]})")
    if lowered.startswith("sec-websocket-") and lowered not in HANDSHAKE_HEADERS:
        raise ValueError(f"{name}: the Sec-WebSocket-* headers belong to the handshake "
                         "(RFC 6455), which wsdoctor writes itself")
    if lowered in HANDSHAKE_HEADERS:
        hint = ("use --resolve HOST:PORT:ADDR to reach an address under the right Host"
                if lowered == "host" else "use --origin (origin: in the probe config)"
                if lowered == "origin" else "use --subprotocol (subprotocols:)"
                if lowered == "sec-websocket-protocol"
                else "a fresh, valid one is sent with every handshake")
        raise ValueError(f"{name}: wsdoctor sets this header itself ({hint})")
    return name


def header_value(value: str) -> str:
    """A request header value: printable ASCII (leading and trailing blanks dropped); CR, LF,
    NUL, other control characters and non-ASCII are refused."""
    value = value.strip(" \t")
    if value and not _FIELD_VALUE.fullmatch(value):
        raise ValueError(f"the value contains {_describe_bad(value)}")
    return value


def header(text: str) -> tuple[str, str]:
    """``'Name: value'`` as given to ``-H``."""
    name, sep, value = text.partition(":")
    name = name.strip(" \t")
    if not sep or not name:
        raise ValueError("expected 'Name: value' (the value is not shown: it may be a secret)")
    header_name(name)
    try:
        return name, header_value(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def subprotocol(name: str) -> str:
    """A subprotocol offered in Sec-WebSocket-Protocol: one RFC 9110 token."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"{name!r}: a subprotocol is one token (RFC 6455), with no "
                         "spaces or separators")
    return name


def origin(text: str) -> str:
    """The Origin header: ``scheme://host[:port]`` in ASCII (or ``null``)."""
    if text == "null":
        return text
    scheme, sep, rest = text.partition("://")
    if (not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) or not rest
            or not _FIELD_VALUE.fullmatch(text) or " " in text or "@" in rest):
        raise ValueError(f"{text!r}: expected an ASCII origin such as "
                         "https://app.example (an international name in its xn-- form)")
    return text


def ip_address(text: str) -> str:
    """An IPv4 or IPv6 address (brackets allowed), normalised."""
    try:
        return str(ipaddress.ip_address(text[1:-1] if text.startswith("[") and
                                        text.endswith("]") else text))
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None


def port(text: str, *, wildcard: bool = False) -> int:
    """A TCP port 1-65535 written in decimal digits (``*`` for any, when allowed)."""
    if wildcard and text == "*":
        return 0
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise ValueError(f"{text!r} is not a port (1-65535)")
    return int(text)


def dns_server(text: str) -> str:
    """``ADDR``, ``ADDR:PORT`` or ``[ADDR6]:PORT``: never empty (an empty value would quietly
    fall back to the system resolver)."""
    if not text:
        raise ValueError("empty: give the DNS server's IP address (ADDR or ADDR:PORT)")
    host, port_text = text, None
    if text.startswith("["):
        host, close, rest = text.partition("]")
        host = host[1:]
        if not close or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r}: expected ADDR, ADDR:PORT or [ADDR6]:PORT")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    ip_address(host)
    if port_text is not None:
        port(port_text)
    return text


def resolve_pin(text: str) -> tuple[str, int, str]:
    """``HOST:PORT:ADDR`` as curl's ``--resolve`` (PORT may be ``*``; ADDR may be bracketed)."""
    host, sep, rest = text.partition(":")
    port_text, sep2, address = rest.partition(":")
    if not (sep and sep2 and host and address):
        raise ValueError("expected HOST:PORT:ADDR")
    if not host.isprintable() or any(c.isspace() for c in host):
        raise ValueError("the host contains whitespace or control characters")
    return host.lower(), port(port_text, wildcard=True), ip_address(address)


def regular_file(path: str, what: str = "file") -> str:
    """An existing regular file (not a directory, a FIFO or a device: reading those would
    block or never end)."""
    if os.path.isdir(path):
        raise ValueError(f"is a directory; give a {what}")
    if not os.path.exists(path):
        raise ValueError("no such file")
    if not os.path.isfile(path):
        raise ValueError(f"not a regular file (a FIFO, device or socket); give a {what}")
    return path


def cafile(path: str) -> str:
    """A readable PEM bundle: a wrong file would silently disable TLS checks."""
    import ssl

    regular_file(path, "PEM file")
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ValueError(f"not a PEM certificate bundle ({exc})") from None
    return path


def kubeconfig(paths: str) -> str:
    """``:``-separated kubeconfig files, at least one of which is a regular file (a flag names
    the file on purpose: a typo is an error, not a quiet skip)."""
    names = [p for p in paths.split(os.pathsep) if p]
    if len(names) == 1:
        return regular_file(names[0], "kubeconfig file") and paths
    if not any(os.path.isfile(p) for p in names):
        problems = []
        for name in names:
            try:
                regular_file(name)
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        raise ValueError("; ".join(problems) or "no file named")
    return paths


def first_error(exc: ValueError) -> str:
    """One line for a ValueError, a pydantic ValidationError included (its first error, with
    the field it is about), never the value itself."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", "")).removeprefix("Value error, ")
        return f"{where}: {message}" if where else message
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
