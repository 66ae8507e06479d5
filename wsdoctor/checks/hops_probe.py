"""The hops check's probe: the pod behind the route and a pod of the ingress controller,
measured with the same checks as the public address (upgrade, messages, idle with --idle,
affinity at the controller), each through a :class:`~wsdoctor.wsconn.Route`: the API
server's port-forward from outside the cluster (``--port-forward``), the pod IP from inside
it. Requests keep the public Host and SNI, so the controller routes them as it routes the
public ones while the load balancer in front is left out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from wsdoctor.checks import affinity, handshake, idle, messages
from wsdoctor.checks.base import Check, Hop, Observation, ProbeContext, Skip
from wsdoctor.checks.cluster import ClusterObservation
from wsdoctor.checks.hops_model import HopCheck, HopResult, HopsObservation, Reach
from wsdoctor.checks.tcp import TcpAttempt, TcpObservation, _classify
from wsdoctor.kube.hops import HopPlan, plan_hops
from wsdoctor.models import Scheme, Target
from wsdoctor.route import Route, Streams, routed
from wsdoctor.settings import Settings
from wsdoctor.tunnel import HEAD_LIMIT

if TYPE_CHECKING:
    from wsdoctor.kube.config import ClusterAccess

HOP_AFFINITY_CONNECTIONS = 3
OPT_IN = ("reaching pods from outside the cluster needs the API server's port-forward: "
          "run with --port-forward (it needs create on pods/portforward, see "
          "docs/deploy/rbac-portforward.yaml), or --pod-network where pod IPs are routable")


def reach_mode(settings: Settings) -> Reach | None:
    """How pods are reached: the pod network inside the cluster (or when told), else the
    port-forward when opted in."""
    from wsdoctor.kube.config import in_cluster

    if settings.pod_network or (in_cluster() and not settings.port_forward):
        return "pod-network"
    return "port-forward" if settings.port_forward else None


async def measure_hops(ctx: ProbeContext) -> HopsObservation:
    """Plan the hops from the cluster observation and measure them concurrently."""
    cluster = ctx.get(ClusterObservation)
    if cluster is None:
        raise Skip("the cluster check observed nothing to find the hops in")
    plans = plan_hops(cluster, ctx.target)
    reach = reach_mode(ctx.settings)
    access = None
    if reach == "port-forward" and any(p.problem is None for p in plans):
        from wsdoctor.kube.config import NoClusterConfig, load_access

        try:
            access = await asyncio.to_thread(load_access, ctx.settings)
        except NoClusterConfig as exc:  # the cluster check read it a moment ago
            raise Skip(str(exc)) from None
    try:
        results = await asyncio.gather(*(measure_hop(ctx, p, reach, access) for p in plans))
    finally:
        if access is not None:
            getattr(access, "close", access.api_client.close)()
    return HopsObservation(reach=reach, hops=list(results))


def hop_target(target: Target, plan: HopPlan) -> Target:
    """The target as the hop is asked: its scheme, port and path, the public host (for SNI;
    the Host header comes from the route)."""
    assert plan.port is not None
    host = f"[{target.host}]" if ":" in target.host else target.host
    return Target(url=f"{plan.scheme}://{host}:{plan.port}{plan.path}", scheme=Scheme(plan.scheme),
                  host=target.host, port=plan.port, path=plan.path)


def hop_settings(settings: Settings, plan: HopPlan, selected: set[str]) -> Settings:
    """The run's settings for one hop: its checks only (idle when the run measures idle;
    affinity at the controller when the run checks it and the user said it matters, with
    --expect-affinity or --affinity-cookie: each reconnect is one more port-forward), no
    cluster, no pins, no proxy (the route reaches the hop)."""
    only = ["tcp", "handshake", "messages"]
    only += ["idle"] if "idle" in selected else []
    wants_affinity = settings.expect_affinity or bool(settings.affinity_cookie)
    only += ["affinity"] if plan.role == "controller" and "affinity" in selected \
        and wants_affinity else []
    # Three reconnects show whether the controller pins a replica; the run's six would
    # make the controller hop the bisected run's longest step.
    return settings.model_copy(update={
        "only": only, "skip": [], "enable": [], "resolve": [], "kubernetes": False,
        "proxy": None,
        "affinity_connections": min(settings.affinity_connections, HOP_AFFINITY_CONNECTIONS)})


def _skipped(plan: HopPlan, reason: str, via: Reach | None = None, **extra: Any) -> HopResult:
    return HopResult(plan=plan, via=via, status="skipped", reason=reason, **extra)


async def measure_hop(ctx: ProbeContext, plan: HopPlan, reach: Reach | None,
                      access: ClusterAccess | None) -> HopResult:
    """One hop: open a first connection (that is its TCP measurement), then run its checks
    with every connection routed to it."""
    if plan.problem is not None:
        return _skipped(plan, plan.problem)
    if reach is None:
        return _skipped(plan, OPT_IN)
    assert plan.port is not None and plan.pod is not None and plan.namespace is not None
    forward = None
    dial: Callable[[int], Awaitable[Streams]]
    if reach == "port-forward":
        from wsdoctor.kube.portforward import ApiEndpoint, PortForward

        assert access is not None
        forward = PortForward(ApiEndpoint.from_access(access), plan.namespace, plan.pod,
                              plan.port)
        dial = forward.dial
    elif plan.address:
        address, port = plan.address, plan.port

        async def dial(limit: int) -> Streams:
            return await asyncio.open_connection(address, port, limit=limit)
    else:
        return _skipped(plan, f"pod {plan.namespace}/{plan.pod} has no IP in its status", reach)
    start = time.perf_counter()
    try:
        return await _run_hop(ctx, plan, reach, dial, forward, start)
    finally:
        if forward is not None:
            await forward.close()


async def _run_hop(ctx: ProbeContext, plan: HopPlan, reach: Reach,
                   dial: Callable[[int], Awaitable[Streams]], forward: Any,
                   start: float) -> HopResult:
    from wsdoctor.kube.portforward import PortForwardError
    from wsdoctor.runner import CheckProgress, Event, diagnose, select_checks

    settings = ctx.settings
    label = f"{plan.role} {plan.namespace}/{plan.pod}:{plan.port}"
    attempt = TcpAttempt(address=plan.address or plan.pod or "", port=plan.port or 0,
                         outcome="connected")
    spare: list[Streams] = []
    try:
        async with asyncio.timeout(settings.timeout):
            spare.append(await dial(HEAD_LIMIT))
        attempt = attempt.model_copy(update={"connect_s": round(time.perf_counter() - start, 6)})
    except PortForwardError as exc:
        if exc.gap is not None:
            return _skipped(plan, str(exc), reach, permission_gap=exc.gap)
        return HopResult(plan=plan, via=reach, status="error", reason=str(exc))
    except (OSError, TimeoutError) as exc:
        outcome, error = _classify(exc)
        attempt = attempt.model_copy(update={"outcome": outcome, "error": error})
    tcp_obs = TcpObservation(attempts=[attempt])

    async def measured_tcp(_: ProbeContext) -> Observation:
        return tcp_obs

    def progress(event: Event) -> None:
        if isinstance(event, CheckProgress):
            ctx.progress(f"{plan.role} hop: {event.message}", event.fraction)

    selected = {c.id for c in select_checks(settings)}
    checks = (Check(id="tcp", title="TCP connect", hop=Hop.NETWORK, probe=measured_tcp),
              handshake.CHECK, messages.CHECK, idle.CHECK, affinity.CHECK)
    async def first_then_dial(limit: int) -> Streams:
        """The connection opened above serves the first check that connects."""
        return spare.pop() if spare else await dial(limit)

    ctx.progress(f"testing the {label} hop", None)
    try:
        with routed(Route(dial=first_then_dial, host_header=ctx.target.host_header)):
            report = await diagnose(hop_target(ctx.target, plan), hop_settings(
                settings, plan, selected), checks=checks, sink=progress)
    finally:
        for _, writer in spare:
            writer.close()
    by_id = {c.id: c for c in report.checks}

    def observed(check_id: str) -> Any:
        found = by_id.get(check_id)
        return found.observation if found is not None else None

    return HopResult(
        plan=plan, via=reach, status="tested",
        tunnel_errors=list(dict.fromkeys(forward.errors)) if forward is not None else [],
        checks=[HopCheck(id=c.id, status=c.status, summary=c.summary, reason=c.reason,
                         duration_s=c.duration_s) for c in report.checks],
        tcp=tcp_obs, handshake=observed("handshake"), messages=observed("messages"),
        idle=observed("idle"), affinity=observed("affinity"),
        findings=list(report.findings), duration_s=round(time.perf_counter() - start, 6),
    )
