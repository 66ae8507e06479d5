"""cluster: the Kubernetes objects behind the host, judged by the per-controller rules and
held against what the network checks measured."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from wsdoctor.checks import cluster_access, cluster_traefik
from wsdoctor.checks.base import Check, Code, Facts, Hop, Observation, ProbeContext, Skip, rule
from wsdoctor.kube import crosscheck, measured
from wsdoctor.kube.failures import AccessFailure
from wsdoctor.kube.observation import BackendSummary as BackendSummary
from wsdoctor.kube.observation import ClusterObservation as ClusterObservation
from wsdoctor.kube.observation import RouteSummary as RouteSummary
from wsdoctor.kube.observation import TlsConfig as TlsConfig
from wsdoctor.kube.rulebase import CHECK_ID, DEFAULT_EXPECT_IDLE, RuleOptions
from wsdoctor.kube.rules import CONFIG_CODES, judge_snapshot
from wsdoctor.kube.rules_workloads import NO_READY_ENDPOINTS, no_ready_endpoints
from wsdoctor.kube.snapshot import ClusterSnapshot, PermissionGap
from wsdoctor.models import Finding, Fix, Resource, Status

if TYPE_CHECKING:
    from wsdoctor.kube.config import ClusterAccess


NO_ROUTE = Code("WSD-K8S-NO-ROUTE", Status.WARN, "No route in the cluster serves the host")
FORBIDDEN = Code("WSD-K8S-FORBIDDEN", Status.INFO, "Some objects could not be read (RBAC)")


async def probe_cluster(ctx: ProbeContext) -> ClusterObservation:
    """Read the cluster (threads, concurrent requests) and keep what serves the target.

    Every wait (exec plugin, each request, retries) ends before the check's time limit."""
    settings = ctx.settings
    if not settings.kubernetes:
        raise Skip("--no-kubernetes")
    from wsdoctor.kube.client import ApiError
    from wsdoctor.kube.config import ClusterConfigError, NoClusterConfig, load_access

    start = time.perf_counter()
    deadline = time.monotonic() + CHECK.time_limit(settings) - 0.5
    try:
        # In a thread: importing the client, parsing the kubeconfig and running an exec
        # plugin must not stall the network probes running concurrently on the event loop.
        access = await asyncio.to_thread(load_access, settings, deadline=deadline)
    except ClusterConfigError as exc:  # before its base class: asked for, so a finding
        failure = AccessFailure(cause="config", message=str(exc), context=settings.kube_context)
        return _unreadable(failure, time.perf_counter() - start)
    except NoClusterConfig as exc:
        raise Skip(str(exc)) from None
    try:
        ctx.progress(f"reading cluster {access.context}", 0.1)
        return await _discover(ctx, access, start)
    except ApiError as exc:
        failure = cluster_access.access_failure(exc, access)
        return _unreadable(failure, time.perf_counter() - start)
    finally:
        access.close()


def _unreadable(failure: AccessFailure, duration_s: float) -> ClusterObservation:
    return ClusterObservation(
        context=failure.context,
        snapshot=ClusterSnapshot(source="cluster", context=failure.context),
        access_failure=failure,
        duration_s=round(duration_s, 6),
    )


async def _discover(ctx: ProbeContext, access: ClusterAccess, start: float) -> ClusterObservation:
    """Read, match the target, and (when asked) read the route's TLS Secrets."""
    from wsdoctor.kube.kinds import ROUTE_KINDS
    from wsdoctor.kube.observe import observe
    from wsdoctor.kube.reader import read_cluster

    settings = ctx.settings
    read = await read_cluster(
        access, ctx.target.host, ctx.target.path, lambda message: ctx.progress(message, None)
    )
    snap = read.snapshot
    readable_routes = [k for k in ROUTE_KINDS if k in snap.listed_kinds]
    blocked = [g for g in snap.permission_gaps if g.resource.split(".")[0] in _ROUTE_PLURALS]
    if blocked and not readable_routes:
        failure = AccessFailure(
            cause="forbidden",
            message=f"context {access.context}: no route kind may be listed: "
            + "; ".join(str(g) for g in blocked)
            + " (grant the ClusterRole in docs/rbac.yaml)",
            context=access.context,
            server=access.server,
            status=403,
        )
        return _unreadable(failure, time.perf_counter() - start)
    ctx.progress("matching routes", 0.9)
    obs = observe(snap, ctx.target, settings, time.perf_counter() - start, access.context)
    obs = obs.model_copy(
        update={"read_failures": read.failures, "objects_read": read.items_seen}
    )
    if settings.read_tls_secret and obs.tls:
        obs = await _read_tls_secrets(access, obs)
    return obs


