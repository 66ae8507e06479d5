"""ingress-nginx's path matching with regular expressions, as its documentation describes it
("Ingress Path Matching", kubernetes/ingress-nginx docs/user-guide/ingress-path-matching.md;
``buildLocation`` and ``enforceRegexModifier`` in
internal/ingress/controller/template/template.go): once any Ingress path of a host has
``use-regex: "true"`` or a ``rewrite-target`` other than its path, every path of that host is
written as ``location ~* "^PATH"`` (case-insensitive, anchored at the start only), longest
path first, and the first match serves."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from wsdoctor.kube.snapshot import ClusterSnapshot

if TYPE_CHECKING:
    from wsdoctor.kube.discover import RouteRule

NGINX_PREFIX = "nginx.ingress.kubernetes.io/"


_PCRE_NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z_])")


def nginx_path_regex(pattern: str) -> re.Pattern[str] | None:
    """An ingress-nginx regex path as nginx applies it (``~*``: case-insensitive; PCRE's
    ``(?<name>`` groups in Python's spelling); None if Python cannot compile it."""
    try:
        return re.compile(_PCRE_NAMED_GROUP.sub("(?P<", pattern), re.IGNORECASE)
    except re.error:
        return None


def forces_nginx_regex(snap: ClusterSnapshot, rule: RouteRule) -> bool:
    """An ingress-nginx Ingress path with use-regex, or a rewrite-target other than its path
    (ingress-nginx ``enforceRegexModifier``): it makes every path of its host a regex."""
    if rule.kind != "Ingress" or rule.controller != "ingress-nginx":
        return False
    obj = snap.find("Ingress", rule.namespace, rule.name)
    annotations = obj.annotations if obj is not None else {}
    rewrite = annotations.get(NGINX_PREFIX + "rewrite-target", "")
    return annotations.get(NGINX_PREFIX + "use-regex") == "true" or \
        (bool(rewrite) and rewrite != rule.path)


def nginx_servers(rule: RouteRule) -> list[tuple[str | None, str]]:
    """The ingress-nginx server blocks (class, host) a rule's paths are locations of."""
    return [(rule.class_name, h.lower()) for h in rule.hosts or [""]]


def with_nginx_regex(snap: ClusterSnapshot, rules: list[RouteRule]) -> list[RouteRule]:
    """The rules with ``nginx_regex`` set on every ingress-nginx path of a host where any
    Ingress path forces regular expressions ("Ingress Path Matching" in ingress-nginx's
    docs: the case-insensitive regex modifier is then enforced on ALL paths of the host,
    whatever Ingress defines them)."""
    forcing = {server for r in rules if forces_nginx_regex(snap, r)
               for server in nginx_servers(r)}
    if not forcing:
        return rules
    return [r.model_copy(update={"nginx_regex": True})
            if r.kind == "Ingress" and r.controller == "ingress-nginx"
            and any(server in forcing for server in nginx_servers(r)) else r
            for r in rules]


def regex_sources(snap: ClusterSnapshot, rules: list[RouteRule], route: RouteRule
                  ) -> list[RouteRule]:
    """The rules that make ``route``'s path a regex (their Ingresses decide how it matches)."""
    if not route.nginx_regex:
        return []
    servers = set(nginx_servers(route))
    return [r for r in rules if forces_nginx_regex(snap, r) and servers & set(nginx_servers(r))]
