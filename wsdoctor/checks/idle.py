"""idle: hold one WebSocket open without sending anything and measure the idle timeout in
force, how the connection ended and who ended it; match it against the known defaults."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

from wsdoctor.checks.base import Check, Code, Facts, Hop, Observation, ProbeContext, rule
from wsdoctor.checks.lifetime import (
    ClosedBy,
    ProbeAnswer,
    SilentWatch,
    heartbeat_hint,
    idle_time_limit,
    local_port,
    open_websocket,
    pong_wait,
    progress_text,
    reachable_address,
    skip_closed_at_once,
    watch_silently,
)
from wsdoctor.knowledge import (
    GENERIC_IDLE_FIX_COMPONENTS,
    IdleTimeoutDefault,
    components_named,
    describe_components,
    idle_timeout_fix,
    match_idle_timeout,
)
from wsdoctor.models import EvidenceValue, Finding, Fix, Resource, Status

EndingName = Literal["close_frame", "fin", "reset", "protocol_error"]


class IdleObservation(Observation):
    """One silent WebSocket connection, from its 101 to its end (or to the cap)."""

    check: Literal["idle"] = "idle"
    address: str
    local_port: int | None = None
    idle_max_s: float
    """The longest wait (``--idle-max``)."""
    open_s: float
    """Seconds the connection stayed open after the 101 (to its end or to the cap)."""
    timeout_s: float | None = None
    """The idle timeout: seconds without traffic before the connection was closed (None:
    not closed within the wait)."""
    ending: EndingName | None = None
    """How it ended: a close frame, a TCP FIN without a close frame, or a reset."""
    close_code: int | None = None
    close_reason: str | None = None
    closed_by: ClosedBy | None = None
    """``application`` (a close frame) or ``proxy`` (a bare TCP close)."""
    cap_ping: ProbeAnswer | None = None
    """Answer to the ping sent at the cap: pong, no_pong (silent drop), reset, closed."""
    cap_ping_rtt_s: float | None = None
    silent_drop: bool = False
    """The path dropped the connection's state without telling either end."""
    server_pings: int = 0
    server_ping_interval_s: float | None = None
    """Median interval of the server's pings, when it sent any."""
    server_messages: int = 0


TIMEOUT = Code("WSD-IDLE-TIMEOUT", Status.INFO, "Idle connections are closed by a proxy")
TIMEOUT_SHORT = Code(
    "WSD-IDLE-TIMEOUT-SHORT", Status.FAIL, "Idle timeout shorter than the application needs"
)
APP_CLOSE = Code("WSD-IDLE-APP-CLOSE", Status.INFO, "The application closes idle connections")
SILENT_DROP = Code(
    "WSD-IDLE-SILENT-DROP", Status.WARN, "Idle connection dropped silently (no FIN, no RST)"
)
NO_TIMEOUT = Code("WSD-IDLE-NONE", Status.OK, "No idle timeout within the wait")
UNVERIFIED = Code(
    "WSD-IDLE-UNVERIFIED", Status.WARN, "The idle time the application needs was not verified"
)
SERVER_HEARTBEAT = Code(
    "WSD-IDLE-SERVER-HEARTBEAT", Status.OK, "The server's pings keep connections alive"
)


async def measure_idle_timeout(ctx: ProbeContext) -> IdleObservation:
    """Open a WebSocket, send nothing, and time its end (or ping at the cap)."""
    settings = ctx.settings
    address = reachable_address(ctx)
    conn, opened_at = await open_websocket(ctx, address)
    cap = settings.idle_max
    client_port = local_port(conn)

    def report(elapsed: float) -> None:
        ctx.progress(progress_text(elapsed, cap), min(elapsed / cap, 1.0))

    try:
        watch = await watch_silently(conn, opened_at, cap, pong_wait(settings.timeout),
                                     progress=report)
    finally:
        conn.abort()
    skip_closed_at_once(watch.closed, opened_at)
    return idle_observation(address, client_port, cap, watch)


def idle_observation(address: str, port: int | None, cap: float,
                     watch: SilentWatch) -> IdleObservation:
    """The observation of one silent watch, times rounded to the millisecond."""
    closed = watch.closed
    interval = watch.server_ping_interval
    return IdleObservation(
        address=address,
        local_port=port,
        idle_max_s=cap,
        open_s=round(watch.open_s, 3),
        timeout_s=None if watch.timeout_s is None else round(watch.timeout_s, 3),
        ending=closed.ending.value if closed is not None else None,
        close_code=closed.code if closed is not None else None,
        close_reason=closed.reason if closed is not None else None,
        closed_by=watch.closed_by,
        cap_ping=watch.probe_answer,
        cap_ping_rtt_s=None if watch.probe_rtt is None else round(watch.probe_rtt, 4),
        silent_drop=watch.silent_drop,
        server_pings=len(watch.server_pings),
        server_ping_interval_s=None if interval is None else round(interval, 3),
        server_messages=watch.messages,
    )