async def _read_tls_secrets(access: ClusterAccess, obs: ClusterObservation) -> ClusterObservation:
    """Fill in each TLS section's Secret: exists, and the fingerprint of its tls.crt."""
    import asyncio

    from wsdoctor.kube.reader import ClusterReader

    reader = ClusterReader(access)
    named = [t for t in obs.tls if t.secret_name]
    results = await asyncio.gather(
        *(reader.read_tls_certificate(t.namespace, str(t.secret_name)) for t in named)
    )
    tls, gaps = list(obs.tls), list(obs.snapshot.permission_gaps)
    for entry, result in zip(named, results, strict=True):
        index = tls.index(entry)
        if isinstance(result, PermissionGap):
            gaps.append(result)
        elif result is None:
            tls[index] = entry.model_copy(update={"secret_exists": False})
        else:
            tls[index] = entry.model_copy(
                update={
                    "secret_exists": True,
                    "secret_cert_sha256": result[0] or None,
                    "secret_cert_subject": result[1] or None,
                }
            )
    snapshot = obs.snapshot.model_copy(update={"permission_gaps": gaps})
    return obs.model_copy(update={"tls": tls, "snapshot": snapshot})


_ROUTE_PLURALS = ("ingresses", "httproutes", "ingressroutes", "virtualservices")
_ROUTE_KINDS = ("Ingress", "HTTPRoute", "IngressRoute", "VirtualService")


def judge_cluster(facts: Facts) -> Iterator[Finding]:
    """Configuration rules on the objects behind the host; zero ready endpoints is reported as
    the root cause of a failed upgrade (listed before the handshake's symptom)."""
    obs = facts.get(ClusterObservation)
    if obs is None:
        return
    yield from cluster_access.judge_access(obs.access_failure, obs.read_failures)
    if obs.access_failure is not None:
        return
    serving = obs.routes[0] if obs.routes else None
    options = RuleOptions(
        expect_idle=facts.settings.expect_idle or DEFAULT_EXPECT_IDLE,
        # The route that serves the target is the WebSocket route, whatever its evidence.
        serving=(serving.kind, serving.namespace, serving.name, serving.path) if serving else None,
    )
    status = measured.upgrade_status(facts)
    for finding in judge_snapshot(obs.snapshot, options):
        if finding.code == NO_READY_ENDPOINTS.code and status in (502, 503, 504):
            res = finding.resource
            svc = obs.snapshot.find(
                "Service", res.namespace if res else None, res.name if res else ""
            )
            if svc is not None:
                counts = {
                    k.removeprefix("endpoints_"): int(v)
                    for k, v in finding.evidence.items()
                    if isinstance(v, int)
                }
                finding = no_ready_endpoints(svc, counts, explains=measured.symptom_codes())
                finding = finding.model_copy(
                    update={
                        "detail": f"The upgrade got HTTP {status} because there are "
                        + finding.detail[0].lower()
                        + finding.detail[1:],
                        "evidence": {**finding.evidence, "upgrade_status": status},
                    }
                )
        yield finding
    unread_routes = {f.kind for f in obs.read_failures} & set(_ROUTE_KINDS)
    if not obs.routes and not unread_routes:
        yield _no_route(obs, facts)
    own, gaps = cluster_access.backend_gaps(serving, obs.snapshot.permission_gaps)
    if serving is not None:
        yield from cluster_access.judge_backend_gaps(serving, own)
    if gaps:
        yield FORBIDDEN.finding(
            CHECK_ID,
            "Skipped for lack of permission: "
            + "; ".join(f"{g} ({g.affects})" for g in gaps)
            + ".",
            evidence={"forbidden": [str(g) for g in gaps]},
            fix=Fix(
                summary="Bind the read-only ClusterRole of docs/rbac.yaml to your user.",
                snippet="kubectl apply -f docs/rbac.yaml",
                language="shell",
            ),
        )


