"""Cross-checks: configuration held against measurement. Each reads the cluster observation
and what a network check measured (through ``wsdoctor.kube.measured``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import TYPE_CHECKING

from wsdoctor.codes import Code
from wsdoctor.kube import measured
from wsdoctor.kube.rulebase import CHECK_ID, human_seconds
from wsdoctor.models import Finding, Fix, Resource, Status

if TYPE_CHECKING:
    from wsdoctor.checks.base import Facts
    from wsdoctor.kube.observation import ClusterObservation, TlsConfig
    from wsdoctor.kube.timeouts import ConfiguredTimeout

DNS_ELSEWHERE = Code(
    "WSD-K8S-DNS-ELSEWHERE", Status.WARN, "The name points away from the ingress load balancer"
)
DEFAULT_CERT = Code(
    "WSD-K8S-DEFAULT-CERT", Status.FAIL, "The controller serves its default certificate"
)
IDLE_BINDS = Code(
    "WSD-K8S-IDLE-BINDS", Status.INFO, "Which configured timeout ended the idle WebSocket"
)
IDLE_BINDS_SHORT = Code(
    "WSD-K8S-IDLE-BINDS-SHORT",
    Status.FAIL,
    "A configured timeout cuts idle WebSockets shorter than the application needs",
)
IDLE_OUTSIDE = Code(
    "WSD-K8S-IDLE-OUTSIDE", Status.WARN, "Idle timeout comes from outside the cluster"
)
AFFINITY_NO_COOKIE = Code(
    "WSD-K8S-AFFINITY-NO-COOKIE", Status.WARN, "Affinity is configured but no cookie was set"
)
COOKIE_UNCONFIGURED = Code(
    "WSD-K8S-COOKIE-UNCONFIGURED",
    Status.INFO,
    "An affinity cookie is set that the route does not configure",
)
CERT_NOT_FROM_SECRET = Code(
    "WSD-K8S-CERT-NOT-FROM-SECRET",
    Status.WARN,
    "The served certificate is not the one in the TLS Secret",
)
CODES = (
    DNS_ELSEWHERE,
    DEFAULT_CERT,
    CERT_NOT_FROM_SECRET,
    IDLE_BINDS,
    IDLE_BINDS_SHORT,
    IDLE_OUTSIDE,
    AFFINITY_NO_COOKIE,
    COOKIE_UNCONFIGURED,
)

#: Default-certificate tells (KNOWLEDGE.md §5).
DEFAULT_CERT_TELLS = (
    "Kubernetes Ingress Controller Fake Certificate",
    "TRAEFIK DEFAULT CERT",
    "kubernetes-ingress-ca",
)
#: Idle timeouts of components outside the cluster (KNOWLEDGE.md §1), seconds → who.
OUTSIDE_DEFAULTS = {
    30: "GCP backend service timeout",
    55: "Heroku router",
    60: "AWS ALB/ELB or DigitalOcean LB idle timeout (default)",
    100: "Cloudflare proxy read timeout",
    240: "Azure Load Balancer idle timeout",
    350: "AWS NLB idle timeout",
}
TOLERANCE = 2.0


def _route_resource(obs: ClusterObservation) -> Resource | None:
    if not obs.routes:
        return None
    r = obs.routes[0]
    return Resource(kind=r.kind, namespace=r.namespace, name=r.name)


def cross_check_dns(obs: ClusterObservation, facts: Facts) -> Iterator[Finding]:
    """DNS answers vs the route's external addresses (its own status first, else the
    controller's LoadBalancer Services)."""
    from wsdoctor.checks.dns import DnsObservation

    dns = facts.get(DnsObservation)
    if dns is None or dns.source != "dns" or not dns.addresses or not obs.lb_addresses:
        return
    ips, names = [], []
    for addr in obs.lb_addresses:
        try:
            ips.append(str(ipaddress.ip_address(addr)))
        except ValueError:
            names.append(addr.rstrip(".").lower())
    cnames = {r.value.rstrip(".").lower() for r in dns.cname_chain}
    if set(dns.addresses) & set(ips) or cnames & set(names):
        return
    yield DNS_ELSEWHERE.finding(
        CHECK_ID,
        f"{dns.name} resolves to {', '.join(dns.addresses)}, but "
        f"{obs.addresses_from or f'the {obs.controller} load balancer'} has "
        f"{', '.join(obs.lb_addresses)}: clients reach something else (an old load balancer, "
        "another cluster, a CDN).",
        resource=_route_resource(obs),
        evidence={
            "dns": list(dns.addresses),
            "load_balancer": list(obs.lb_addresses),
            "addresses_from": obs.addresses_from or f"{obs.controller} load balancer",
        },
        fix=Fix(
            summary="Point the DNS record at the load balancer (external-dns: check its logs)."
        ),
    )


