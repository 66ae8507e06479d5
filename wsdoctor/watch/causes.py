"""The vocabulary of the watch's attribution: causes, the facts of the path they are named
with, drops cut at the same moment (bursts), and indexes over an observation that keep the
attribution O(n log n) for tens of thousands of drops. Pure."""

from __future__ import annotations

import bisect
from dataclasses import field
from typing import TYPE_CHECKING, Literal

from wsdoctor.models import Resource
from wsdoctor.records import dataclass
from wsdoctor.watch.model import ConnectionRecord, FailedAttempt, WatchObservation

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


class Timeline:
    """Lookups over one observation, built once per attribution."""

    def __init__(self, obs: WatchObservation) -> None:
        self.obs = obs
        self.slots: dict[int, list[ConnectionRecord]] = {}
        for record in sorted(obs.connections, key=lambda c: c.opened_at):
            self.slots.setdefault(record.slot, []).append(record)
        self._opened = {slot: [c.opened_at for c in rows] for slot, rows in self.slots.items()}
        self.failed: dict[int, list[FailedAttempt]] = {}
        for attempt in sorted(obs.failed_attempts, key=lambda a: a.at):
            self.failed.setdefault(attempt.slot, []).append(attempt)

    def next_opened(self, slot: int, after: float) -> ConnectionRecord | None:
        """The first connection of ``slot`` opened after ``after`` (its reconnect)."""
        rows = self.slots.get(slot, [])
        index = bisect.bisect_right(self._opened.get(slot, []), after)
        return rows[index] if index < len(rows) else None

    def failed_between(self, slot: int, start: float, end: float) -> list[FailedAttempt]:
        """Failed attempts of ``slot`` in [start, end]."""
        rows = self.failed.get(slot, [])
        times = [a.at for a in rows]
        return rows[bisect.bisect_left(times, start):bisect.bisect_right(times, end)]
