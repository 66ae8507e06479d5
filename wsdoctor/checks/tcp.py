"""tcp: connect to every address the name resolves to; time it, or say why it failed."""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Iterator
from typing import Literal

from wsdoctor.checks.base import Check, Code, Facts, Hop, Observation, ProbeContext, Skip, rule
from wsdoctor.checks.dns import DnsObservation, addresses_to_probe
from wsdoctor.checks.proxy_rules import CODES as PROXY_CODES
from wsdoctor.checks.proxy_rules import proxy_certificate_finding, proxy_finding, software
from wsdoctor.httpbody import body_text
from wsdoctor.models import Finding, Fix, Model, Resource, Status, endpoint
from wsdoctor.settings import Settings
from wsdoctor.tunnel import ProxyError, open_path, proxy_certificate_problem

ConnectOutcome = Literal[
    "connected", "refused", "timeout", "unreachable", "error",
    "proxy_unreachable", "proxy_auth", "proxy_refused", "proxy_upstream",
]
#: Headers of a proxy's refusal worth quoting: who it is and what it wants.
PROXY_HEADERS = ("server", "via", "x-squid-error", "proxy-authenticate", "x-cache")


class TcpAttempt(Model):
    """One TCP connect to one address."""

    address: str
    port: int
    outcome: ConnectOutcome
    connect_s: float | None = None
    """Time to a usable stream: the TCP handshake, or through a proxy until the tunnel is up."""
    error: str | None = None
    via: str | None = None
    """The proxy the connection went through (credentials redacted)."""
    proxy_software: str | None = None
    """The proxy's product, from its answer (``squid/5.7``)."""
    proxy_status_line: str | None = None
    proxy_headers: list[str] = []
    """Identifying headers of the proxy's refusal (``Server: squid/5.7``...)."""
    proxy_body: str | None = None
    """The text of the proxy's error page, HTML removed (at most 200 characters)."""
    socks_reply: int | None = None

    @property
    def endpoint(self) -> str:
        """``addr:port`` with IPv6 brackets."""
        return endpoint(self.address, self.port)


class TcpObservation(Observation):
    """Connect results for every address probed."""

    check: Literal["tcp"] = "tcp"
    attempts: list[TcpAttempt]
    proxy_certificate_error: str | None = None
    """With -k and an ``https://`` proxy: why the proxy's certificate is not trusted here
    (the tunnels went on regardless)."""

    @property
    def reachable(self) -> list[TcpAttempt]:
        """Attempts that connected."""
        return [a for a in self.attempts if a.outcome == "connected"]


REFUSED = Code("WSD-TCP-REFUSED", Status.FAIL, "Connection refused")
TIMEOUT = Code("WSD-TCP-TIMEOUT", Status.FAIL, "TCP connect timed out")
UNREACHABLE = Code("WSD-TCP-UNREACHABLE", Status.FAIL, "Address unreachable")
SOME_DOWN = Code("WSD-TCP-PARTIAL", Status.FAIL, "Some addresses do not accept connections")


def _classify(exc: BaseException) -> tuple[ConnectOutcome, str]:
    if isinstance(exc, TimeoutError):
        return "timeout", "no answer to SYN"
    if isinstance(exc, ConnectionRefusedError):
        return "refused", "connection refused (RST)"
    if isinstance(exc, OSError) and exc.errno in (
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.EADDRNOTAVAIL,
        errno.EAFNOSUPPORT,
    ):
        return "unreachable", exc.strerror or str(exc)
    return "error", f"{type(exc).__name__}: {exc}"


async def connect_once(address: str, port: int, settings: Settings) -> TcpAttempt:
    """Open and close one TCP connection (through the proxy, a tunnel), timing it."""
    via = settings.proxy.url if settings.proxy else None
    start = time.perf_counter()
    try:
        _, writer = await open_path(address, port, settings, timeout=settings.timeout)
    except ProxyError as exc:
        return _proxy_attempt(address, port, exc)
    except (OSError, TimeoutError) as exc:
        outcome, error = _classify(exc)
        return TcpAttempt(address=address, port=port, outcome=outcome, error=error, via=via)
    elapsed = time.perf_counter() - start
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return TcpAttempt(address=address, port=port, outcome="connected",
                      connect_s=round(elapsed, 6), via=via)