def _how(obs: IdleObservation) -> str:
    if obs.ending == "close_frame":
        reason = f" {obs.close_reason!r}" if obs.close_reason else ""
        return f"a close frame (code {obs.close_code}{reason})"
    if obs.ending == "fin":
        return "a TCP FIN without a close frame"
    if obs.ending == "protocol_error":
        return "a frame that breaks the WebSocket protocol (wsdoctor's client failed the " \
            "connection; the messages check names the violation)"
    return "a TCP reset without a close frame"


def _short_list(entries: list[IdleTimeoutDefault], most: int = 3) -> str:
    names = list(dict.fromkeys(e.component for e in entries))
    return ", ".join(names[:most]) + (", ..." if len(names) > most else "")


def proxies_in_use(facts: Facts) -> list[str]:
    """Components that identified themselves in the upgrade's and plain HTTP responses."""
    from wsdoctor.checks.handshake import HandshakeObservation
    from wsdoctor.checks.http import HttpObservation
    from wsdoctor.fingerprints import identify

    found: list[str] = []
    handshake = facts.get(HandshakeObservation)
    http = facts.get(HttpObservation)
    answers = [[(h.name, h.value) for h in a.headers] for a in handshake.attempts] \
        if handshake else []
    answers += [[(h.name, h.value) for h in e.headers] for e in http.exchanges] if http else []
    for headers in answers:
        found += [c for c in identify(headers) if c not in found]
    return found


def _entries_in_use(in_use: list[str]) -> list[IdleTimeoutDefault]:
    from wsdoctor.fingerprints import IDLE_COMPONENTS_OF

    names = [n for component in in_use for n in IDLE_COMPONENTS_OF.get(component, ())]
    return components_named(dict.fromkeys(names))


def _fix_for_short(
    obs: IdleObservation, expect: float, in_use: Sequence[str] = ()
) -> Fix:
    timeout = obs.timeout_s or 0.0
    heartbeat = f"send a heartbeat (ping) every {heartbeat_hint(timeout):g} s or more often"
    if obs.closed_by == "application":
        return Fix(summary=f"The application closed the connection itself: raise its own idle "
                   f"timeout to at least {expect:g} s, or {heartbeat}.")
    matched = match_idle_timeout(timeout) if timeout else []
    answering = _entries_in_use(list(in_use))
    answering_names = {e.component for e in answering}
    if matched:
        entries = [e for e in matched if e.component in answering_names] or matched
        which = "whose default matches"
    elif answering:
        entries = answering
        which = f"that answered ({', '.join(in_use)}, identified from its response headers)"
    else:
        entries = components_named(GENERIC_IDLE_FIX_COMPONENTS)
        which = "in front (the usual suspects)"
    snippet, language = idle_timeout_fix(entries, expect)
    return Fix(
        summary=f"Raise the idle timeout of the component {which} to at least {expect:g} s "
        f"({describe_components(entries)}), or {heartbeat}.",
        snippet=snippet,
        language=language,  # type: ignore[arg-type]  # idle_timeout_fix gives one of these
    )


