"""cluster: the Kubernetes objects behind the host, judged by the per-controller rules and
held against what the network checks measured."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from wsdoctor.checks.base import Check, Code, Facts, Hop, Observation, ProbeContext, Skip, rule
from wsdoctor.models import Finding

# The observation's types are imported once a cluster is read (most runs have none to read);
# ``from wsdoctor.checks.cluster import ClusterObservation`` still works (see __getattr__).
if TYPE_CHECKING:
    from wsdoctor.kube.config import ClusterAccess
    from wsdoctor.kube.failures import AccessFailure
    from wsdoctor.kube.observation import BackendSummary as BackendSummary
    from wsdoctor.kube.observation import ClusterObservation as ClusterObservation
    from wsdoctor.kube.observation import RouteSummary as RouteSummary
    from wsdoctor.kube.observation import TlsConfig as TlsConfig

_OBSERVATION_TYPES = ("BackendSummary", "ClusterObservation", "RouteSummary", "TlsConfig")


def __getattr__(name: str) -> object:
    if name in _OBSERVATION_TYPES:
        from wsdoctor.kube import observation

        return getattr(observation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


async def probe_cluster(ctx: ProbeContext) -> ClusterObservation:
    """Read the cluster (threads, concurrent requests) and keep what serves the target.

    Every wait (exec plugin, each request, retries) ends before the check's time limit."""
    settings = ctx.settings
    if not settings.kubernetes:
        raise Skip("--no-kubernetes")
    from wsdoctor.kube.config import ClusterConfigError, NoClusterConfig, load_access

    start = time.perf_counter()
    deadline = time.monotonic() + CHECK.time_limit(settings) - 0.5
    try:
        # In a thread: importing the client, parsing the kubeconfig and running an exec
        # plugin must not stall the network probes running concurrently on the event loop.
        access = await asyncio.to_thread(load_access, settings, deadline=deadline)
    except ClusterConfigError as exc:  # before its base class: asked for, so a finding
        from wsdoctor.kube.failures import AccessFailure

        failure = AccessFailure(cause="config", message=str(exc), context=settings.kube_context)
        return _unreadable(failure, time.perf_counter() - start)
    except NoClusterConfig as exc:
        raise Skip(str(exc)) from None
    from wsdoctor.kube.client import ApiError  # not before: most runs have no cluster

    try:
        ctx.progress(f"reading cluster {access.context}", 0.1)
        return await _discover(ctx, access, start)
    except ApiError as exc:
        from wsdoctor.checks import cluster_access

        failure = cluster_access.access_failure(exc, access)
        return _unreadable(failure, time.perf_counter() - start)
    finally:
        access.close()


def _unreadable(failure: AccessFailure, duration_s: float) -> ClusterObservation:
    from wsdoctor.kube.observation import ClusterObservation
    from wsdoctor.kube.snapshot import ClusterSnapshot

    return ClusterObservation(
        context=failure.context,
        snapshot=ClusterSnapshot(source="cluster", context=failure.context),
        access_failure=failure,
        duration_s=round(duration_s, 6),
    )


async def _discover(ctx: ProbeContext, access: ClusterAccess, start: float) -> ClusterObservation:
    """Read, match the target, and (when asked) read the route's TLS Secrets."""
    from wsdoctor.kube.failures import AccessFailure
    from wsdoctor.kube.kinds import ROUTE_KINDS, ROUTE_PLURALS
    from wsdoctor.kube.observe import observe
    from wsdoctor.kube.reader import read_cluster

    settings = ctx.settings
    read = await read_cluster(
        access, ctx.target.host, ctx.target.path, lambda message: ctx.progress(message, None)
    )
    snap = read.snapshot
    readable_routes = [k for k in ROUTE_KINDS if k in snap.listed_kinds]
    blocked = [g for g in snap.permission_gaps if g.resource.split(".")[0] in ROUTE_PLURALS]
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
    from wsdoctor.kube.reader import ClusterReader
    from wsdoctor.kube.snapshot import PermissionGap

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


def _observed(facts: Facts) -> bool:
    """Whether the cluster was read (its observation, whatever came of it, exists)."""
    result = facts.results.get(CHECK.id)
    return result is not None and result.observation is not None


def judge_cluster(facts: Facts) -> Iterator[Finding]:
    """Configuration rules on the objects behind the host (:mod:`cluster_rules`, imported
    only when the cluster was read: most runs have no cluster to judge)."""
    if not _observed(facts):
        return iter(())
    from wsdoctor.checks.cluster_rules import judge_cluster as judge

    return judge(facts)


def judge_cross_checks(facts: Facts) -> Iterator[Finding]:
    """Configuration held against measurement (:mod:`cluster_rules`)."""
    if not _observed(facts):
        return iter(())
    from wsdoctor.checks.cluster_rules import judge_cross_checks as judge

    return judge(facts)


def cluster_codes() -> tuple[Code, ...]:
    """The codes the cluster rules emit (importing them)."""
    from wsdoctor.checks.cluster_rules import CODES

    return CODES


def summarize_cluster(obs: Observation) -> str:
    """``Ingress chat/chat (ingress-nginx) → Service chat/chat: 2/3 ready → timeouts
    proxy-send-timeout 60 s (default), proxy-read-timeout 3600 s``."""
    from wsdoctor.kube.observation import ClusterObservation

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
    codes=cluster_codes,
    time_limit=lambda s: max(s.timeout * 4, 10.0) + 5.0,
    summarize=summarize_cluster,
)