def cross_check_certificate(obs: ClusterObservation, facts: Facts) -> Iterator[Finding]:
    """A default certificate served, explained by the route's TLS configuration."""
    cert = measured.served_certificate(facts)
    if cert is None:
        return
    tell = next((t for t in DEFAULT_CERT_TELLS if t in cert.subject or t in cert.issuer), None)
    host = facts.target.host
    tls = [t for t in obs.tls if any(h.lower() == host.lower() for h in t.hosts) or not t.hosts]
    if tell is None:
        yield from _compare_with_secret(cert, tls)
        return
    if not tls:
        why = f"no TLS section of the route lists {host}"
        fix = Fix(
            summary="Add a tls entry for the host with a certificate Secret.",
            snippet=f"spec:\n  tls:\n  - hosts: [{host}]\n"
            f"    secretName: {host.split('.')[0]}-tls\n",
            language="yaml",
        )
    else:
        missing = [t for t in tls if t.secret_name is None or t.secret_exists is False]
        why = (
            f"the TLS Secret {missing[0].secret_name or '(none)'} is missing"
            if missing
            else f"the TLS Secret {tls[0].secret_name} is not valid for {host}"
        )
        fix = Fix(
            summary="Create the Secret (cert-manager: check the Certificate's status).",
            snippet=f"kubectl -n {tls[0].namespace} describe certificate\n"
            f"kubectl -n {tls[0].namespace} get secret {tls[0].secret_name}",
            language="shell",
        )
        if obs.routes and obs.routes[0].kind == "IngressRoute":
            fix = Fix(
                summary=f"Traefik serves TRAEFIK DEFAULT CERT while the IngressRoute's "
                f"spec.tls.secretName ({tls[0].secret_name}) cannot be loaded: create that "
                f"kubernetes.io/tls Secret in namespace {tls[0].namespace} (the IngressRoute's "
                "own), or set spec.tls.certResolver.",
                snippet=f"kubectl -n {tls[0].namespace} create secret tls "
                f"{tls[0].secret_name} --cert=tls.crt --key=tls.key",
                language="shell",
            )
    from wsdoctor.checks.tls_rules import DEFAULT_CERT as TLS_DEFAULT_CERT

    yield DEFAULT_CERT.finding(
        CHECK_ID,
        f"The served certificate is the controller's default ({tell}): {why}.",
        explains=(TLS_DEFAULT_CERT,),
        resource=_route_resource(obs),
        evidence={"subject": cert.subject, "issuer": cert.issuer},
        fix=fix,
    )


def _compare_with_secret(
    cert: measured.ServedCertificate, tls: list[TlsConfig]
) -> Iterator[Finding]:
    """With --read-tls-secret: the served leaf must be the Secret's certificate."""
    read = [t for t in tls if t.secret_cert_sha256]
    if not read or any(t.secret_cert_sha256 == cert.sha256 for t in read):
        return
    entry = read[0]
    yield CERT_NOT_FROM_SECRET.finding(
        CHECK_ID,
        f"The server presents {cert.subject} (sha256 {cert.sha256[:16]}…), but Secret "
        f"{entry.namespace}/{entry.secret_name} holds {entry.secret_cert_subject} (sha256 "
        f"{str(entry.secret_cert_sha256)[:16]}…): the controller has not loaded the Secret, "
        "or another proxy in front terminates TLS.",
        resource=Resource(
            kind="Secret",
            namespace=entry.namespace,
            name=str(entry.secret_name),
            field='data["tls.crt"]',
        ),
        evidence={"served_sha256": cert.sha256, "secret_sha256": entry.secret_cert_sha256},
        fix=Fix(
            summary="Check the controller's logs for the Secret, and what terminates TLS in "
            "front of it (a CDN or cloud load balancer with its own certificate)."
        ),
    )


def cross_check_idle(obs: ClusterObservation, facts: Facts) -> Iterator[Finding]:
    """The measured idle timeout vs every configured timeout on the path. Not when the
    measurement itself says who closed: the application's close frame (the idle check's
    finding), or a bisected hop inside the cluster cutting as soon (the hops check's)."""
    seconds = measured.measured_idle(facts)
    if seconds is None or measured.idle_closed_by(facts) == "application" or \
            measured.cut_inside_the_cluster(facts, seconds, TOLERANCE):
        return
    binding = [t for t in obs.timeouts if abs(t.seconds - seconds) <= TOLERANCE]
    expect = facts.settings.expect_idle
    if binding and expect is not None and seconds < expect - TOLERANCE:
        yield _binds_short(binding[0], seconds, expect)
        return
    if binding:
        t = binding[0]
        yield IDLE_BINDS.finding(
            CHECK_ID,
            f"The connection closed after {seconds:.1f} s of silence: {t.describe()} binds.",
            resource=t.resource,
            evidence={"measured_s": seconds, "component": t.component, "setting": t.setting},
        )
        return
    shorter = [t for t in obs.timeouts if t.seconds > seconds + TOLERANCE]
    outside = next(
        (who for s, who in OUTSIDE_DEFAULTS.items() if abs(s - seconds) <= TOLERANCE), None
    )
    yield IDLE_OUTSIDE.finding(
        CHECK_ID,
        f"The connection closed after {seconds:.1f} s of silence, shorter than every timeout "
        f"configured in the cluster ({', '.join(t.describe() for t in shorter) or 'none'}): "
        "a component outside the cluster cuts it"
        + (f" — it matches the {outside}." if outside else " (a cloud load balancer, a CDN)."),
        resource=_route_resource(obs),
        evidence={"measured_s": seconds, "outside_match": outside},
        fix=Fix(
            summary=f"Raise the idle timeout of the load balancer/CDN in front, or send "
            f"heartbeats more often than every {human_seconds(max(seconds - 5, 1))}."
        ),
    )