def _proxy_attempt(address: str, port: int, exc: ProxyError) -> TcpAttempt:
    """What the proxy did, as an attempt: unreachable, credentials, refused, or upstream."""
    answer = exc.answer
    outcome: ConnectOutcome
    if exc.stage in ("connect", "tls"):
        outcome = "proxy_unreachable"
    elif exc.stage == "auth":
        outcome = "proxy_auth"
    elif answer is not None and (answer.status in (502, 503, 504)
                                 or answer.socks_reply in (1, 3, 4, 5, 6)):
        outcome = "proxy_upstream"
    else:
        outcome = "proxy_refused"
    headers = answer.headers if answer else []
    body = body_text(answer.body_start.decode("utf-8", "replace")) \
        if answer and answer.body_start else None
    return TcpAttempt(
        address=address, port=port, outcome=outcome, error=str(exc), via=exc.proxy.url,
        proxy_software=software(headers), proxy_status_line=answer.status_line if answer
        else None, proxy_headers=[f"{n}: {v}" for n, v in headers if n.lower() in PROXY_HEADERS],
        proxy_body=body or None, socks_reply=answer.socks_reply if answer else None)


async def probe_tcp(ctx: ProbeContext) -> TcpObservation:
    """Connect to every address concurrently."""
    dns = ctx.get(DnsObservation)
    addresses = addresses_to_probe(ctx.target, ctx.settings, dns)
    if not addresses:
        raise Skip("no address to connect to: the name did not resolve")
    port = ctx.target.port
    settings = ctx.settings
    attempts = await asyncio.gather(*(connect_once(a, port, settings) for a in addresses))
    untrusted = None
    if settings.insecure and settings.proxy is not None and settings.proxy.scheme == "https":
        untrusted = await proxy_certificate_problem(settings.proxy, settings, settings.timeout)
    return TcpObservation(attempts=list(attempts), proxy_certificate_error=untrusted)


_CODES = {"refused": REFUSED, "timeout": TIMEOUT, "unreachable": UNREACHABLE}
_FIXES = {
    "refused": "Nothing listens on this port at this address: check the LoadBalancer Service's "
    "ports and that the ingress controller pods are running.",
    "timeout": "SYNs are dropped: check firewalls/security groups, and that the address is the "
    "load balancer's (kubectl get svc -A | grep LoadBalancer).",
    "unreachable": "No route to this address from here: check the address and your network "
    "(VPN, IPv6 connectivity).",
}


def judge_tcp(facts: Facts) -> Iterator[Finding]:
    """One finding per address that did not connect; PARTIAL when others did."""
    obs = facts.get(TcpObservation)
    if obs is None:
        return
    reachable = obs.reachable
    if obs.proxy_certificate_error is not None and facts.settings.proxy is not None:
        yield proxy_certificate_finding(facts.settings.proxy.url, obs.proxy_certificate_error)
    for attempt in obs.attempts:
        if attempt.outcome == "connected":
            continue
        if attempt.outcome.startswith("proxy_"):
            yield proxy_finding(attempt, facts.target.host)
            continue
        code = _CODES.get(attempt.outcome, REFUSED)
        if reachable:
            code = SOME_DOWN
        yield code.finding(
            "tcp",
            f"{attempt.endpoint}: {attempt.error}"
            + (
                f" ({len(reachable)} of {len(obs.attempts)} addresses connect)" if reachable else ""
            ),
            evidence={"address": attempt.address, "port": attempt.port, "outcome": attempt.outcome},
            resource=Resource(kind="Address", name=attempt.endpoint),
            fix=Fix(summary=_FIXES.get(attempt.outcome, _FIXES["refused"])),
            title=f"{code.title}: {attempt.endpoint}",
        )


def summarize_tcp(obs: Observation) -> str:
    """``2/2 addresses connect, 0.3 ms``."""
    assert isinstance(obs, TcpObservation)
    times = [a.connect_s for a in obs.reachable if a.connect_s is not None]
    fastest = f", {min(times) * 1000:.1f} ms" if times else ""
    via = obs.attempts[0].via if obs.attempts else None
    if via:
        return f"tunnel via {via}: {len(obs.reachable)}/{len(obs.attempts)} open{fastest}"
    return f"{len(obs.reachable)}/{len(obs.attempts)} addresses connect{fastest}"


CHECK = Check(
    id="tcp",
    title="TCP connect",
    hop=Hop.NETWORK,
    probe=probe_tcp,
    needs=("dns",),
    rules=(rule(judge_tcp),),
    codes=(REFUSED, TIMEOUT, UNREACHABLE, SOME_DOWN, *PROXY_CODES),
    summarize=summarize_tcp,
)
