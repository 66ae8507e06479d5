"""dns: A/AAAA records and the CNAME chain, with TTLs; every address found is probed later."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

from wsdoctor.checks.base import Check, Code, Facts, Hop, Observation, ProbeContext, rule
from wsdoctor.models import Finding, Fix, Model, Resource, Status, Target
from wsdoctor.settings import Settings

if TYPE_CHECKING:
    import dns.asyncresolver

QueryOutcome = Literal["ok", "nxdomain", "no_answer", "servfail", "timeout", "error"]


class DnsRecord(Model):
    """One resource record of an answer."""

    name: str
    type: str
    value: str
    ttl: int


class DnsQuery(Model):
    """The answer to one query type."""

    type: Literal["A", "AAAA"]
    outcome: QueryOutcome
    records: list[DnsRecord] = []
    error: str | None = None
    duration_s: float = 0.0


class DnsObservation(Observation):
    """How the target's name resolved (or that it was pinned, or is an address)."""

    check: Literal["dns"] = "dns"
    name: str
    source: Literal["dns", "hosts", "pinned", "literal", "proxy"]
    """``proxy``: the proxy resolves the name (HTTP CONNECT, socks5h), not this machine."""
    server: str | None = None
    queries: list[DnsQuery] = []
    cname_chain: list[DnsRecord] = []
    addresses: list[str] = []
    duration_s: float = 0.0


NXDOMAIN = Code("WSD-DNS-NXDOMAIN", Status.FAIL, "The name does not exist (NXDOMAIN)")
SERVFAIL = Code("WSD-DNS-SERVFAIL", Status.FAIL, "DNS server failure (SERVFAIL)")
TIMEOUT = Code("WSD-DNS-TIMEOUT", Status.FAIL, "DNS query timed out")
NO_ADDRESS = Code("WSD-DNS-NO-ADDRESS", Status.FAIL, "The name has no A or AAAA record")
NO_AAAA = Code("WSD-DNS-NO-AAAA", Status.INFO, "No IPv6 address (AAAA) for the name")


def _parse_server(server: str) -> tuple[str, int]:
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    if server.count(":") == 1:
        host, _, port = server.partition(":")
        return host, int(port)
    return server, 53


def make_resolver(settings: Settings) -> dns.asyncresolver.Resolver:
    """A resolver for the chosen server (or the system's), with the step time limit."""
    import dns.asyncresolver

    if settings.dns_server:
        resolver = dns.asyncresolver.Resolver(configure=False)
        host, port = _parse_server(settings.dns_server)
        resolver.nameservers = [host]
        resolver.port = port
    else:
        resolver = dns.asyncresolver.Resolver()
    resolver.lifetime = settings.timeout
    resolver.timeout = settings.timeout
    return resolver


async def _query(resolver: dns.asyncresolver.Resolver, name: str, rdtype: str) -> DnsQuery:
    import dns.exception
    import dns.resolver

    kind: Literal["A", "AAAA"] = "A" if rdtype == "A" else "AAAA"
    start = time.perf_counter()

    def done(outcome: QueryOutcome, error: str | None = None) -> DnsQuery:
        return DnsQuery(
            type=kind, outcome=outcome, error=error, duration_s=time.perf_counter() - start
        )

    try:
        answer = await resolver.resolve(name, rdtype, search=False)
    except dns.resolver.NXDOMAIN:
        return done("nxdomain", "NXDOMAIN")
    except dns.resolver.NoAnswer:
        return done("no_answer", f"no {rdtype} record")
    except dns.resolver.NoNameservers as exc:
        return done("servfail", str(exc).split(";")[0])
    except dns.exception.Timeout as exc:
        return done("timeout", str(exc))
    except dns.exception.DNSException as exc:
        return done("error", f"{type(exc).__name__}: {exc}")
    records = [
        DnsRecord(
            name=str(rrset.name), type=_rdtype_text(rrset.rdtype), value=rd.to_text(), ttl=rrset.ttl
        )
        for rrset in answer.response.answer
        for rd in rrset
    ]
    return DnsQuery(
        type=kind, outcome="ok", records=records, duration_s=time.perf_counter() - start
    )


def _rdtype_text(rdtype: int) -> str:
    import dns.rdatatype

    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))


