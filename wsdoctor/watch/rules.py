"""The watch's finding codes and the rule that turns the cause of each drop into findings: one
finding per cause and culprit (a pod, a reload, a timeout), naming the connections it cut."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from wsdoctor.checks.base import Check, Code, Facts, Hop, Observation, ProbeContext, Skip, rule
from wsdoctor.checks.lifetime import heartbeat_hint
from wsdoctor.models import EvidenceValue, Finding, Fix, Resource, Status
from wsdoctor.watch.attribution import CAUSES, Cause, CauseKind, PathContext, attribute
from wsdoctor.watch.causes import Timeline
from wsdoctor.watch.model import ConnectionRecord, WatchObservation
from wsdoctor.watch.reconnects import (
    POD_KINDS,
    RECONNECT,
    RootCause,
    attempt_evidence,
    connection_ids,
    failed_after,
    reconnect_findings,
    root_phrase,
)

if TYPE_CHECKING:
    pass

POD_CUT = Code("WSD-WATCH-POD-CUT", Status.FAIL,
               "Connections were cut abruptly when their pod ended")
POD_CLOSED = Code("WSD-WATCH-POD-CLOSED", Status.WARN,
                  "Connections were closed when their pod ended")
RELOAD = Code("WSD-WATCH-PROXY-RELOAD", Status.FAIL,
              "Every connection was cut at once by a proxy reload")
RESTART = Code("WSD-WATCH-PROXY-RESTART", Status.FAIL,
               "Every connection was cut at once by a proxy restart")
REPLICA = Code("WSD-WATCH-REPLICA-DROPS", Status.WARN,
               "One replica's connections were cut at once")
IDLE = Code("WSD-WATCH-IDLE-TIMEOUT", Status.WARN, "Quiet connections are cut by an idle timeout")
IDLE_HEARTBEAT = Code("WSD-WATCH-HEARTBEAT-TOO-SLOW", Status.FAIL,
                      "Connections are cut by an idle timeout shorter than the heartbeat")
LIFETIME = Code("WSD-WATCH-LIFETIME-TIMEOUT", Status.FAIL,
                "Connections are cut at a fixed age, traffic or not")
SILENT = Code("WSD-WATCH-SILENT-DROP", Status.FAIL,
              "Connections died silently: the path dropped their flow")
APP_CLOSE = Code("WSD-WATCH-APP-CLOSE", Status.INFO, "The application closed connections")
UNEXPLAINED = Code("WSD-WATCH-UNEXPLAINED", Status.WARN, "Drops without a pattern or an event")
NO_DROPS = Code("WSD-WATCH-NO-DROPS", Status.OK, "No connection dropped")
NOTHING_HELD = Code("WSD-WATCH-NOTHING-HELD", Status.FAIL, "No connection could be held")
CLUSTER_BLIND = Code("WSD-WATCH-CLUSTER-UNWATCHED", Status.INFO,
                     "The cluster was not watched: drops are explained by their pattern only")

CODES = (POD_CUT, POD_CLOSED, RELOAD, RESTART, REPLICA, IDLE, IDLE_HEARTBEAT, LIFETIME, SILENT,
         APP_CLOSE, UNEXPLAINED, RECONNECT, NO_DROPS, NOTHING_HELD, CLUSTER_BLIND)

#: Close codes of a graceful end: the client knows to reconnect (RFC 6455 §7.4.1).
GRACEFUL = frozenset({1000, 1001, 1012})

GRACEFUL_POD_FIX = """\
# Deployment: drain before the pod goes (the app closes its WebSockets with 1001 on SIGTERM)
spec:
  strategy:
    rollingUpdate: {maxUnavailable: 0, maxSurge: 1}
  template:
    spec:
      terminationGracePeriodSeconds: 60
      containers:
      - name: app
        lifecycle:
          preStop:
            exec: {command: ["sleep", "10"]}   # until the endpoint removal reaches the proxies
