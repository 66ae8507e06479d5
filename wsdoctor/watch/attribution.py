"""The cause of each drop, from the best evidence available. Pure: no I/O, no clock.

1. The cluster, when it was watched: a drop within seconds of its pod terminating (deleted,
   evicted, its endpoint removed, its container restarted) is that pod's; a proxy cut (no
   close frame) after a change that makes the controller reload (an Ingress, its ConfigMap)
   is that reload's.
2. The pattern, otherwise: connections of different ages cut at the same moment are an event
   (all of them: a proxy reload or restart; only one replica's: that pod); drops that recur at
   one quiet time are an idle timeout, at one age despite traffic a lifetime timeout (named
   from the cluster's configured timeouts, else from the known defaults, as the idle check
   names them); an unanswered ping is a silently dropped flow.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from wsdoctor.knowledge import (
    IDLE_TIMEOUT_DEFAULTS,
    MEASURABLE_KINDS,
    IdleTimeoutDefault,
    TimeoutKind,
    match_idle_timeout,
)
from wsdoctor.models import Resource
from wsdoctor.watch.model import ClusterEvent, ConnectionRecord, WatchObservation

if TYPE_CHECKING:
    from wsdoctor.checks.cluster import ClusterObservation
    from wsdoctor.kube.timeouts import ConfiguredTimeout

#: Drops this close together happened "at once" (a reload, a killed process: milliseconds).
BURST_WINDOW_S = 0.5
#: A drop may be seen this long before wsdoctor hears of its pod's end (watch latency).
POD_LEAD_S = 3.0
#: After a pod starts terminating, its connections may last its grace period, plus this.
POD_GRACE_DEFAULT_S = 30.0
POD_MARGIN_S = 5.0
#: A reload's cut may come up to the controller's shutdown timeout (plus this) after a change.
RELOAD_MARGIN_S = 5.0
#: What set off a pod's termination (a rollout, a scale-down) happened at most this long before.
TRIGGER_LOOKBACK_S = 300.0

CauseKind = Literal[
    "pod_terminated", "pod_restarted", "proxy_reload", "proxy_restart", "replica",
    "idle_timeout", "lifetime_timeout", "silent_drop", "app_close", "unexplained",
]
#: Every cause, in the order findings and metrics list them.
CAUSES: tuple[CauseKind, ...] = (
    "pod_terminated", "pod_restarted", "proxy_reload", "proxy_restart", "replica",
    "idle_timeout", "lifetime_timeout", "silent_drop", "app_close", "unexplained",
)
Evidence = Literal["cluster", "pattern"]


def same_duration(a: float, b: float) -> bool:
    """Two measured durations are the same timeout: within 0.25 s or 1 %."""
    return abs(a - b) <= max(0.25, 0.01 * max(a, b))


@dataclass(frozen=True)
class Cause:
    """Why one connection dropped, and on what evidence."""

    kind: CauseKind
    evidence: Evidence
    summary: str
    """One line, e.g. ``Pod chat/chat-1 started terminating 0.2 s before``."""
    resource: Resource | None = None
    """The object to blame (the Pod, the ConfigMap that changed...)."""
    seconds: float | None = None
    """The timeout (idle, age), or how long after the cluster's change the drop came."""
    trigger: str | None = None
    """What set it off: ``Deployment chat/chat rolled out``, ``ConfigMap ... changed``."""
    together: tuple[int, ...] = ()
    """Connections that dropped at the same moment (itself included)."""
    components: tuple[str, ...] = ()
    """For a timeout: the components it is the default of, or the configured setting."""


@dataclass(frozen=True)
class PodFacts:
    """What the cluster check knew of one pod's way of ending."""

    pre_stop: bool
    grace_s: float


@dataclass(frozen=True)
class PathContext:
    """What the cluster check knew of the path: names the things the patterns point at."""

    controller: str | None = None
    shutdown_s: float | None = None
    """The controller's drain time after a reload (ingress-nginx worker-shutdown-timeout)."""
    shutdown_setting: str | None = None
    timeouts: tuple[ConfiguredTimeout, ...] = ()
    pods: dict[str, PodFacts] = field(default_factory=dict)

    @classmethod
    def from_cluster(cls, obs: ClusterObservation | None) -> PathContext:
        """The facts of a cluster observation (an empty context without one)."""
        if obs is None:
            return cls()
        from wsdoctor.watch.pathfacts import path_context

        return path_context(obs)


