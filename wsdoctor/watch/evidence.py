"""The cluster's evidence for a drop: its pod terminating (deleted, evicted, its endpoint
removed, its container restarted) within seconds of it, or a proxy cut after a change that
makes the ingress controller reload (an Ingress, its ConfigMap). Pure; the events are indexed
by time once, so each drop looks only at the events near it."""

from __future__ import annotations

import bisect

from wsdoctor.models import Resource
from wsdoctor.watch.causes import (
    POD_GRACE_DEFAULT_S,
    POD_LEAD_S,
    POD_MARGIN_S,
    RELOAD_MARGIN_S,
    TRIGGER_LOOKBACK_S,
    Burst,
    Cause,
    CauseKind,
    PathContext,
    same_duration,
)
from wsdoctor.watch.model import ClusterEvent, ConnectionRecord, WatchObservation

_POD_ENDS = frozenset({"terminating", "deleted", "endpoint_removed", "endpoint_not_ready",
                       "restarted"})
_POD_EVENT_REASONS = frozenset({"Killing", "Evicted", "Preempted", "Preempting",
                                "TaintManagerEviction", "NodeNotReady", "OOMKilling",
                                "BackOff", "Unhealthy"})
_RELOADERS = frozenset({"Ingress", "ConfigMap", "HTTPRoute", "IngressRoute", "Gateway",
                        "VirtualService", "Middleware"})
_TRIGGERS = {"ScalingReplicaSet": "scaled", "SuccessfulRescale": "autoscaled",
             "Evicted": "evicted", "Preempted": "preempted", "TaintManagerEviction": "evicted"}
_WORKLOADS = ("Deployment", "StatefulSet", "ReplicaSet", "HorizontalPodAutoscaler")


def _pod_ending(event: ClusterEvent) -> bool:
    if event.change in _POD_ENDS and event.pods:
        return True
    return event.change == "event" and event.reason in _POD_EVENT_REASONS and bool(event.pods)


def _reload_change(event: ClusterEvent) -> bool:
    return (event.kind in _RELOADERS and event.change in ("modified", "added", "deleted")) \
        or event.reason == "RELOAD"


class ClusterEvidence:
    """The events of one observation, indexed by time, and the cause they give a drop."""

    def __init__(self, obs: WatchObservation, path: PathContext) -> None:
        self.obs = obs
        self.path = path
        ordered = sorted(obs.events, key=lambda e: e.at)
        self.events = ordered
        self.times = [e.at for e in ordered]
        self.pod_events = [e for e in ordered if _pod_ending(e)]
        self.pod_times = [e.at for e in self.pod_events]
        self.longest = max((self._grace(e) for e in self.pod_events), default=0.0) + \
            POD_MARGIN_S
        self.changes = [e for e in ordered if _reload_change(e)]
        self.change_times = [e.at for e in self.changes]

    def _grace(self, event: ClusterEvent) -> float:
        if event.grace_s is not None:
            return event.grace_s
        facts = self.path.pods.get(event.pods[0]) if event.pods else None
        return facts.grace_s if facts is not None else POD_GRACE_DEFAULT_S

    def cause(self, d: ConnectionRecord, burst: Burst | None) -> Cause | None:
        """The cluster's explanation of one drop, or None."""
        end = d.ended_at or 0.0
        lo = bisect.bisect_left(self.pod_times, end - self.longest)
        hi = bisect.bisect_right(self.pod_times, end + POD_LEAD_S)
        candidates = [e for e in self.pod_events[lo:hi]
                      if e.at - POD_LEAD_S <= end <= e.at + self._grace(e) + POD_MARGIN_S]
        if d.replica is not None:
            candidates = [e for e in candidates if d.replica in e.pods]
        elif len({p for e in candidates for p in e.pods}) != 1:
            candidates = []  # the replica is unknown: only a lone pod ending is evidence
        if candidates:
            return self._pod_cause(d, candidates, burst)
        if d.ending in ("fin", "reset") or (d.ending == "close_frame" and d.close_code == 1006):
            return self._reload_cause(d, burst)
        return None

    def _pod_cause(self, d: ConnectionRecord, events: list[ClusterEvent],
                   burst: Burst | None) -> Cause:
        first = events[0]
        pod = next(p for p in first.pods if d.replica in (None, p))
        seen = "; ".join(dict.fromkeys(f"{e.ref}: {e.detail}" for e in events))
        delay = (d.ended_at or 0.0) - first.at
        when = f"{abs(delay):.1f} s {'after' if delay >= 0 else 'before wsdoctor heard that'}"
        restarted = all(e.change == "restarted" for e in events)
        kind: CauseKind = "pod_restarted" if restarted else "pod_terminated"
        unknown = "" if d.replica else \
            " (the application names no replica: the only pod ending then)"
        return Cause(
            kind=kind, evidence="cluster",
            summary=f"Pod {first.namespace}/{pod} {'restarted' if restarted else 'terminated'}"
            f": dropped {when} ({seen}){unknown}",
            resource=Resource(kind="Pod", namespace=first.namespace, name=pod),
            seconds=round(delay, 3), trigger=self._trigger(first),
            together=tuple(m.id for m in burst.members) if burst else (d.id,),
        )

    def _trigger(self, event: ClusterEvent) -> str | None:
        """The rollout, scale-down or eviction behind a pod's end, when the cluster showed
        one (the latest before it)."""
        lo = bisect.bisect_left(self.times, event.at - TRIGGER_LOOKBACK_S)
        hi = bisect.bisect_right(self.times, event.at + 1.0)
        for other in reversed(self.events[lo:hi]):
            if other.reason in _TRIGGERS and (other.kind != "Pod" or event.pods[0] in
                                              other.pods):
                return f"{other.ref} {_TRIGGERS[other.reason]}: {other.detail}"
            if other.kind in _WORKLOADS and other.change in ("modified", "scaled"):
                return f"{other.ref} {other.change}: {other.detail}"
        return None

    def _reload_cause(self, d: ConnectionRecord, burst: Burst | None) -> Cause | None:
        """A proxy cut after a change that makes the controller reload."""
        path = self.path
        end = d.ended_at or 0.0
        window = (path.shutdown_s or 0.0) + RELOAD_MARGIN_S
        lo = bisect.bisect_left(self.change_times, end - window)
        hi = bisect.bisect_right(self.change_times, end + 1.0)
        changes = self.changes[lo:hi]
        if not changes:
            return None
        if burst is None and len(self.obs.open_at(end - 0.001)) > 1:
            return None  # a reload cuts every connection of the old worker, not one of several
        if path.shutdown_s is not None:
            changes = [e for e in changes if same_duration(end - e.at, path.shutdown_s)] \
                or changes
        change = min(changes, key=lambda e: abs(end - e.at - (path.shutdown_s or 0.0)))
        delay = end - change.at
        setting = f" ({path.shutdown_setting})" if path.shutdown_setting and path.shutdown_s \
            is not None and same_duration(delay, path.shutdown_s) else ""
        who = path.controller or "the proxy"
        return Cause(
            kind="proxy_reload", evidence="cluster",
            summary=f"{who} reloaded after {change.ref} {change.detail}; the old "
            f"configuration's connections were cut {delay:.1f} s later{setting}",
            resource=Resource(kind=change.kind, namespace=change.namespace, name=change.name),
            seconds=round(delay, 3), trigger=f"{change.ref} {change.detail}",
            together=tuple(m.id for m in burst.members) if burst else (d.id,),
        )
