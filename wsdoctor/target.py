"""Turning what the user typed into a :class:`~wsdoctor.models.Target`.

Accepted: ``host``, ``host:port``, ``host/path``, ``ws://…``, ``wss://…``, ``http(s)://…``
(mapped to ws/wss) and IPv6 literals in brackets (``[::1]:8443``). Default scheme ``wss``,
default path ``/``; non-ASCII in the path or query is percent-encoded. Parsed strictly: a
malformed authority (``[::1]]:80``, ``ws:/host``, ``[v1.fe]``, ``host:+80``) is an error,
never a guess.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote

from wsdoctor import validate
from wsdoctor.models import Scheme, Target
from wsdoctor.placeholders import hint, placeholder

_SCHEMES = {"ws": Scheme.WS, "wss": Scheme.WSS, "http": Scheme.WS, "https": Scheme.WSS}
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
MAX_LENGTH = 8192


class TargetError(ValueError):
    """The target cannot be understood; the message says what is wrong, in one line."""


def _check_host(host: str) -> str:
    if not host:
        raise TargetError("the target has no host name")
    found = placeholder(host)
    if found is not None:
        raise TargetError(hint(found))
    if ":" in host:
        try:
            return str(ipaddress.IPv6Address(host.split("%")[0]))
        except ValueError as exc:
            raise TargetError(f"{host!r} is not a valid IPv6 address") from exc
    if not host.isascii():  # an international name: its xn-- form goes on the wire
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise TargetError(f"{host!r} is not a valid host name") from None
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


def _split_authority(authority: str) -> tuple[str, str | None]:
    """(host, port text or None) of ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            raise TargetError("unclosed '[' around an IPv6 address")
        host, after = authority[1:close], authority[close + 1:]
        if after and not after.startswith(":"):
            raise TargetError(f"unexpected {after!r} after the IPv6 address [{host}]")
        if placeholder(host) is not None:
            raise TargetError(hint(str(placeholder(host))))
        if ":" not in host:
            raise TargetError(f"[{host}] is not an IPv6 address (brackets are for IPv6 only)")
        return host.replace("%25", "%", 1), after[1:] if after else None
    if "]" in authority:
        raise TargetError("']' without '[' in the host")
    if authority.count(":") > 1:
        raise TargetError("an IPv6 address must be written in brackets, e.g. [::1]:8443")
    host, colon, port_text = authority.partition(":")
    return host, port_text if colon else None


def _encode(part: str) -> str:
    """A path or query with non-ASCII and unsafe characters percent-encoded (as browsers do);
    a ``%`` that starts no escape becomes ``%25``."""
    part = re.sub(r"%(?![0-9A-Fa-f]{2})", "%25", part)
    return quote(part, safe="/?:@!$&'()*+,;=-._~%")


def parse_target(text: str) -> Target:
    """Parse a target; raise :class:`TargetError` with a one-line reason when it is wrong.
    The reason never repeats URL credentials (the caller shows the target masked)."""
    raw = text.strip()
    if not raw:
        raise TargetError("the target is empty")
    if len(raw) > MAX_LENGTH:
        raise TargetError(f"the target is longer than {MAX_LENGTH} characters")
    if any(c.isspace() or not c.isprintable() for c in raw):
        raise TargetError("the target contains whitespace or control characters")
    scheme_match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", raw)
    if scheme_match and raw[scheme_match.end():].startswith("//"):
        scheme_text, rest = scheme_match[1].lower(), raw[scheme_match.end() + 2:]
        if scheme_text not in _SCHEMES:
            raise TargetError(
                f"unsupported scheme {scheme_text!r}: use ws://, wss://, http:// or https://"
            )
    elif scheme_match and scheme_match[1].lower() in _SCHEMES:
        name = scheme_match[1].lower()
        raise TargetError(f"'{name}:' must be followed by '//' (e.g. {name}://HOST/PATH)")
    else:
        scheme_text, rest = "wss", raw
    scheme = _SCHEMES[scheme_text]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    remainder = rest[len(authority):]
    if "@" in authority:
        raise TargetError("credentials in the URL are not supported: use --header "
                          "Authorization (they are not shown here)")
    host_text, port_text = _split_authority(authority)
    host = _check_host(host_text)
    default_port = 443 if scheme is Scheme.WSS else 80
    try:
        port = default_port if not port_text else validate.port(port_text)
    except ValueError as exc:
        raise TargetError(f"invalid port: {exc}") from None
    path, hash_sign, _ = remainder.partition("#")
    if hash_sign:
        raise TargetError("a WebSocket URL cannot have a #fragment")
    if path.startswith("?") or not path:
        path = "/" + path
    path = _encode(path)
    bracketed = f"[{host}]" if ":" in host else host
    authority = bracketed if port == default_port else f"{bracketed}:{port}"
    return Target(
        url=f"{scheme.value}://{authority}{path}",
        scheme=scheme,
        host=host,
        port=port,
        path=path,
    )