def attribute(obs: WatchObservation, path: PathContext | None = None) -> dict[int, Cause]:
    """The cause of every drop, by connection id."""
    path = path or PathContext()
    drops = obs.drops()
    groups = _groups(drops)
    by_age = sorted((d.age_s or 0.0, groups[d.id], d.id) for d in drops)
    by_quiet = sorted((d.quiet_s or 0.0, groups[d.id], d.id) for d in drops
                      if d.ending != "silent")
    members: dict[int, list[ConnectionRecord]] = {}
    for d in drops:
        members.setdefault(groups[d.id], []).append(d)
    causes: dict[int, Cause] = {}
    for d in drops:
        group = members[groups[d.id]]
        burst = _burst_of(group, obs, by_age, groups[d.id])
        cause = (_cluster_cause(d, burst, obs, path) if obs.events else None) or \
            _pattern_cause(d, burst, by_age, by_quiet, groups[d.id], obs, path)
        causes[d.id] = cause
    return causes


def _groups(drops: Sequence[ConnectionRecord]) -> dict[int, int]:
    """Drops within ``BURST_WINDOW_S`` of the first of their group share a group number."""
    groups: dict[int, int] = {}
    number, start = -1, -1e18
    for d in drops:  # sorted by end
        end = d.ended_at or 0.0
        if end - start > BURST_WINDOW_S:
            number, start = number + 1, end
        groups[d.id] = number
    return groups


@dataclass(frozen=True)
class Burst:
    """Connections of different ages cut at the same moment: an event, not a timeout."""

    members: tuple[ConnectionRecord, ...]
    survivors: tuple[ConnectionRecord, ...]
    """Connections open just before that stayed open."""

    @property
    def replicas(self) -> set[str]:
        return {m.replica for m in self.members if m.replica}

    @property
    def addresses(self) -> set[str]:
        return {m.address for m in self.members}

    @property
    def everything(self) -> bool:
        """Every connection open at that moment was cut."""
        return not self.survivors


def _burst_of(group: list[ConnectionRecord], obs: WatchObservation,
              by_age: list[tuple[float, int, int]], number: int) -> Burst | None:
    """The group as an event, unless it is not one: a single drop, or connections opened
    together that ended together at an age that recurs at other times (a timeout)."""
    if len(group) < 2:
        return None
    ages = [g.age_s or 0.0 for g in group]
    if same_duration(min(ages), max(ages)):
        idle = all(same_duration(g.age_s or 0.0, g.quiet_s or 0.0) for g in group)
        if _recurs(ages[0], by_age, number) or (idle and match_idle_timeout(ages[0])):
            return None
    start = min(g.ended_at or 0.0 for g in group)
    ids = {g.id for g in group}
    survivors = tuple(c for c in obs.open_at(start - 0.001) if c.id not in ids
                      and (c.ended_at is None or c.ended_at > start + BURST_WINDOW_S))
    return Burst(members=tuple(sorted(group, key=lambda g: g.id)), survivors=survivors)


def _recurs(value: float, table: list[tuple[float, int, int]], group: int) -> int:
    """How many drops outside ``group`` ended after the same duration."""
    tolerance = max(0.25, 0.01 * value)
    lo = bisect.bisect_left(table, (value - tolerance, -1, -1))
    hi = bisect.bisect_right(table, (value + tolerance, 1 << 62, 1 << 62))
    return sum(1 for _, g, _ in table[lo:hi] if g != group)


# -- the cluster's evidence --------------------------------------------------------------

_POD_ENDS = frozenset({"terminating", "deleted", "endpoint_removed", "endpoint_not_ready",
                       "restarted"})
_POD_EVENT_REASONS = frozenset({"Killing", "Evicted", "Preempted", "Preempting",
                                "TaintManagerEviction", "NodeNotReady", "OOMKilling",
                                "BackOff", "Unhealthy"})
_RELOADERS = frozenset({"Ingress", "ConfigMap", "HTTPRoute", "IngressRoute", "Gateway",
                        "VirtualService", "Middleware"})
_TRIGGERS = {"ScalingReplicaSet": "scaled", "SuccessfulRescale": "autoscaled",
             "Evicted": "evicted", "Preempted": "preempted", "TaintManagerEviction": "evicted"}


