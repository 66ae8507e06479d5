"""handshake: a real WebSocket upgrade on every reachable address, concurrently.

The probe records what each address answered (status line, headers, the start of the body,
timings, negotiated subprotocol and extensions); the rules turn a refused or broken upgrade
into its likely cause and fix (see :mod:`wsdoctor.checks.handshake_advice`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

from wsdoctor.checks.base import Check, Facts, Hop, Observation, ProbeContext, Skip, rule
from wsdoctor.checks.handshake_advice import (  # re-exported: other checks' rules name them
    ALL_CODES,
    BAD_GATEWAY,
    CERT_UNTRUSTED,
    CONNECT_FAILED,
    FORBIDDEN,
    GATEWAY_TIMEOUT,
    INVALID_101,
    MALFORMED_RESPONSE,
    NO_RESPONSE,
    NO_SUBPROTOCOL,
    NOT_FOUND,
    NOT_HTTP,
    RATE_LIMITED,
    REDIRECT,
    REFUSED,
    TIMEOUT,
    UNAUTHORIZED,
    UNAVAILABLE,
    UPGRADE_IGNORED,
    UPGRADE_NOT_FORWARDED,
    WRONG_SCHEME,
    advise,
    classify,
)
from wsdoctor.checks.handshake_model import (  # re-exported: the observation's home
    HandshakeAttempt,
    HandshakeObservation,
    HeaderField,
)
from wsdoctor.checks.handshake_refusals import BAD_REQUEST, HEADERS_TOO_LARGE
from wsdoctor.checks.past_certificate import upgrade_past_certificate
from wsdoctor.checks.proxy_rules import through_proxy
from wsdoctor.checks.tcp import TcpObservation
from wsdoctor.checks.tls import TlsObservation
from wsdoctor.checks.tls_rules import HANDSHAKE_FAILED, HANDSHAKE_RESET, NOT_TLS
from wsdoctor.models import Finding, Fix, Resource
from wsdoctor.redact import redact_header
from wsdoctor.route import connect_tcp, host_header
from wsdoctor.settings import Settings
from wsdoctor.wsconn import BODY_QUOTE, UpgradeAttempt, printable

#: tls findings that a wrong scheme explains.
TLS_SYMPTOMS = (HANDSHAKE_RESET, NOT_TLS, HANDSHAKE_FAILED)

def _fields(pairs: list[tuple[str, str]], settings: Settings) -> list[HeaderField]:
    user = frozenset(h.name.lower() for h in settings.headers)
    return [HeaderField(name=name, value=redact_header(name, value, user))
            for name, value in pairs]


def record(attempt: UpgradeAttempt, port: int, settings: Settings,
           certificate_error: str | None = None,
           plain_http_answer: str | None = None) -> HandshakeAttempt:
    """The report's view of an upgrade attempt, with secrets redacted."""
    step = attempt.failed_step if attempt.failed_step in ("tcp", "proxy", "tls") else None
    watch = attempt.tls
    return HandshakeAttempt(
        address=attempt.address,
        port=port,
        outcome=attempt.outcome.value,
        status_code=attempt.status_code,
        status_line=attempt.status_line,
        headers=_fields(attempt.response_headers, settings),
        request_headers=_fields(attempt.request_headers, settings),
        body_start=attempt.body_start[:BODY_QUOTE].decode("utf-8", "replace"),
        error=attempt.error,
        error_type=attempt.error_type,
        failed_step=step,  # type: ignore[arg-type]  # the attempt's step: one of these
        certificate_error=certificate_error,
        plain_http_answer=plain_http_answer,
        connect_s=_round(attempt.connect_s),
        tls_s=_round(attempt.tls_s),
        upgrade_s=_round(attempt.upgrade_s),
        subprotocol=attempt.subprotocol,
        extensions=list(attempt.extensions),
        client_cert_requested=watch.certificate_requested if watch else None,
        client_cert_sent=watch.client_certificate_sent if watch else None,
        acceptable_cas=list(watch.acceptable_cas) if watch else [],
        tls_alerts=list(watch.alerts_received) if watch else [],
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


async def attempt_upgrade(ctx: ProbeContext, address: str) -> HandshakeAttempt:
    """Upgrade on one address and close cleanly. A certificate that fails verification is
    the tls check's finding; the upgrade is then tried past it, so its own problems show too."""
    target, settings = ctx.target, ctx.settings
    attempt, conn, certificate_error = await upgrade_past_certificate(ctx, address)
    if conn is not None:
        await conn.close(wait=min(settings.timeout, 1.0))
    plain = None
    if attempt.failed_step == "tls":
        plain = await plain_http_status(address, target.port, host_header(target), settings)
    return record(attempt, target.port, settings, certificate_error, plain)


async def plain_http_status(address: str, port: int, host: str,
                            settings: Settings) -> str | None:
    """The status line a plain ``GET /`` gets on this port, or None: tells a port that speaks
    plain HTTP (the URL should be ws://) from a TLS server that resets the handshake."""
    timeout = settings.timeout
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await connect_tcp(address, port, settings, timeout=timeout)
            try:
                writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: "
                             f"{settings.effective_user_agent}\r\nConnection: close\r\n\r\n"
                             .encode("latin-1"))
                line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError, ValueError):
        return None
    return printable(line.rstrip(b"\r\n")) if line.startswith(b"HTTP/") else None