def _binds_short(t: ConfiguredTimeout, seconds: float, expect: float) -> Finding:
    """The configured timeout that cut the measured one, as the root cause of the idle fail."""
    from wsdoctor.checks.idle import TIMEOUT_SHORT
    from wsdoctor.checks.lifetime import heartbeat_hint
    from wsdoctor.knowledge import components_named, idle_timeout_fix

    entries = components_named([t.component])
    snippet, language = idle_timeout_fix(entries, expect) if entries else (None, None)
    owner = t.resource
    where = (f"on {owner.kind} {owner.namespace + '/' if owner.namespace else ''}{owner.name}"
             if owner else "(the component's default)")
    return IDLE_BINDS_SHORT.finding(
        CHECK_ID,
        f"The connection closed after {seconds:.1f} s of silence because {t.describe()} binds; "
        f"the application needs {expect:g} s.",
        resource=t.resource,
        evidence={"measured_s": seconds, "configured_s": t.seconds, "expect_idle_s": expect,
                  "component": t.component, "setting": t.setting},
        fix=Fix(
            summary=f"Set {t.component} {t.setting} to at least {expect:g} s {where}, or send "
            f"heartbeats more often than every {human_seconds(heartbeat_hint(seconds))}.",
            snippet=snippet,
            language=language if language in ("yaml", "nginx", "haproxy", "text")  # type: ignore[arg-type]
            else "text",
        ),
        title=f"{t.component} {t.setting} of {t.seconds:g} s cuts idle WebSockets "
        f"(the application needs {expect:g} s)",
        explains=[TIMEOUT_SHORT],
    )


#: What to check when configured affinity sets no cookie, by (controller, configuring kind).
_NO_COOKIE_CHECKS: dict[tuple[str, str] | None, str] = {
    None: "Check the controller actually serving the host (IngressClass) and that the "
    "annotation is on the Ingress it uses.",
    ("traefik", "Service"): "Check that Traefik serves the host (IngressClass) and that the "
    "sticky annotation is on the Service the Ingress sends to; behind an IngressRoute, "
    "Service annotations are ignored: set sticky.cookie on the IngressRoute's service.",
    ("traefik", "IngressRoute"): "Check that this IngressRoute is the router Traefik uses for "
    "the host (entry points, a router of higher priority) and that sticky.cookie is on the "
    "service of the rule matching the path.",
    ("traefik", "TraefikService"): "Check that the IngressRoute serving the host names this "
    "TraefikService and that sticky.cookie is on it or on its weighted services.",
    ("haproxytech", "Service"): "Check that haproxytech serves the host (IngressClass) and "
    "that cookie-persistence is on the Service the Ingress sends to (on an Ingress it is "
    "ignored).",
    ("istio", "DestinationRule"): "Check that the DestinationRule's host names the Service "
    "and that consistentHash.httpCookie has a ttl (without one Envoy sets no cookie).",
}


def cross_check_affinity(obs: ClusterObservation, facts: Facts) -> Iterator[Finding]:
    """Affinity configured but no cookie observed, and the reverse."""
    cookies = measured.cookies_seen(facts)
    if cookies is None:
        return
    config = obs.affinity
    if config is not None and config.method == "cookie":
        expected = config.cookie
        seen = expected in cookies if expected else bool(cookies)
        if not seen:
            yield AFFINITY_NO_COOKIE.finding(
                CHECK_ID,
                f"{config.resource} configures cookie affinity ({config.controller}, cookie "
                f"{expected or 'generated'}), but the upgrade responses set "
                f"{', '.join(cookies) or 'no cookie'}: connections are not sticky.",
                resource=config.resource,
                evidence={
                    "expected": expected,
                    "seen": list[str | int | float | bool | None](cookies),
                },
                fix=Fix(summary=_NO_COOKIE_CHECKS.get(
                    (config.controller, config.resource.kind), _NO_COOKIE_CHECKS[None])),
            )
    elif config is None:
        sticky = [
            c for c in cookies if c in ("INGRESSCOOKIE", "SERVERID", "route") or c.startswith("_")
        ]
        if sticky:
            yield COOKIE_UNCONFIGURED.finding(
                CHECK_ID,
                f"The responses set {', '.join(sticky)}, an affinity cookie, but the route "
                "configures no affinity: another proxy in front sets it.",
                resource=_route_resource(obs),
                evidence={"cookies": list[str | int | float | bool | None](sticky)},
            )
