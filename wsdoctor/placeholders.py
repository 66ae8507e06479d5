"""Template placeholders left in a host name (``{IPv6}``, ``${DOMAIN}``, ``<host>``,
``%HOST%``, ``{{ host }}``): copied from documentation or a template that was not filled in.
Said as such, with what to put there, rather than "not a valid host name"."""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(
    r"\$\{[^{}]*\}"  # ${DOMAIN} (shell, envsubst, kustomize replacements)
    r"|\{\{[^{}]*\}\}"  # {{ host }} (Go, Jinja, Mustache)
    r"|\{[^{}]*\}"  # {IPv6}, {host} (documentation)
    r"|\$[A-Za-z_][A-Za-z0-9_]*"  # $HOST
    r"|<[^<>]*>"  # <host>
    r"|%[A-Za-z_][A-Za-z0-9_]*%"  # %HOST% (Windows)
)


def placeholder(text: str) -> str | None:
    """The first template placeholder in ``text``, or None."""
    match = _PLACEHOLDER.search(text)
    return match.group(0) if match else None


def hint(found: str, url: bool = True) -> str:
    """What to put in place of ``found``: in a URL, an address (IPv6 in brackets) when it
    names one; in a route's host, a name (routes match names, not addresses)."""
    name = found.lower()
    if not url:
        return (f"{found} is a template placeholder that was not filled in: put the host name "
                "clients use there (a route's host is a name, not an address)")
    if "ipv6" in name or "v6" in name:
        return (f"{found} is a template placeholder: put the address itself there, in brackets "
                "(e.g. [2001:db8::1]:8443)")
    if "ip" in name or "addr" in name:
        return (f"{found} is a template placeholder: put the address itself there (IPv4 as "
                "is, IPv6 in brackets, e.g. [2001:db8::1])")
    return (f"{found} is a template placeholder that was not filled in: put the real host "
            "name there (render or substitute the template first, e.g. envsubst)")
