"""The measured cap held against the limits configured on the path (pure: the load and
cluster observations in, findings out). A limit explains the cap when one of the caps it
allows one client is within its slack of the measured number *and* it refuses the way the
target refused; a limit whose number fits but whose refusal does not is named as such."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.checks.base import Code, Facts
from wsdoctor.knowledge_limits import Signature, cap_kind, signature_of
from wsdoctor.kube.discover import routes_for
from wsdoctor.kube.limits import ConfiguredLimit, path_limits
from wsdoctor.kube.rules_nginx import RATE_LIMIT as NGINX_RATE_LIMIT
from wsdoctor.load.describe import quote_refusal
from wsdoctor.load.model import LoadCause, LoadObservation
from wsdoctor.load.rules import CAP, CHECK_ID, INTERMITTENT
from wsdoctor.models import Finding, Status

LIMIT = Code("WSD-LOAD-LIMIT", Status.FAIL, "A configured limit is the connection cap")
LIMIT_UNKNOWN = Code("WSD-LOAD-LIMIT-UNKNOWN", Status.INFO,
                     "No configured limit read from the cluster explains the cap")
LIMIT_NOT_REACHED = Code("WSD-LOAD-LIMIT-NOT-REACHED", Status.INFO,
                         "A configured connection limit was not reached")
CODES = (LIMIT, LIMIT_UNKNOWN, LIMIT_NOT_REACHED)
#: Limits the cluster check's WSD-NGINX-RATE-LIMIT also warns about (the same annotations).
NGINX_ANNOTATION_LIMITS = ("nginx-limit-connections", "nginx-limit-rps")


def fits(limit: ConfiguredLimit, signature: Signature, status: int | None) -> bool:
    """Whether ``limit`` refuses the way the target did."""
    kind = cap_kind(limit.kind)
    if limit.status is not None and kind.signature == "http":
        return signature == "http" and status == limit.status
    if kind.key == "application":
        return signature in ("close", "http", "reset")
    if kind.key == "haproxy-server-maxconn":
        return signature == "stall" or (signature == "http" and status == 503)
    return kind.signature == signature and (kind.status is None or kind.status == status)


def explaining(limits: list[ConfiguredLimit], cap: int, signature: Signature,
               status: int | None) -> list[tuple[ConfiguredLimit, int, bool]]:
    """(limit, the cap it allows, whether its refusal fits) for each limit whose number
    explains ``cap``: fitting ones first, then the closest, then the ones set explicitly."""
    found = []
    for limit in limits:
        near = [c for c in limit.caps if abs(c - cap) <= limit.slack]
        if near:
            best = min(near, key=lambda c: abs(c - cap))
            found.append((limit, best, fits(limit, signature, status)))
    return sorted(found, key=lambda f: (not f[2], abs(f[1] - cap), f[0].default))


def _limits(facts: Facts) -> list[ConfiguredLimit] | None:
    from wsdoctor.checks.cluster import ClusterObservation

    cluster = facts.get(ClusterObservation)
    if cluster is None or not cluster.routes:
        return None
    routes = routes_for(cluster.snapshot, facts.target.host, facts.target.path)
    ready = sum(b.endpoints.get("ready", 0) for b in cluster.routes[0].backends) or None
    return path_limits(cluster.snapshot, routes[0] if routes else None, ready)


def cross_check_load(facts: Facts) -> Iterator[Finding]:
    """Name the configured limit behind the measured cap (or a rate limit behind
    intermittent refusals); say so when none explains it, and which limits were not
    reached."""
    load = facts.get(LoadObservation)
    limits = _limits(facts)
    if load is None or limits is None:
        return
    refusals = load.of_kind("refusal")
    cause = load.cause_named(load.cap_cause) or (refusals[0] if refusals else None)
    if load.cap is not None and load.cap > 0 and cause is not None:
        yield from _explain_cap(load, load.cap, cause, limits)
    elif load.intermittent and cause is not None:
        rates = [lim for lim in limits if lim.kind == "nginx-limit-rps"]
        if rates:
            yield _named(load, rates[0], None, cause, True, INTERMITTENT)
    reached = load.cap if load.cap is not None else load.peak_open
    for limit in limits:
        if limit.caps and not limit.default and max(limit.caps) + limit.slack < reached:
            yield LIMIT_NOT_REACHED.finding(
                CHECK_ID,
                f"{limit.describe()} lets one client hold {_caps(limit)}, yet {reached} "
                f"connections were held: it counts per {limit.per}, so this run went through "
                "more of them than the cluster shows, or the setting is not in force (another "
                "controller or IngressClass serves the host, or a restart is pending).",
                resource=limit.resource,
                evidence={"setting": limit.setting, "value": limit.value, "held": reached})


def _caps(limit: ConfiguredLimit) -> str:
    shown = ", ".join(str(c) for c in limit.caps[:4]) + ("…" if len(limit.caps) > 4 else "")
    return shown if len(limit.caps) == 1 else f"one of {shown}"


def _explain_cap(load: LoadObservation, cap: int, cause: LoadCause,
                 limits: list[ConfiguredLimit]) -> Iterator[Finding]:
    status = cause.response.status_code if cause.response is not None else None
    signature = signature_of(cause.cause, status)
    found = explaining(limits, cap, signature, status)
    if found:
        limit, allowed, fitting = found[0]
        yield _named(load, limit, allowed, cause, fitting, CAP)
        return
    read = "; ".join(f"{lim.describe()} → {_caps(lim) if lim.caps else 'a rate'}"
                     for lim in limits) or "none"
    yield LIMIT_UNKNOWN.finding(
        CHECK_ID,
        f"The cap of {cap} ({cause.cause}) matches no limit configured on the path. Read from "
        f"the cluster: {read}. The cap is set where wsdoctor does not look: the application's "
        "own code, a load balancer or CDN in front, the nodes' conntrack or open-file limits.",
        evidence={"cap": cap, "cause": cause.cause, "limits_read": len(limits)})


def _named(load: LoadObservation, limit: ConfiguredLimit, allowed: int | None,
           cause: LoadCause, fitting: bool, symptom: Code) -> Finding:
    kind = cap_kind(limit.kind)
    measured = f"a cap of {load.cap}" if allowed is not None else \
        f"intermittent refusals at {load.plan.rate:g} new connections/s"
    detail = (f"{limit.describe()} explains {measured}: it counts {kind.counts}"
              + (f", which allows one client {allowed}" if allowed is not None else "")
              + f". It refuses with {kind.refuses}; the target answered {cause.cause} — "
              f"{quote_refusal(cause)}.")
    if not fitting:
        detail += (f" That is not how {limit.setting} refuses: another limit in front may "
                   "refuse at the same number.")
    explains: tuple[Code, ...] = (symptom,)
    if limit.kind in NGINX_ANNOTATION_LIMITS:
        # the cluster check warns about the same annotation from the manifest alone
        detail += (f" It is the annotation {NGINX_RATE_LIMIT.code} warns about, measured: "
                   "one finding, not two.")
        explains += (NGINX_RATE_LIMIT,)
    title = f"The cap is {limit.component} {limit.setting}: {limit.value}" if allowed is not \
        None else f"The refusals are {limit.component} {limit.setting}: {limit.value}"
    return LIMIT.finding(
        CHECK_ID, detail, title=title, resource=limit.resource, fix=limit.fix,
        evidence={"setting": limit.setting, "value": limit.value, "component": limit.component,
                  "measured_cap": load.cap, "allowed": allowed, "counts_per": limit.per,
                  "refusal_fits": fitting},
        explains=explains)
