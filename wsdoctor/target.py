"""Turning what the user typed into a :class:`~wsdoctor.models.Target`.

Accepted: ``host``, ``host:port``, ``host/path``, ``ws://…``, ``wss://…``, ``http(s)://…``
(mapped to ws/wss) and IPv6 literals in brackets (``[::1]:8443``). Default scheme ``wss``,
default path ``/``.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from wsdoctor.models import Scheme, Target

_SCHEMES = {"ws": Scheme.WS, "wss": Scheme.WSS, "http": Scheme.WS, "https": Scheme.WSS}
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


class TargetError(ValueError):
    """The target cannot be understood; the message says what is wrong, in one line."""


def _check_host(host: str) -> str:
    if not host:
        raise TargetError("the target has no host name")
    if ":" in host:
        try:
            return str(ipaddress.IPv6Address(host.split("%")[0]))
        except ValueError as exc:
            raise TargetError(f"{host!r} is not a valid IPv6 address") from exc
    if len(host) > 253:
        raise TargetError("the host name is longer than 253 characters")
    name = host.rstrip(".")
    if not name or not all(_LABEL.match(label) for label in name.split(".")):
        raise TargetError(f"{host!r} is not a valid host name")
    if name.replace(".", "").isdigit():
        try:
            ipaddress.IPv4Address(name)
        except ValueError as exc:
            raise TargetError(f"{host!r} is not a valid IPv4 address") from exc
    return name.lower()


def parse_target(text: str) -> Target:
    """Parse a target; raise :class:`TargetError` with a one-line reason when it is wrong."""
    raw = text.strip()
    if not raw:
        raise TargetError("the target is empty")
    if any(c.isspace() for c in raw) or any(ord(c) < 32 for c in raw):
        raise TargetError("the target contains whitespace or control characters")
    if "://" in raw:
        scheme_text = raw.split("://", 1)[0].lower()
        if scheme_text not in _SCHEMES:
            raise TargetError(
                f"unsupported scheme {scheme_text!r}: use ws://, wss://, http:// or https://"
            )
    else:
        raw = "wss://" + raw
        scheme_text = "wss"
    scheme = _SCHEMES[scheme_text]
    try:
        parts = urlsplit(raw)
        port_text = parts.port
    except ValueError as exc:
        raise TargetError(f"invalid port or address in {text!r}: {exc}") from exc
    if parts.username is not None or parts.password is not None:
        raise TargetError("credentials in the URL are not supported: use --header Authorization")
    if parts.fragment:
        raise TargetError("a WebSocket URL cannot have a #fragment")
    netloc_host = parts.netloc.rsplit("@", 1)[-1]
    if netloc_host.startswith("[") and "]" not in netloc_host:
        raise TargetError(f"unclosed '[' in {text!r}")
    if not netloc_host.startswith("[") and netloc_host.count(":") > 1:
        raise TargetError("an IPv6 address must be written in brackets, e.g. [::1]:8443")
    host = _check_host(parts.hostname or "")
    port = port_text if port_text is not None else (443 if scheme is Scheme.WSS else 80)
    if port == 0:
        raise TargetError("port 0 is not a valid destination port")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    bracketed = f"[{host}]" if ":" in host else host
    default_port = 443 if scheme is Scheme.WSS else 80
    authority = bracketed if port == default_port else f"{bracketed}:{port}"
    return Target(
        url=f"{scheme.value}://{authority}{path}",
        scheme=scheme,
        host=host,
        port=port,
        path=path,
    )