def is_address(host: str) -> bool:
    """True when ``host`` is an IPv4 or IPv6 literal."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def probe_dns(ctx: ProbeContext) -> DnsObservation:
    """Resolve A and AAAA concurrently, unless the address is pinned or literal."""
    target, settings = ctx.target, ctx.settings
    if is_address(target.host):
        return DnsObservation(name=target.host, source="literal", addresses=[target.host])
    pinned = settings.pinned_address(target.host, target.port)
    if pinned is not None:
        return DnsObservation(name=target.host, source="pinned", addresses=[pinned])
    if settings.proxy is not None and settings.proxy.resolves_remotely:
        # What this machine's resolver says is not on the path: the tunnel names the host.
        return DnsObservation(name=target.host, source="proxy", server=settings.proxy.url,
                              addresses=[target.host])
    if not settings.dns_server:
        local = hosts_file_addresses(target.host)
        if local:
            return DnsObservation(name=target.host, source="hosts", addresses=local)
    resolver = make_resolver(settings)
    start = time.perf_counter()
    queries = list(await asyncio.gather(*(_query(resolver, target.host, t) for t in ("A", "AAAA"))))
    addresses: list[str] = []
    chain: list[DnsRecord] = []
    for query in queries:
        for record in query.records:
            if record.type in ("A", "AAAA") and record.value not in addresses:
                addresses.append(record.value)
            elif record.type == "CNAME" and record not in chain:
                chain.append(record)
    return DnsObservation(
        name=target.host,
        source="dns",
        server=settings.dns_server or ",".join(str(n) for n in resolver.nameservers),
        queries=queries,
        cname_chain=chain,
        addresses=addresses,
        duration_s=time.perf_counter() - start,
    )


def hosts_file_addresses(name: str, path: str = "/etc/hosts") -> list[str]:
    """Addresses /etc/hosts gives ``name`` (the system resolver asks it before DNS)."""
    found: list[str] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as hosts:
            for line in hosts:
                fields = line.split("#", 1)[0].split()
                names = {f.lower() for f in fields[1:]}
                if name.lower() in names and is_address(fields[0]) and fields[0] not in found:
                    found.append(fields[0])
    except OSError:
        return []
    return found


def addresses_to_probe(target: Target, settings: Settings, dns: DnsObservation | None) -> list[str]:
    """Addresses the network probes connect to, in answer order, capped by settings."""
    if dns is not None:
        return dns.addresses[: settings.max_addresses]
    if is_address(target.host):
        return [target.host]
    pinned = settings.pinned_address(target.host, target.port)
    if pinned is None and settings.proxy is not None and settings.proxy.resolves_remotely:
        return [target.host]  # the tunnel is opened to the name
    return [pinned] if pinned else []


def judge_dns(facts: Facts) -> Iterator[Finding]:
    """Name errors first; a missing AAAA is only information."""
    obs = facts.get(DnsObservation)
    if obs is None or obs.source != "dns":
        return
    resource = Resource(kind="DNSName", name=obs.name)
    by_type = {q.type: q for q in obs.queries}
    a, aaaa = by_type.get("A"), by_type.get("AAAA")
    outcomes = {q.outcome for q in obs.queries}
    server = f" (server {obs.server})" if obs.server else ""
    if "nxdomain" in outcomes:
        yield NXDOMAIN.finding(
            "dns",
            f"{obs.name} does not exist{server}.",
            resource=resource,
            evidence={"name": obs.name, "server": obs.server},
            fix=Fix(
                summary="Check the spelling; create the DNS record pointing at the ingress "
                "load balancer (external-dns: the Ingress host must match its domain filter)."
            ),
        )
        return
    if not obs.addresses:
        for code, outcome in ((SERVFAIL, "servfail"), (TIMEOUT, "timeout")):
            if outcome in outcomes:
                errors = "; ".join(f"{q.type}: {q.error}" for q in obs.queries if q.error)
                yield code.finding(
                    "dns",
                    f"{obs.name}{server}: {errors}",
                    resource=resource,
                    evidence={"name": obs.name, "server": obs.server},
                    fix=Fix(
                        summary="The resolver could not answer: check the authoritative "
                        "servers (dig +trace) or choose another resolver with --dns-server."
                    ),
                )
                return
        yield NO_ADDRESS.finding(
            "dns",
            f"{obs.name} exists but has no A or AAAA record{server}.",
            resource=resource,
            evidence={"name": obs.name},
            fix=Fix(summary="Add an A/AAAA (or CNAME) record for the ingress load balancer."),
        )
        return
    if a is not None and a.outcome == "ok" and aaaa is not None and aaaa.outcome == "no_answer":
        yield NO_AAAA.finding(
            "dns",
            f"{obs.name} resolves to IPv4 only: {', '.join(obs.addresses)}.",
            resource=resource,
            evidence={"addresses": list(obs.addresses)},
        )


def summarize_dns(obs: Observation) -> str:
    """``ws.example.com → 10.0.0.1, 10.0.0.2 (CNAME lb.example.net)``."""
    assert isinstance(obs, DnsObservation)
    if obs.source == "literal":
        return f"{obs.name} is an address"
    if obs.source == "pinned":
        return f"{obs.name} pinned to {', '.join(obs.addresses)} (--resolve)"
    if obs.source == "hosts":
        return f"{obs.name} → {', '.join(obs.addresses)} (/etc/hosts)"
    if obs.source == "proxy":
        return f"{obs.name} is resolved by the proxy {obs.server}, not here"
    if not obs.addresses:
        return f"{obs.name} has no address"
    via = f" via CNAME {obs.cname_chain[-1].value}" if obs.cname_chain else ""
    return f"{obs.name} → {', '.join(obs.addresses)}{via}"


CHECK = Check(
    id="dns",
    title="DNS resolution",
    hop=Hop.NAME,
    probe=probe_dns,
    rules=(rule(judge_dns),),
    codes=(NXDOMAIN, SERVFAIL, TIMEOUT, NO_ADDRESS, NO_AAAA),
    summarize=summarize_dns,
)