def _pod_events(event: ClusterEvent) -> bool:
    if event.change in _POD_ENDS and event.pods:
        return True
    return event.change == "event" and event.reason in _POD_EVENT_REASONS and bool(event.pods)


def _cluster_cause(d: ConnectionRecord, burst: Burst | None, obs: WatchObservation,
                   path: PathContext) -> Cause | None:
    end = d.ended_at or 0.0
    candidates = []
    for event in obs.events:
        if not _pod_events(event):
            continue
        grace = event.grace_s if event.grace_s is not None else (
            path.pods[event.pods[0]].grace_s if event.pods[0] in path.pods
            else POD_GRACE_DEFAULT_S)
        if event.at - POD_LEAD_S <= end <= event.at + grace + POD_MARGIN_S:
            candidates.append(event)
    if d.replica is not None:
        candidates = [e for e in candidates if d.replica in e.pods]
    elif len({p for e in candidates for p in e.pods}) != 1:
        candidates = []  # the replica is unknown: only a lone pod ending is evidence
    if candidates:
        return _pod_cause(d, candidates, burst, obs)
    if d.ending in ("fin", "reset") or (d.ending == "close_frame" and d.close_code == 1006):
        return _reload_cause(d, burst, obs, path)
    return None


def _pod_cause(d: ConnectionRecord, events: list[ClusterEvent], burst: Burst | None,
               obs: WatchObservation) -> Cause:
    first = min(events, key=lambda e: e.at)
    pod = next(p for p in first.pods if d.replica in (None, p))
    namespace = first.namespace
    seen = "; ".join(dict.fromkeys(f"{e.ref}: {e.detail}" for e in sorted(events,
                                                                          key=lambda e: e.at)))
    delay = (d.ended_at or 0.0) - first.at
    when = f"{abs(delay):.1f} s {'after' if delay >= 0 else 'before wsdoctor heard that'}"
    restarted = all(e.change == "restarted" for e in events)
    trigger = _trigger(first, obs)
    kind: CauseKind = "pod_restarted" if restarted else "pod_terminated"
    unknown = "" if d.replica else " (the application names no replica: the only pod ending then)"
    return Cause(
        kind=kind, evidence="cluster",
        summary=f"Pod {namespace}/{pod} {'restarted' if restarted else 'terminated'}: dropped "
        f"{when} ({seen}){unknown}",
        resource=Resource(kind="Pod", namespace=namespace, name=pod),
        seconds=round(delay, 3), trigger=trigger,
        together=tuple(m.id for m in burst.members) if burst else (d.id,),
    )


def _trigger(event: ClusterEvent, obs: WatchObservation) -> str | None:
    """The rollout, scale-down or eviction behind a pod's end, when the cluster showed one."""
    for other in sorted(obs.events, key=lambda e: -e.at):
        if not event.at - TRIGGER_LOOKBACK_S <= other.at <= event.at + 1.0:
            continue
        if other.reason in _TRIGGERS and (other.kind != "Pod" or event.pods[0] in other.pods):
            return f"{other.ref} {_TRIGGERS[other.reason]}: {other.detail}"
        if other.kind in ("Deployment", "StatefulSet", "ReplicaSet", "HorizontalPodAutoscaler") \
                and other.change in ("modified", "scaled"):
            return f"{other.ref} {other.change}: {other.detail}"
    return None


def _reload_cause(d: ConnectionRecord, burst: Burst | None, obs: WatchObservation,
                  path: PathContext) -> Cause | None:
    """A proxy cut after a change that makes the controller reload."""
    end = d.ended_at or 0.0
    window = (path.shutdown_s or 0.0) + RELOAD_MARGIN_S
    changes = [e for e in obs.events if (e.kind in _RELOADERS and e.change in
               ("modified", "added", "deleted")) or e.reason == "RELOAD"]
    changes = [e for e in changes if e.at <= end + 1.0 and end - e.at <= window]
    if not changes:
        return None
    if burst is None and len(obs.open_at(end - 0.001)) > 1:
        return None  # a reload cuts every connection of the old worker, not one of several
    if path.shutdown_s is not None:
        matched = [e for e in changes if same_duration(end - e.at, path.shutdown_s)]
        changes = matched or changes
    change = min(changes, key=lambda e: abs(end - e.at - (path.shutdown_s or 0.0)))
    delay = end - change.at
    setting = f" ({path.shutdown_setting})" if path.shutdown_setting and path.shutdown_s \
        is not None and same_duration(delay, path.shutdown_s) else ""
    who = path.controller or "the proxy"
    resource = Resource(kind=change.kind, namespace=change.namespace, name=change.name)
    return Cause(
        kind="proxy_reload", evidence="cluster",
        summary=f"{who} reloaded after {change.ref} {change.detail}; the old "
        f"configuration's connections were cut {delay:.1f} s later{setting}",
        resource=resource, seconds=round(delay, 3), trigger=f"{change.ref} {change.detail}",
        together=tuple(m.id for m in burst.members) if burst else (d.id,),
    )