def _no_route(obs: ClusterObservation, facts: Facts) -> Finding:
    """No readable route serves the host; when some route kinds could not be listed (a
    ``view`` role does not cover the IngressRoute or VirtualService CRDs), say so: the route
    may be one of those, and the host's spelling is not the first thing to check."""
    blocked = [g for g in obs.snapshot.permission_gaps
               if g.resource.split(".")[0] in _ROUTE_PLURALS]
    detail = (
        "No Ingress, HTTPRoute, IngressRoute or VirtualService in "
        f"{obs.context or 'the cluster'} matches {facts.target.host}{facts.target.path}"
        + (f" (in namespace {', '.join(obs.snapshot.namespaces)})"
           if obs.snapshot.namespaces else "")
        + "."
    )
    fix = Fix(summary="Check the host spelling, the namespace (-n), or the context (--context).")
    if blocked:
        detail += (" Listing was forbidden for " + "; ".join(str(g) for g in blocked)
                   + ": the route serving the host may be one of those.")
        fix = Fix(
            summary="Let your user list those route kinds (the read-only ClusterRole of "
            "docs/rbac.yaml covers them), then run again.",
            snippet="kubectl apply -f docs/rbac.yaml",
            language="shell",
        )
    return NO_ROUTE.finding(
        CHECK_ID,
        detail,
        resource=Resource(kind="Host", name=facts.target.host),
        evidence={"forbidden": [str(g) for g in blocked]} if blocked else {},
        fix=fix,
    )


def judge_cross_checks(facts: Facts) -> Iterator[Finding]:
    """Configuration held against measurement: DNS, certificate, idle timeout, affinity."""
    obs = facts.get(ClusterObservation)
    if obs is None or obs.access_failure is not None:
        return
    yield from crosscheck.cross_check_dns(obs, facts)
    yield from crosscheck.cross_check_certificate(obs, facts)
    yield from crosscheck.cross_check_idle(obs, facts)
    yield from crosscheck.cross_check_affinity(obs, facts)
    yield from cluster_traefik.cross_check_traefik_timeouts(obs, facts)
    yield from cluster_traefik.cross_check_traefik_sticky(obs, facts)
    yield from cluster_traefik.cross_check_traefik_weighted(obs, facts)


def summarize_cluster(obs: Observation) -> str:
    """``Ingress chat/chat (ingress-nginx) → Service chat/chat: 2/3 ready → timeouts
    proxy-send-timeout 60 s (default), proxy-read-timeout 3600 s``."""
    assert isinstance(obs, ClusterObservation)
    if obs.access_failure is not None:
        return f"not readable: {obs.access_failure.message}"
    if not obs.routes:
        return f"no route for the host ({obs.objects_read} objects read)"
    route = obs.routes[0]
    parts = [f"{route.kind} {route.namespace}/{route.name} ({route.controller})"]
    endpoints_known = obs.snapshot.knows("EndpointSlice")
    for backend in route.backends[:2]:
        eps = backend.endpoints
        state = f"{eps.get('ready', 0)}/{eps.get('total', 0)} ready"
        if not backend.exists:
            state = "missing" if obs.snapshot.knows("Service") else "not readable"
        elif not endpoints_known:
            state = "endpoints not readable"
        parts.append(f"Service {backend.service}: {state}")
    if obs.timeouts:
        shown = sorted(obs.timeouts, key=lambda t: t.seconds)[:4]
        parts.append(
            "timeouts "
            + ", ".join(
                f"{t.setting.rsplit('/', 1)[-1]} {t.seconds:g} s"
                + (" (default)" if t.default else "")
                for t in shown
            )
        )
    gaps = obs.snapshot.permission_gaps
    more = f" and {len(gaps) - 1} more" if len(gaps) > 1 else ""
    skipped = f"; partly skipped: {gaps[0]} forbidden{more}" if gaps else ""
    return " → ".join(parts) + skipped


CHECK = Check(
    id="cluster",
    title="Kubernetes objects",
    hop=Hop.CLUSTER,
    probe=probe_cluster,
    rules=(
        rule(judge_cluster, "handshake", "http"),
        rule(judge_cross_checks, "dns", "tls", "idle", "affinity", "hops"),
    ),
    codes=(
        *CONFIG_CODES,
        NO_ROUTE,
        FORBIDDEN,
        *cluster_access.CODES,
        *crosscheck.CODES,
        *cluster_traefik.CODES,
    ),
    time_limit=lambda s: max(s.timeout * 4, 10.0) + 5.0,
    summarize=summarize_cluster,
)