async def probe_handshake(ctx: ProbeContext) -> HandshakeObservation:
    """Upgrade on every address that accepted TCP, concurrently."""
    tcp = ctx.get(TcpObservation)
    addresses = [a.address for a in tcp.reachable] if tcp else []
    if not addresses:
        raise Skip("no address accepts TCP connections (see the tcp check)")
    attempts = await asyncio.gather(*(attempt_upgrade(ctx, a) for a in addresses))
    first = attempts[0].request_headers
    return HandshakeObservation(
        url=ctx.target.url,
        host_header=next((h.value for h in first if h.name.lower() == "host"),
                         ctx.target.host_header),
        origin=ctx.settings.origin,
        offered_subprotocols=list(ctx.settings.subprotocols),
        attempts=list(attempts),
    )


def judge_handshake(facts: Facts) -> Iterator[Finding]:
    """One finding per distinct failure; addresses that answer alike share one finding."""
    obs = facts.get(HandshakeObservation)
    if obs is None:
        return
    tls = facts.get(TlsObservation)
    tls_failed = {a.address for a in tls.attempts if a.outcome != "completed"} if tls else set()
    groups: dict[tuple[str, int | None], list[HandshakeAttempt]] = {}
    for attempt in obs.attempts:
        code = classify(attempt)
        if code is not None:
            groups.setdefault((code.code, attempt.status_code), []).append(attempt)
    total = len(obs.attempts)
    for members in groups.values():
        first = members[0]
        code = classify(first)
        assert code is not None
        advice = advise(code, first, obs, facts.target)
        if code is CONNECT_FAILED and first.failed_step == "tls" and first.address in tls_failed:
            # The tls check has the diagnosis of this handshake; do not repeat it here.
            advice = replace(advice, cause="The upgrade cannot start without TLS: see the tls "
                             "check's finding for this address.", fix=Fix(
                                 summary="Fix the TLS handshake (tls check) first."))
        where = _where(members, total)
        share = "" if len(members) == total else f" ({len(members)} of {total} addresses)"
        found = code.finding(
            "handshake",
            f"{where}{share}: {advice.seen}\n{advice.cause}",
            evidence=advice.evidence | {"addresses": [m.endpoint for m in members]},
            resource=Resource(kind="Address", name=first.endpoint) if len(members) == 1
            else Resource(kind="URL", name=obs.url),
            fix=advice.fix,
            title=advice.title,
            # A TLS port that answers plain HTTP: the wrong scheme is why TLS failed.
            explains=TLS_SYMPTOMS if code is WRONG_SCHEME and first.failed_step == "tls" else (),
        )
        yield through_proxy(found, facts.settings.proxy) if code in (TIMEOUT, NO_RESPONSE) \
            else found
    yield from _judge_upgraded(facts, obs)


def _where(members: list[HandshakeAttempt], total: int) -> str:
    if len(members) == 1:
        return members[0].endpoint
    names = ", ".join(m.endpoint for m in members)
    return f"all {total} addresses ({names})" if len(members) == total else names