# -- the pattern -------------------------------------------------------------------------

def _pattern_cause(d: ConnectionRecord, burst: Burst | None,
                   by_age: list[tuple[float, int, int]], by_quiet: list[tuple[float, int, int]],
                   group: int, obs: WatchObservation, path: PathContext) -> Cause:
    if d.ending == "silent":
        sent = d.pending_ping_at if d.pending_ping_at is not None else d.ended_at or 0.0
        quiet = sent - (d.last_traffic_at if d.last_traffic_at is not None else d.opened_at)
        alive = (d.last_alive_at if d.last_alive_at is not None else d.opened_at) - d.opened_at
        dead = sent - d.opened_at
        return Cause(kind="silent_drop", evidence="pattern", seconds=round(quiet, 3),
                     summary=f"silent: alive at age {alive:.1f} s, no pong to the ping sent at "
                     f"age {dead:.1f} s after {quiet:.1f} s quiet (no FIN, no RST): the path "
                     "dropped the flow",
                     components=tuple(_names(match_idle_timeout(quiet), silent=True)))
    if burst is not None:
        return _burst_cause(d, burst, obs)
    age, quiet = d.age_s or 0.0, d.quiet_s or 0.0
    had_traffic = not same_duration(age, quiet)
    if had_traffic and _recurs(quiet, by_quiet, group) and _longest_quiet(d, obs, quiet):
        return _timeout_cause("idle_timeout", quiet, d, path)
    if _recurs(age, by_age, group):
        return _timeout_cause("lifetime_timeout" if had_traffic else "idle_timeout", age, d,
                              path)
    if not had_traffic and (_configured(path, quiet) or match_idle_timeout(quiet)):
        return _timeout_cause("idle_timeout", quiet, d, path, once=True)
    if d.ending == "close_frame" and d.close_code not in (None, 1006):
        return Cause(kind="app_close", evidence="pattern",
                     summary=f"the application closed it ({d.how()}) at age {age:.1f} s")
    return Cause(kind="unexplained", evidence="pattern",
                 summary=f"{d.how()} at age {age:.1f} s after {quiet:.1f} s quiet: no pattern, "
                 "no cluster event")


def _longest_quiet(d: ConnectionRecord, obs: WatchObservation, quiet: float) -> bool:
    """Whether ``quiet`` was the longest the connection was ever quiet: it was younger than
    that plus its ping interval, or its pings came at least that far apart. (A connection
    that lived through longer gaps was not cut by an idle timeout of ``quiet``.)"""
    interval = obs.options.heartbeat or obs.options.echo
    if interval is None or (d.age_s or 0.0) <= quiet + interval:
        return True
    return interval <= quiet