def judge_idle(facts: Facts) -> Iterator[Finding]:
    """Name the timeout and its likely owners; fail it against --expect-idle."""
    obs = facts.get(IdleObservation)
    if obs is None:
        return
    expect = facts.settings.expect_idle
    resource = Resource(kind="URL", name=facts.target.url)
    if obs.timeout_s is not None:
        matched = match_idle_timeout(obs.timeout_s)
        names = describe_components(matched)
        evidence: dict[str, EvidenceValue] = {
            "timeout_s": obs.timeout_s, "ending": obs.ending, "closed_by": obs.closed_by,
            "close_code": obs.close_code, "matches": [e.component for e in matched],
        }
        seen = (f"The connection was closed after {obs.timeout_s:.1f} s without traffic by "
                f"{_how(obs)}: the {obs.closed_by} closed it.")
        if matched:
            seen += f" {obs.timeout_s:.0f} s is the default of: {names}."
        if obs.server_ping_interval_s is not None:
            seen += (f" The server pings every {obs.server_ping_interval_s:.1f} s, which is "
                     "longer than this timeout.")
        if expect is not None and obs.timeout_s < expect - 0.1:
            yield TIMEOUT_SHORT.finding(
                "idle", f"{seen} The application needs {expect:g} s.",
                evidence={**evidence, "expect_idle_s": expect}, resource=resource,
                fix=_fix_for_short(obs, expect, proxies_in_use(facts)),
                title=f"Idle timeout {obs.timeout_s:.1f} s is shorter than the {expect:g} s "
                "the application needs",
            )
        elif obs.closed_by == "application":
            yield APP_CLOSE.finding(
                "idle", seen, evidence=evidence, resource=resource,
                title=f"The application closes idle connections after {obs.timeout_s:.1f} s",
            )
        else:
            yield TIMEOUT.finding(
                "idle", seen, evidence=evidence, resource=resource,
                title=f"Idle connections are closed after {obs.timeout_s:.1f} s by a proxy"
                + (f" (default of {_short_list(matched)})" if matched else ""),
                fix=Fix(summary=f"Clients must send a heartbeat (ping) every "
                        f"{heartbeat_hint(obs.timeout_s):g} s or more often, or raise the timeout "
                        f"({names or 'nginx proxy_read_timeout, HAProxy timeout tunnel'})."),
            )
    elif obs.silent_drop:
        answer = "was answered by a reset" if obs.cap_ping == "reset" else \
            "got no pong within a few seconds"
        yield SILENT_DROP.finding(
            "idle",
            f"No FIN or reset arrived in {obs.idle_max_s:g} s, but a ping sent then {answer}: "
            "a load balancer or NAT on the path dropped the connection's state without telling "
            "either end (Azure Load Balancer without TCP reset, AWS NLB do this). Clients hang "
            "until they send, then time out or get a reset.",
            evidence={"idle_max_s": obs.idle_max_s, "cap_ping": obs.cap_ping,
                      "silent_drop": True},
            resource=resource,
            fix=Fix(summary="Send a heartbeat more often than the load balancer's idle timeout "
                    "(Azure LB 4 min, AWS NLB 350 s), or enable TCP reset on idle; run again "
                    "with a smaller --idle-max to bracket when the state is dropped.",
                    snippet="metadata:\n  annotations:\n    service.beta.kubernetes.io/"
                    "azure-load-balancer-tcp-idle-timeout: \"30\"\n", language="yaml"),
        )
        if expect is not None and obs.idle_max_s < expect:
            yield TIMEOUT_SHORT.finding(
                "idle", f"The connection's state was dropped within {obs.idle_max_s:g} s; the "
                f"application needs {expect:g} s.",
                evidence={"idle_max_s": obs.idle_max_s, "expect_idle_s": expect},
                resource=resource, explains=(),
                fix=Fix(summary="Raise the load balancer's idle timeout above "
                        f"{expect:g} s, or send heartbeats (see WSD-IDLE-SILENT-DROP)."),
            )
    elif obs.cap_ping == "pong":
        if expect is not None and expect > obs.idle_max_s:
            yield UNVERIFIED.finding(
                "idle", f"The silent connection stayed open for the whole {obs.idle_max_s:g} s "
                f"wait, but the application needs {expect:g} s: a timeout between the two "
                "would go unnoticed.",
                evidence={"idle_max_s": obs.idle_max_s, "expect_idle_s": expect},
                resource=resource,
                fix=Fix(summary=f"Run again with --idle-max {expect + 10:g} to verify it (the "
                        "measurement waits that long)."),
                title=f"No idle timeout within {obs.idle_max_s:g} s, but {expect:g} s were "
                "not verified",
            )
        unverified = ""
        busy = ""
        if obs.server_messages:
            busy = (f" The server sent {obs.server_messages} messages meanwhile: that traffic "
                    "re-arms idle timers, so a truly idle client may still be cut.")
        yield NO_TIMEOUT.finding(
            "idle", f"The silent connection stayed open for {obs.idle_max_s:g} s and answered a "
            f"ping then.{busy}{unverified}",
            evidence={"idle_max_s": obs.idle_max_s, "cap_ping_rtt_s": obs.cap_ping_rtt_s},
            resource=resource,
            title=f"No idle timeout within {obs.idle_max_s:g} s",
        )
    if obs.server_ping_interval_s is not None and obs.timeout_s is None and not obs.silent_drop:
        yield SERVER_HEARTBEAT.finding(
            "idle", f"The server sent {obs.server_pings} pings, every "
            f"{obs.server_ping_interval_s:.1f} s: the connection was never idle, so proxies "
            f"with idle timeouts above {obs.server_ping_interval_s:.1f} s do not close it.",
            evidence={"server_pings": obs.server_pings,
                      "server_ping_interval_s": obs.server_ping_interval_s},
            resource=resource,
            title=f"The server pings every {obs.server_ping_interval_s:.1f} s and keeps "
            "connections alive",
        )


def summarize_idle(obs: Observation) -> str:
    """``closed after 60.0 s idle by a proxy (fin)``."""
    assert isinstance(obs, IdleObservation)
    if obs.timeout_s is not None:
        return f"closed after {obs.timeout_s:.1f} s idle by the {obs.closed_by} ({obs.ending})"
    if obs.silent_drop:
        return f"silently dropped within {obs.idle_max_s:g} s ({obs.cap_ping} to a ping)"
    if obs.cap_ping == "closed":
        return f"open for {obs.idle_max_s:g} s, then closed ({obs.ending}) when pinged"
    if obs.server_ping_interval_s is not None:
        return f"kept alive by server pings every {obs.server_ping_interval_s:.1f} s"
    return f"no idle timeout within {obs.idle_max_s:g} s"


CHECK = Check(
    id="idle",
    title="Idle timeout",
    hop=Hop.IDLE,
    probe=measure_idle_timeout,
    needs=("tcp",),
    rules=(rule(judge_idle, "handshake", "http"),),
    codes=(TIMEOUT, TIMEOUT_SHORT, APP_CLOSE, SILENT_DROP, NO_TIMEOUT, UNVERIFIED,
           SERVER_HEARTBEAT),
    default=False,
    time_limit=lambda s: idle_time_limit(s.idle_max, s.timeout),
    summarize=summarize_idle,
)
