"""Rules on a load run (pure functions of the observation): the cap and how it refused, a
rate limit, the client's own limits and load, drops, the spread over replicas, and the run
that held everything."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.checks.base import Code, Facts
from wsdoctor.load.describe import answered_by, quote_refusal, refusal_hint
from wsdoctor.load.model import Distribution, LoadCause, LoadObservation, Share
from wsdoctor.models import EvidenceValue, Finding, Fix, Resource, Status

CHECK_ID = "load"
CAP = Code("WSD-LOAD-CAP", Status.FAIL, "Connections are refused above a cap")
NO_CONNECTION = Code("WSD-LOAD-NO-CONNECTION", Status.FAIL, "No connection could be established")
INTERMITTENT = Code("WSD-LOAD-INTERMITTENT", Status.WARN,
                    "Connections are refused now and then (a rate limit)")
HELD = Code("WSD-LOAD-HELD", Status.OK, "Every connection asked for was held")
INTERRUPTED = Code("WSD-LOAD-INTERRUPTED", Status.INFO, "The run was interrupted")
CLIENT_LIMIT = Code("WSD-LOAD-CLIENT-LIMIT", Status.WARN,
                    "This machine's limits capped the run, not the target")
CLIENT_BUSY = Code("WSD-LOAD-CLIENT-BUSY", Status.WARN,
                   "wsdoctor itself was busy: timings include its own delays")
DROPS = Code("WSD-LOAD-DROPS", Status.WARN, "Held connections were dropped")
SPREAD = Code("WSD-LOAD-SPREAD", Status.INFO, "How the connections spread over the replicas")
NO_ECHO = Code("WSD-LOAD-NO-ECHO", Status.INFO, "Messages were not echoed: no round trips")
CODES = (CAP, NO_CONNECTION, INTERMITTENT, HELD, INTERRUPTED, CLIENT_LIMIT, CLIENT_BUSY, DROPS,
         SPREAD, NO_ECHO)

#: The event loop running this late means the client, not the target, set the timings.
BUSY_P99_S = 0.2
BUSY_MAX_S = 1.0
#: One replica holding this many times its even share is uneven.
UNEVEN = 1.5


def ms(seconds: float) -> str:
    """``0.8 ms``, ``12 ms``, ``1.25 s``."""
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def timings(name: str, dist: Distribution | None) -> str:
    """``handshake p50 2.1 ms, p95 9.8 ms, max 31 ms`` ('' without data)."""
    if dist is None:
        return ""
    return f"{name} p50 {ms(dist.p50)}, p95 {ms(dist.p95)}, max {ms(dist.max)}"


def _url(facts: Facts) -> Resource:
    return Resource(kind="URL", name=facts.target.url)


def _evidence(cause: LoadCause) -> dict[str, EvidenceValue]:
    response = cause.response
    return {
        "cause": cause.cause, "count": cause.count, "first_attempt": cause.first_attempt,
        "open_at_first": cause.open_at_first, "address": cause.address,
        "replica": cause.replica, "status": response.status_code if response else None,
        "close_code": cause.close_code,
        "answered_by": list[str | int | float | bool | None](answered_by(cause)),
    }


def judge_load(facts: Facts) -> Iterator[Finding]:
    """The verdict of the run: its cap (how it refused), a rate limit, or everything held."""
    obs = facts.get(LoadObservation)
    if obs is None:
        return
    refusals = obs.of_kind("refusal")
    asked = obs.plan.connections
    if obs.connected_none and refusals:
        first = refusals[0]
        yield NO_CONNECTION.finding(
            CHECK_ID,
            f"None of {obs.attempted} attempts gave a connection: {first.cause} "
            f"({quote_refusal(first)}). Run 'wsdoctor {facts.target.url}' for a diagnosis of "
            "the upgrade itself.",
            evidence=_evidence(first), resource=_url(facts))
    elif obs.cap is not None:
        cause = obs.cause_named(obs.cap_cause) or refusals[0]
        started = obs.refusals_started_at
        yield CAP.finding(
            CHECK_ID,
            f"{obs.cap} connections were held, then every attempt was refused ({obs.refused} "
            f"refused of {obs.attempted} attempts; {asked} asked for). The refusal: "
            f"{cause.cause} — {quote_refusal(cause)}"
            + (f", from replica {cause.replica}" if cause.replica else "")
            + (f"; answered by {', '.join(answered_by(cause))}" if answered_by(cause) else "")
            + "."
            + (f" Refusals started at {started} held connections." if started is not None
               and started != obs.cap else "")
            + ("\n" + refusal_hint(cause) if refusal_hint(cause) else ""),
            title=f"Connections are refused above {obs.cap} ({cause.cause})",
            evidence={"cap": obs.cap, "asked": asked, "refusals_started_at": started,
                      **_evidence(cause)},
            resource=_url(facts),
            fix=Fix(summary=f"Raise the limit that refuses at {obs.cap} (with a kubeconfig "
                    "wsdoctor names the setting), or spread clients over more replicas or "
                    "addresses."))
    elif refusals and obs.intermittent:
        first = refusals[0]
        yield INTERMITTENT.finding(
            CHECK_ID,
            f"{obs.refused} of {obs.attempted} attempts were refused ({first.cause} — "
            f"{quote_refusal(first)}), and attempts after them were taken again: a limit on "
            f"the rate of new connections ({obs.plan.rate:g}/s here), not on their number. "
            f"The first came at {first.open_at_first} held connections."
            + ("\n" + refusal_hint(first, rate=True) if refusal_hint(first, rate=True) else ""),
            evidence=_evidence(first), resource=_url(facts),
            fix=Fix(summary="Raise the rate limit for the WebSocket path (ingress-nginx "
                    "limit-rps/limit-rpm with limit-burst-multiplier; Traefik rateLimit), or "
                    "make clients reconnect with backoff and jitter."))
    if obs.stopped == "interrupted":
        yield INTERRUPTED.finding(
            CHECK_ID,
            f"Stopped after {obs.duration_s:.1f} s with {obs.held_at_end} connections held "
            f"({obs.attempted} of {asked} attempted); every connection was closed.",
            evidence={"held": obs.held_at_end, "attempted": obs.attempted}, resource=_url(facts))
    elif obs.stopped == "completed" and not refusals and obs.held_at_end >= asked:
        parts = [timings("handshake", obs.handshake), timings("round trip", obs.round_trip)]
        yield HELD.finding(
            CHECK_ID,
            f"All {asked} connections held for {obs.plan.hold_s:g} s after a "
            f"{obs.ramp_s:.1f} s ramp; " + "; ".join(p for p in parts if p) + ".",
            evidence={"held": obs.held_at_end, "peak": obs.peak_open,
                      "handshake_p95_s": obs.handshake.p95 if obs.handshake else None},
            resource=_url(facts))


def judge_client(facts: Facts) -> Iterator[Finding]:
    """The client's own limits and load: a cap that is this machine's, timings it skewed."""
    obs = facts.get(LoadObservation)
    if obs is None:
        return
    client = obs.client
    own = obs.of_kind("client")
    short = client.fd_limit is not None and client.fd_limit < client.fd_needed
    # A limit below the plan matters only if the run got to it: a run the target stopped
    # first (a cap, no connection at all) or the user interrupted was not capped here.
    if own or (short and obs.stopped == "client_limit"):
        cause = own[0].cause if own else "the open-file limit is below the plan"
        held = obs.peak_open
        yield CLIENT_LIMIT.finding(
            CHECK_ID,
            f"{cause}: the run stopped at {held} connections because of this machine, so it "
            f"says nothing of the target's cap. Open files allowed: {client.fd_limit} (hard "
            f"limit {client.fd_hard_limit}); the plan needs {client.fd_needed}"
            + (f"; local ports per target address: {client.local_ports}"
               if client.local_ports else "") + ".",
            evidence={"cause": cause, "held": held, "fd_limit": client.fd_limit,
                      "fd_hard_limit": client.fd_hard_limit, "fd_needed": client.fd_needed,
                      "local_ports": client.local_ports},
            fix=Fix(summary="Raise the open-file limit (ulimit -n, LimitNOFILE= for a "
                    "service, nofile in /etc/security/limits.conf), widen "
                    "net.ipv4.ip_local_port_range, or run from several machines.",
                    snippet=f"ulimit -n {client.fd_needed}", language="shell"))
    lag_p99, lag_max = client.loop_lag_p99_ms / 1000, client.loop_lag_max_ms / 1000
    if lag_p99 > BUSY_P99_S or lag_max > BUSY_MAX_S:
        yield CLIENT_BUSY.finding(
            CHECK_ID,
            f"wsdoctor's event loop ran up to {ms(lag_max)} late (p99 {ms(lag_p99)}); "
            f"CPU {client.hold_cpu_percent or 0:.0f} % while holding, "
            f"{client.cpu_per_connection_ms or 0:.2f} ms per attempt during the ramp: "
            "handshake and round-trip times include the client's own delay.",
            evidence={"loop_lag_p99_ms": client.loop_lag_p99_ms,
                      "loop_lag_max_ms": client.loop_lag_max_ms,
                      "hold_cpu_percent": client.hold_cpu_percent},
            fix=Fix(summary="Ramp more slowly (--rate), send fewer messages, or run on a "
                    "machine with a free core."))


def judge_connections(facts: Facts) -> Iterator[Finding]:
    """Drops while held, the spread over replicas, and messages that were not echoed."""
    obs = facts.get(LoadObservation)
    if obs is None:
        return
    drops = obs.of_kind("drop")
    if drops:
        listed = "; ".join(f"{c.count} × {c.cause} (first after {c.first_at_s:.1f} s, "
                           f"{c.open_at_first} held)" for c in drops[:3])
        yield DROPS.finding(
            CHECK_ID,
            f"{obs.dropped} connections ended while held, before wsdoctor closed them: "
            f"{listed}.",
            evidence={"dropped": obs.dropped, **_evidence(drops[0])}, resource=_url(facts),
            fix=Fix(summary="Run 'wsdoctor watch' on the target to name what cuts held "
                    "connections (a proxy reload, an idle or lifetime timeout, a replica)."))
    replicas = [r for r in obs.replicas if r.upgraded or r.held]
    if replicas:
        yield from _spread(obs, replicas, facts)
    if obs.messages_sent and not obs.echoes:
        yield NO_ECHO.finding(
            CHECK_ID,
            f"{obs.messages_sent} messages sent, {obs.messages_received} received and none was "
            "an echo: the application does not echo, so no round trip under load was "
            "measured.", evidence={"sent": obs.messages_sent, "received": obs.messages_received})


def _spread(obs: LoadObservation, replicas: list[Share], facts: Facts) -> Iterator[Finding]:
    held = sum(r.held for r in replicas)
    listed = ", ".join(f"{r.name} {r.held}" + (f" (refused {r.refused})" if r.refused else "")
                       for r in replicas[:12])
    fair = held / len(replicas) if replicas else 0
    uneven = len(replicas) > 1 and held >= 10 and max(r.held for r in replicas) > UNEVEN * fair
    yield SPREAD.finding(
        CHECK_ID,
        f"Held at the end, per replica (named by the {obs.replica_source or 'response'}): "
        f"{listed}." + (" One replica holds far more than its share: the balancing is "
                        "uneven (least-connections, or hashing on one client address)."
                        if uneven else ""),
        title="The connections spread unevenly over the replicas" if uneven else None,
        evidence={"replicas": len(replicas), "held": held,
                  "largest": max(r.held for r in replicas)},
        resource=_url(facts))