def _burst_cause(d: ConnectionRecord, burst: Burst, obs: WatchObservation) -> Cause:
    together = tuple(m.id for m in burst.members)
    how = ", ".join(sorted({m.how() for m in burst.members}))
    replicas = burst.replicas
    survivor_replicas = {s.replica for s in burst.survivors if s.replica}
    replica = next(iter(replicas)) if len(replicas) == 1 else None
    if replica is not None and all(m.replica for m in burst.members) and \
            replica not in survivor_replicas and \
            (survivor_replicas or not _came_back(burst, obs, replica)):
        others = "while the other replicas' stayed open" if survivor_replicas else \
            "and reconnects could not reach it at once"
        return Cause(kind="replica", evidence="pattern", together=together,
                     summary=f"all {len(burst.members)} connections on replica {replica} were "
                     f"cut at once ({how}) {others}: that replica ended (a restart, a "
                     "rollout, an eviction)",
                     resource=Resource(kind="Replica", name=replica))
    if not burst.everything:
        addresses = burst.addresses
        survivors_at = {s.address for s in burst.survivors}
        if len(addresses) == 1 and not (addresses & survivors_at):
            address = next(iter(addresses))
            return Cause(kind="proxy_reload", evidence="pattern", together=together,
                         summary=f"every connection through {address} was cut at once ({how}) "
                         "while those through other addresses stayed open: the proxy at that "
                         "address reloaded or restarted",
                         resource=Resource(kind="Address", name=address))
        return Cause(kind="unexplained", evidence="pattern", together=together,
                     summary=f"{len(burst.members)} connections of different ages were cut at "
                     f"once ({how}), {len(burst.survivors)} others stayed open: one replica "
                     "ended? (the application names no replica: see --backend-header)")
    restart = _reconnects_failed(burst, obs)
    kind: CauseKind = "proxy_restart" if restart else "proxy_reload"
    if all(m.ending == "close_frame" and m.close_code not in (None, 1006)
           for m in burst.members) and len(replicas) > 1:
        what = "every replica closed them at once: all replicas restarted (a Recreate " \
            "rollout?) or a proxy speaking WebSocket closed them"
    elif restart:
        what = f"a proxy on the path restarted (reconnects failed for {restart:.1f} s)"
    else:
        what = "a proxy on the path reloaded (reconnects succeeded at once)"
    return Cause(kind=kind, evidence="pattern", together=together,
                 summary=f"all {len(burst.members)} open connections, of different ages, were "
                 f"cut at once ({how}): {what}")


def _came_back(burst: Burst, obs: WatchObservation, replica: str) -> bool:
    """Whether every slot of the burst reconnected at its first attempt to ``replica`` (it
    was still there: something in front of it cut the connections)."""
    end = max(m.ended_at or 0.0 for m in burst.members)
    for slot in {m.slot for m in burst.members}:
        after = [c for c in obs.connections if c.slot == slot and c.opened_at > end]
        first = min(after, key=lambda c: c.opened_at) if after else None
        if first is None or first.attempts > 1 or first.replica != replica:
            return False
    return True


def _reconnects_failed(burst: Burst, obs: WatchObservation) -> float | None:
    """The longest wait for a reconnect after the burst, when attempts failed meanwhile."""
    end = max(m.ended_at or 0.0 for m in burst.members)
    slots = {m.slot for m in burst.members}
    failed = [a for a in obs.failed_attempts if a.slot in slots and end <= a.at <= end + 60]
    if not failed:
        return None
    after = [c for c in obs.connections if c.slot in slots and c.opened_at > end]
    waits = [c.reconnect_s for c in after if c.reconnect_s is not None and c.attempts > 1]
    return max(waits) if waits else max(a.at for a in failed) - end


def _configured(path: PathContext, seconds: float, lifetime: bool = False
                ) -> list[ConfiguredTimeout]:
    scope = "lifetime" if lifetime else "idle"
    return [t for t in path.timeouts if t.scope == scope and same_duration(t.seconds, seconds)]


def _names(entries: Sequence[IdleTimeoutDefault], silent: bool = False) -> list[str]:
    return list(dict.fromkeys(f"{e.component} {e.setting}" for e in entries
                              if e.silent or not silent))


def _timeout_cause(kind: CauseKind, seconds: float, d: ConnectionRecord, path: PathContext,
                   once: bool = False) -> Cause:
    lifetime = kind == "lifetime_timeout"
    configured = _configured(path, seconds, lifetime)
    kinds = (TimeoutKind.PER_REQUEST, TimeoutKind.LIFETIME) if lifetime else MEASURABLE_KINDS
    defaults = match_idle_timeout(seconds, kinds=kinds, table=IDLE_TIMEOUT_DEFAULTS)
    names = [t.describe() for t in configured] or _names(defaults)
    who = "the application" if d.ending == "close_frame" else "a proxy"
    what = f"after {seconds:.1f} s {'of age, traffic or not' if lifetime else 'quiet'}"
    known = f" ({', '.join(names)})" if names else ""
    again = " (seen once so far; it matches a known timeout)" if once else ""
    return Cause(kind=kind, evidence="pattern", seconds=round(seconds, 3),
                 summary=f"closed by {who} {what}{known}{again}",
                 resource=configured[0].resource if configured else None,
                 components=tuple(names))