def _judge_upgraded(facts: Facts, obs: HandshakeObservation) -> Iterator[Finding]:
    untrusted = [a for a in obs.attempts if a.certificate_error]
    if untrusted and facts.status("tls") is None:
        first = untrusted[0]
        yield CERT_UNTRUSTED.finding(
            "handshake",
            f"{first.endpoint}: {first.certificate_error}. The upgrade was tested past it; "
            "browsers and clients that verify certificates cannot connect.",
            evidence={"error": first.certificate_error},
            resource=Resource(kind="Address", name=first.endpoint),
            fix=Fix(summary="Serve a certificate for this host from a trusted CA (cert-manager), "
                    "or pass --cacert with your private CA. Run the tls check for details."),
        )
    if obs.offered_subprotocols:
        for attempt in obs.upgraded:
            if attempt.subprotocol is None:
                yield NO_SUBPROTOCOL.finding(
                    "handshake",
                    f"{attempt.endpoint}: offered {', '.join(obs.offered_subprotocols)}; the "
                    "101 carries no Sec-WebSocket-Protocol. Clients that require a subprotocol "
                    "(e.g. graphql-ws, STOMP, MQTT) close the connection at once.",
                    evidence={"offered": list(obs.offered_subprotocols)},
                    resource=Resource(kind="Address", name=attempt.endpoint),
                    fix=Fix(summary="Make the server accept one of the offered subprotocols "
                            "(check its spelling on both sides)."),
                )


def summarize_handshake(obs: Observation) -> str:
    """``101 on 2/2 addresses in 3.1 ms, permessage-deflate`` or what was answered instead."""
    assert isinstance(obs, HandshakeObservation)
    done = obs.upgraded
    total = len(obs.attempts)
    if not done:
        first = obs.attempts[0]
        answer = first.status_line if first.outcome == "refused" else first.error
        if first.outcome == "connect_failed":
            step = {"tls": "TLS handshake", "tcp": "TCP connect"}.get(first.failed_step or "")
            answer = f"{step or 'connection'} failed: {first.error}"
        if first.outcome == "invalid" and first.status_code == 101:
            answer = f"invalid 101: {first.error}"
        answer = answer or first.outcome
        return f"no upgrade on {total} address{'es' if total > 1 else ''}: {answer}"[:120]
    fastest = min((a.upgrade_s for a in done if a.upgrade_s is not None), default=None)
    parts = [f"101 on {len(done)}/{total} addresses"
             + (f" in {fastest * 1000:.1f} ms" if fastest is not None else "")]
    extensions = sorted({e for a in done for e in a.extensions})
    parts.append(", ".join(extensions) if extensions else "no compression")
    if done[0].subprotocol:
        parts.append(f"subprotocol {done[0].subprotocol}")
    return ", ".join(parts)


CHECK = Check(
    id="handshake",
    title="WebSocket upgrade",
    hop=Hop.UPGRADE,
    probe=probe_handshake,
    needs=("tcp",),
    rules=(rule(judge_handshake, "tls"),),
    codes=ALL_CODES,
    summarize=summarize_handshake,
    time_limit=lambda s: s.timeout * 6 + 2.0,
)

__all__ = [
    "BAD_GATEWAY",
    "BAD_REQUEST",
    "CERT_UNTRUSTED",
    "CHECK",
    "CONNECT_FAILED",
    "FORBIDDEN",
    "GATEWAY_TIMEOUT",
    "HEADERS_TOO_LARGE",
    "INVALID_101",
    "MALFORMED_RESPONSE",
    "NOT_FOUND",
    "NOT_HTTP",
    "NO_RESPONSE",
    "NO_SUBPROTOCOL",
    "RATE_LIMITED",
    "REDIRECT",
    "REFUSED",
    "TIMEOUT",
    "UNAUTHORIZED",
    "UNAVAILABLE",
    "UPGRADE_IGNORED",
    "UPGRADE_NOT_FORWARDED",
    "WRONG_SCHEME",
    "HandshakeAttempt",
    "HandshakeObservation",
    "HeaderField",
]
