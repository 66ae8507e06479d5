"""Route hosts that are template placeholders (``{IPv6}``, ``${DOMAIN}``, ``<host>``) copied
from documentation or a template nobody filled in: the API server refuses them on an Ingress
or HTTPRoute, and on the CRDs that do not validate (IngressRoute ``Host()``, VirtualService
``hosts``) the route matches no request at all."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.codes import Code
from wsdoctor.kube import discover
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions
from wsdoctor.kube.snapshot import ClusterSnapshot
from wsdoctor.models import Finding, Fix, Status
from wsdoctor.placeholders import hint, placeholder

HOST_PLACEHOLDER = Code(
    "WSD-K8S-HOST-PLACEHOLDER", Status.WARN, "A route's host is a template placeholder"
)
CODES = (HOST_PLACEHOLDER,)


def rules_for_route_hosts(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """One warning per route and placeholder host (every route: this breaks any protocol)."""
    seen: set[tuple[str, str, str, str]] = set()
    for route in discover.route_rules(snap):
        for host in route.hosts:
            # "~..." is a Traefik HostRegexp turned into a regular expression: {n} is syntax.
            found = None if host.startswith("~") else placeholder(host)
            key = (route.kind, route.namespace, route.name, host)
            if found is None or key in seen:
                continue
            seen.add(key)
            obj = snap.find(route.kind, route.namespace, route.name)
            if obj is None:
                continue
            yield HOST_PLACEHOLDER.finding(
                CHECK_ID,
                f"{obj.ref} routes host {host!r}: {hint(found, url=False)}. The API server "
                "refuses it on an Ingress or HTTPRoute (not an RFC 1123 name); where it is "
                "accepted, the route matches no request.",
                title=f"Host {host!r} is a template placeholder",
                resource=obj.resource(_host_field(route)),
                evidence={"host": host, "placeholder": found},
                fix=Fix(
                    summary="Fill in the template before applying or linting it (envsubst, "
                    "helm template, kustomize build), or write the host name itself.",
                    snippet="envsubst < FILE.yaml | wsdoctor lint -",
                    language="shell",
                ),
            )


def _host_field(route: discover.RouteRule) -> str:
    """Where the host is written: an Ingress rule's ``host``; else the route rule itself."""
    if route.kind == "Ingress" and ".http." in route.field:
        return route.field.split(".http.", 1)[0] + ".host"
    return route.field