"""


def _count(n: int) -> str:
    return f"{n} connection{'s' if n != 1 else ''}"


def _endings(drops: list[ConnectionRecord]) -> str:
    counts: dict[str, int] = {}
    for d in drops:
        counts[d.how()] = counts.get(d.how(), 0) + 1
    return ", ".join(f"{n}× {how}" if n > 1 else how for how, n in counts.items())


def _reconnects(drops: list[ConnectionRecord], timeline: Timeline) -> str:
    """Where and how fast the slots of these drops reconnected."""
    after = [c for c in (timeline.next_opened(d.slot, d.ended_at or 0.0) for d in drops)
             if c is not None]
    if not after:
        return ""
    waits = [c.reconnect_s for c in after if c.reconnect_s is not None]
    replicas = sorted({c.replica for c in after if c.replica})
    span = f"{min(waits):.1f}" if waits and f"{min(waits):.1f}" == f"{max(waits):.1f}" else \
        f"{min(waits or [0]):.1f}–{max(waits or [0]):.1f}"
    text = f" They reconnected in {span} s" if waits else " They reconnected"
    return text + (f", to {', '.join(replicas)}." if replicas else ".")


def _group(causes: dict[int, Cause], obs: WatchObservation
           ) -> dict[tuple[CauseKind, str], list[tuple[ConnectionRecord, Cause]]]:
    """Drops by (cause, culprit): a pod, a changed object, a timeout value, an address."""
    out: dict[tuple[CauseKind, str], list[tuple[ConnectionRecord, Cause]]] = {}
    order = {kind: i for i, kind in enumerate(CAUSES)}
    for d in obs.drops():
        cause = causes[d.id]
        culprit = str(cause.resource) if cause.resource is not None else ""
        if cause.kind in ("idle_timeout", "lifetime_timeout", "silent_drop") and not culprit:
            culprit = f"{round(cause.seconds or 0):g}"
        if cause.kind in ("app_close",):
            culprit = str(d.close_code)
        out.setdefault((cause.kind, culprit), []).append((d, cause))
    return dict(sorted(out.items(), key=lambda item: (order[item[0][0]], item[0][1])))


def judge_watch(facts: Facts) -> Iterator[Finding]:
    """Explain every drop, grouped by cause; say when nothing dropped or could be held."""
    from wsdoctor.checks.cluster import ClusterObservation

    obs = facts.get(WatchObservation)
    if obs is None:
        return
    cluster = facts.get(ClusterObservation)
    path = PathContext.from_cluster(cluster)
    url = Resource(kind="URL", name=facts.target.url)
    if not obs.connections and obs.interrupted and not obs.failed_attempts_total:
        return  # ended before its first upgrade was tried: nothing measured, none failed
    yield from _blind(obs, url)
    if not obs.connections:
        if obs.addresses:
            seen = f"No upgrade succeeded in {obs.duration_s:.0f} s " \
                f"({obs.failed_attempts_total} attempts): there was nothing to watch."
        else:
            seen = "No address upgraded before the watch (the handshake check of this " \
                "report says why): there was nothing to hold."
        yield NOTHING_HELD.finding(
            "watch", seen, resource=url, evidence=attempt_evidence(obs),
            fix=Fix(summary="Make the upgrade work first: `wsdoctor TARGET` says why it "
                    "fails."))
        return
    causes = attribute(obs, path)
    timeline = Timeline(obs)
    refused_after = failed_after(obs)
    root: RootCause | None = None
    for (kind, _), items in _group(causes, obs).items():
        finding = _finding(kind, items, obs, path, timeline, url)
        behind = [d for d, _ in items if d.id in refused_after]
        phrase = root_phrase(kind, items[0][1], items[0][0], path)
        if behind and phrase is not None:
            finding = finding.model_copy(update={
                "explains": [*finding.explains, RECONNECT.code],
                "detail": f"{finding.detail} The reconnects of {connection_ids(behind)} then "
                f"failed ({RECONNECT.code}): this is why."})
            attempts = sum(refused_after[d.id] for d in behind)
            if root is None or (kind in POD_KINDS, attempts) > (root.kind in POD_KINDS,
                                                                root.attempts):
                root = RootCause(kind, phrase, finding.code, behind, attempts)
        yield finding
    yield from reconnect_findings(obs, url, root)
    if not causes:
        yield NO_DROPS.finding(
            "watch", f"{len(obs.connections)} connections were held for "
            f"{obs.duration_s:.0f} s over {', '.join(obs.addresses)}"
            + (f" on {len(obs.replicas())} replica{'s' if len(obs.replicas()) != 1 else ''} "
               f"({', '.join(obs.replicas()[:6])})" if obs.replicas() else "")
            + "; none dropped." + (" The watch was ended early (Ctrl-C or SIGTERM)."
                                   if obs.interrupted else "") + _blind_spot(obs),
            resource=url, evidence={"connections": len(obs.connections),
                                    "duration_s": round(obs.duration_s, 3)},
            title=f"No connection dropped in {obs.duration_s:.0f} s")


def _silent_span(drops: list[ConnectionRecord], obs: WatchObservation) -> str:
    """`` between age 1.5 and 1.8 s`` (with a heartbeat) or `` after 240 s quiet``."""
    if obs.options.heartbeat is None:
        quiet = sorted((d.pending_ping_at or 0.0) - (d.last_traffic_at or d.opened_at)
                       for d in drops)
        return f" after {quiet[len(quiet) // 2]:.1f} s quiet"
    alive = sorted((d.last_alive_at or d.opened_at) - d.opened_at for d in drops)
    dead = sorted((d.pending_ping_at or d.ended_at or 0.0) - d.opened_at for d in drops)
    return f" between age {alive[len(alive) // 2]:.1f} s and {dead[len(dead) // 2]:.1f} s"


def _blind_spot(obs: WatchObservation) -> str:
    options = obs.options
    if options.heartbeat is None and options.echo is None:
        return " With neither --heartbeat nor --echo nothing was sent, so a silent drop " \
            "would have gone unseen."
    return ""


def _blind(obs: WatchObservation, url: Resource) -> Iterator[Finding]:
    if obs.cluster == "watched":
        if obs.unwatched:
            yield CLUSTER_BLIND.finding(
                "watch", "Some watch streams could not be opened or were refused: "
                + "; ".join(obs.unwatched) + ". Drops those objects would explain are "
                "attributed by their pattern only.", resource=url,
                evidence={"unwatched": list(obs.unwatched)},
                title="Part of the cluster was not watched",
                fix=Fix(summary="Grant get, list and watch on those resources "
                        "(docs/rbac.yaml and docs/rbac-watch.yaml)."))
        return
    why = obs.cluster_note or "no kubeconfig"
    yield CLUSTER_BLIND.finding(
        "watch", f"The cluster was not watched ({why}): a drop is attributed to a pod or a "
        "reload only by its pattern (which connections, at what age), never by the event "
        "that caused it.", resource=url, evidence={"cluster": obs.cluster},
        fix=Fix(summary="Run with a kubeconfig that may get, list and watch Pods, "
                "EndpointSlices, Events, Deployments, ReplicaSets, HPAs, Ingresses and the "
                "controller's ConfigMap (docs/rbac.yaml)."))


def _finding(kind: str, items: list[tuple[ConnectionRecord, Cause]], obs: WatchObservation,
             path: PathContext, timeline: Timeline, url: Resource) -> Finding:
    drops = [d for d, _ in items]
    cause = items[0][1]
    n = len(drops)
    conns = f"{n} connection{'s' if n != 1 else ''} ({connection_ids(drops)})"
    endings: list[str | int | float | bool | None] = []
    endings.extend(d.how() for d in drops[:50])
    evidence: dict[str, EvidenceValue] = {
        "connections": [d.id for d in drops], "cause": kind, "evidence": cause.evidence,
        "endings": endings}
    if cause.seconds is not None:
        evidence["seconds"] = cause.seconds
    again = _reconnects(drops, timeline)
    seen = f" Why: {cause.summary}."
    if kind in ("pod_terminated", "pod_restarted"):
        return _pod_finding(drops, cause, conns, seen + again, evidence, path)
    if kind in ("proxy_reload", "proxy_restart"):
        code = RELOAD if kind == "proxy_reload" else RESTART
        where = path.controller or "the proxy"
        setting = f" ({path.shutdown_setting})" if path.shutdown_setting else ""
        return code.finding(
            "watch", f"{conns} were cut at once ({_endings(drops)}).{seen}{again}",
            resource=cause.resource or url, evidence=evidence,
            title=f"{_count(n)} cut at once by {where} "
            f"{'reloading' if kind == 'proxy_reload' else 'restarting'}"
            + (f" {cause.seconds:.1f} s after {cause.trigger}" if cause.trigger and
               cause.seconds is not None else ""),
            fix=Fix(summary=f"A reload closes the old configuration's WebSockets when its "
                    f"drain time ends{setting}: reload less often (ingress-nginx reloads on "
                    "every Ingress or ConfigMap change, not on endpoint changes), raise the "
                    "drain time, and make clients reconnect with backoff and jitter.",
                    snippet="# ingress-nginx controller ConfigMap\ndata:\n"
                    "  worker-shutdown-timeout: \"3600s\"\n# HAProxy: global hard-stop-after 1h\n",
                    language="yaml"))
    if kind == "replica":
        return REPLICA.finding(
            "watch", f"{conns} on one replica were cut at once ({_endings(drops)}).{seen}"
            f"{again} Without the cluster's events wsdoctor cannot say why the replica ended.",
            resource=cause.resource or url, evidence=evidence,
            title=f"{_count(n)} on replica {drops[0].replica} "
            f"{'closed' if all(d.ending == 'close_frame' for d in drops) else 'cut'} at once",
            fix=Fix(summary="Run again with a kubeconfig to see which rollout, scale-down or "
                    "eviction ended it; a replica should close its WebSockets with 1001 and "
                    "drain (preStop, terminationGracePeriodSeconds).",
                    snippet=GRACEFUL_POD_FIX, language="yaml"))
    if kind in ("idle_timeout", "lifetime_timeout"):
        return _timeout_finding(kind, drops, cause, conns, seen + again, evidence, obs, url)
    if kind == "silent_drop":
        return SILENT.finding(
            "watch", f"{conns} got no pong within {obs.options.pong_timeout:g} s: no FIN and "
            f"no RST ever came.{seen}{again} Clients without heartbeats hang on such "
            "connections until they send.",
            resource=url, evidence=evidence,
            title=f"{n} connection{'s' if n != 1 else ''} died silently"
            + _silent_span(drops, obs),
            fix=Fix(summary="A load balancer or NAT forgot the flow (Azure LB without TCP "
                    "reset, AWS NLB after 350 s, conntrack): send heartbeats more often than "
                    "its idle timeout, or enable TCP reset on idle."
                    + (f" Matches: {', '.join(cause.components)}." if cause.components else ""),
                    snippet="metadata:\n  annotations:\n    service.beta.kubernetes.io/"
                    "azure-load-balancer-tcp-idle-timeout: \"30\"\n", language="yaml"))
    if kind == "app_close":
        return APP_CLOSE.finding(
            "watch", f"{conns} were closed by the application ({_endings(drops)}), with no "
            f"pattern and no cluster event.{again}", resource=url, evidence=evidence,
            title=f"The application closed {n} connection{'s' if n != 1 else ''} "
            f"with code {drops[0].close_code}")
    return UNEXPLAINED.finding(
        "watch", f"{conns} dropped ({_endings(drops)}) with no pattern wsdoctor knows and no "
        f"cluster event near them.{seen}{again}", resource=url, evidence=evidence,
        title=f"{n} drop{'s' if n != 1 else ''} without a pattern or an event",
        fix=Fix(summary="Watch longer (patterns need repeats), with a kubeconfig (events), "
                "and with --backend-header if the application names its replica."))


def _pod_finding(drops: list[ConnectionRecord], cause: Cause, conns: str, seen: str,
                 evidence: dict[str, EvidenceValue], path: PathContext) -> Finding:
    graceful = all(d.ending == "close_frame" and d.close_code in GRACEFUL for d in drops)
    pod = cause.resource.name if cause.resource is not None else ""
    facts = path.pods.get(pod)
    missing = []
    if facts is not None and not facts.pre_stop:
        missing.append("the pod has no preStop hook")
    if not graceful:
        missing.append("the application did not close its WebSockets with 1001 (going away): "
                       "clients saw 1006")
    why = "; ".join(missing)
    why = f" {why[:1].upper()}{why[1:]}." if why else ""
    trigger = f" Set off by {cause.trigger}." if cause.trigger else ""
    code = POD_CLOSED if graceful else POD_CUT
    grace = f" (grace period {facts.grace_s:g} s)" if facts is not None else ""
    return code.finding(
        "watch", f"{conns} ended with the pod that served them ({_endings(drops)}).{seen}"
        f"{trigger}{why}", resource=cause.resource, evidence=evidence,
        title=f"{_count(len(drops))} {'closed' if graceful else 'cut'} when "
        f"{cause.resource} {'restarted' if cause.kind == 'pod_restarted' else 'terminated'}",
        fix=Fix(summary="On SIGTERM, close each WebSocket with 1001 (going away) so clients "
                "reconnect at once; give the pod a preStop hook that waits for its endpoint "
                "to leave the proxies, a terminationGracePeriodSeconds long enough to drain"
                f"{grace}, and roll out with maxUnavailable: 0.",
                snippet=GRACEFUL_POD_FIX, language="yaml"))


def _timeout_finding(kind: str, drops: list[ConnectionRecord], cause: Cause, conns: str,
                     seen: str, evidence: dict[str, EvidenceValue], obs: WatchObservation,
                     url: Resource) -> Finding:
    seconds = cause.seconds or 0.0
    heartbeat = obs.options.heartbeat
    named = f" ({', '.join(cause.components)})" if cause.components else ""
    evidence["components"] = list(cause.components)
    if kind == "lifetime_timeout":
        return LIFETIME.finding(
            "watch", f"{conns} ended at age {seconds:.1f} s although frames flowed "
            f"({_endings(drops)}).{seen}", resource=cause.resource or url,
            evidence=evidence,
            title=f"Connections are cut at age {seconds:.1f} s, traffic or not{named}",
            fix=Fix(summary="A per-request or lifetime timeout applies to WebSockets on this "
                    "path (Envoy route timeout: set it to 0s; GCP backend service: raise "
                    "BackendConfig timeoutSec); heartbeats do not help."))
    code = IDLE_HEARTBEAT if heartbeat is not None and heartbeat >= seconds else IDLE
    hint = f"{heartbeat_hint(seconds):g}"
    return code.finding(
        "watch", f"{conns} were closed after {seconds:.1f} s without traffic "
        f"({_endings(drops)}).{seen}"
        + (f" The heartbeat (--heartbeat {heartbeat:g}) is slower than that." if code is
           IDLE_HEARTBEAT else ""),
        resource=cause.resource or url, evidence=evidence,
        title=f"Connections quiet for {seconds:.1f} s are cut{named}",
        fix=Fix(summary=f"Clients must send a heartbeat every {hint} s or more often, or "
                f"raise the idle timeout{named}; run the watch with --heartbeat set to the "
                "clients' interval to see the drops that remain. To hold the timeout against "
                "what the application needs, run `wsdoctor TARGET --expect-idle "
                + (f"{heartbeat:g}s" if heartbeat is not None else "QUIET_TIME")
                + "`: it measures the idle timeout and fails while it is shorter."))


async def _not_a_diagnosis_probe(ctx: ProbeContext) -> Observation:
    raise Skip("the watch runs with `wsdoctor watch TARGET`, not within a diagnosis")


def summarize_watch(obs: Observation) -> str:
    """``4 connections held 600 s: 3 drops (2 pod_terminated, 1 idle_timeout)``."""
    assert isinstance(obs, WatchObservation)
    drops = obs.drops()
    held = f"{len(obs.connections)} connections over {obs.duration_s:.0f} s"
    tail = "" if obs.finished else " so far"
    tail += " (ended early)" if obs.interrupted else ""
    if not drops:
        return f"{held}: no drop{tail}"
    return f"{held}: {len(drops)} drop{'s' if len(drops) != 1 else ''}{tail}"


CHECK = Check(
    id="watch",
    title="Connection drops",
    hop=Hop.IDLE,
    probe=_not_a_diagnosis_probe,
    needs=(),
    rules=(rule(judge_watch, "cluster"),),
    codes=CODES,
    default=False,
    summarize=summarize_watch,
)
