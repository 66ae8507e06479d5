"""Which proxy a connection goes through, decided the way curl decides it: ``--proxy URL``,
else the environment (``https_proxy``/``HTTPS_PROXY`` for wss, ``http_proxy`` for ws, then
``all_proxy``/``ALL_PROXY``), unless ``NO_PROXY``/``--noproxy`` names the host.

Pure functions of strings: no I/O, cheap to import from the command line.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from wsdoctor.modelbase import Secret
from wsdoctor.settings import ProxyConfig

#: curl's default proxy port when the URL has none (curl's --proxy documentation), except
#: for an HTTPS proxy, which listens where TLS does.
_DEFAULT_PORTS = {"http": 1080, "https": 443, "socks5": 1080, "socks5h": 1080}


class ProxyConfigError(ValueError):
    """A proxy URL or NO_PROXY entry that cannot be used; the message says which and why."""


def parse_proxy_url(text: str, source: str = "--proxy") -> ProxyConfig:
    """``[scheme://][user:password@]host[:port]``; no scheme means ``http`` (as in curl)."""
    raw = text.strip()
    if not raw:
        raise ProxyConfigError(f"{source}: empty proxy URL")
    if "://" not in raw:
        raw = "http://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ProxyConfigError(f"{source}: {_safe(raw)} is not a proxy URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme == "socks":
        scheme = "socks5"
    if scheme not in _DEFAULT_PORTS:
        raise ProxyConfigError(
            f"{source}: unsupported proxy scheme {scheme!r}: use http://, https://, socks5:// "
            "or socks5h://")
    if not parts.hostname:
        raise ProxyConfigError(f"{source}: {_safe(raw)} names no proxy host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ProxyConfigError(f"{source}: a proxy URL has no path ({_safe(raw)})")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return ProxyConfig(
        scheme=scheme,  # type: ignore[arg-type]  # one of _DEFAULT_PORTS, checked above
        host=parts.hostname,
        port=port or _DEFAULT_PORTS[scheme],
        username=None if username is None else Secret(username),
        password=Secret(password) if password is not None
        else (Secret("") if username is not None else None),
        source=source,
    )


def _safe(url: str) -> str:
    """The URL with its credentials replaced, for an error message."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        rest = "<redacted>@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def _env(environ: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    for name in names:
        value = environ.get(name)
        if value is not None and value.strip():
            return name, value
    return None


def proxy_from_environment(secure: bool, environ: Mapping[str, str]) -> ProxyConfig | None:
    """The proxy curl would use for a wss (``secure``) or ws URL, from the environment.

    Lower case wins over upper case; plain ``ws`` reads only ``http_proxy`` in lower case,
    as curl does, because a CGI server sets ``HTTP_PROXY`` from a request's ``Proxy:`` header
    (httpoxy)."""
    names = ("https_proxy", "HTTPS_PROXY") if secure else ("http_proxy",)
    found = _env(environ, *names) or _env(environ, "all_proxy", "ALL_PROXY")
    if found is None:
        return None
    name, value = found
    return parse_proxy_url(value, source=name)


def no_proxy_from_environment(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``(variable, value)`` of ``no_proxy`` (or ``NO_PROXY``), if set."""
    return _env(environ, "no_proxy", "NO_PROXY")


def _entry_port(entry: str) -> tuple[str, int | None]:
    """``host:port`` → (host, port); ``[v6]:port`` too; anything else has no port."""
    if entry.startswith("[") and "]:" in entry:
        host, _, port = entry[1:].partition("]:")
        return (host, int(port)) if port.isdigit() else (entry, None)
    host, sep, port = entry.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return entry, None


def no_proxy_matches(host: str, no_proxy: str, port: int | None = None) -> bool:
    """Whether ``host`` is exempt under a NO_PROXY list, with curl's rules: ``*`` alone
    matches every host; a name matches itself and its subdomains (a leading dot is
    optional); an IP address matches itself, and a CIDR block the addresses in it. An entry
    with a port (``host:8443``, as Go and Python's requests read them; curl ignores such
    entries) matches only that ``port``."""
    entries = [e.strip() for e in no_proxy.split(",") if e.strip()]
    if entries == ["*"]:
        return True
    name = host.lower().rstrip(".").strip("[]")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    for raw in entries:
        entry, entry_port = _entry_port(raw)
        if entry_port is not None and entry_port != port:
            continue
        pattern = entry.lower().strip("[]")
        if address is not None:
            try:
                if address in ipaddress.ip_network(pattern, strict=False):
                    return True
            except ValueError:
                continue
            continue
        pattern = pattern.lstrip(".").rstrip(".")
        if pattern.startswith("*."):
            pattern = pattern[2:]
        if pattern and (name == pattern or name.endswith("." + pattern)):
            return True
    return False


def choose_proxy(host: str, secure: bool, explicit: str | None, noproxy: str | None,
                 environ: Mapping[str, str], port: int | None = None
                 ) -> tuple[ProxyConfig | None, str | None]:
    """The proxy for ``host`` and, when there is none although one was configured, why.

    ``explicit`` is ``--proxy`` ('' turns proxies off, as in curl); ``noproxy`` is
    ``--noproxy``, which replaces NO_PROXY."""
    if explicit is not None and not explicit.strip():
        return None, "--proxy '' turns proxies off"
    proxy = parse_proxy_url(explicit) if explicit is not None else \
        proxy_from_environment(secure, environ)
    if proxy is None:
        return None, None
    exempt = ("--noproxy", noproxy) if noproxy is not None else no_proxy_from_environment(environ)
    if exempt is not None and no_proxy_matches(host, exempt[1], port):
        return None, f"{exempt[0]} exempts {host} from the proxy {proxy.url} ({proxy.source})"
    return proxy, None
