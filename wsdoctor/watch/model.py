"""What ``wsdoctor watch`` observed: every connection it held (how and when it ended, on which
replica and address), every failed reconnect attempt, and every change the cluster showed.

Times are seconds since the watch started (``started_at``), from a monotonic clock, so that a
drop and a cluster event can be compared to the millisecond whatever the wall clock does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from wsdoctor.checks.base import Observation
from wsdoctor.modelbase import Field
from wsdoctor.models import Model

Ending = Literal["close_frame", "fin", "reset", "silent"]
"""How a connection ended: a close frame (code, reason), a TCP FIN without one, a reset, or
silence (a ping went unanswered for the pong timeout: the path dropped the flow)."""

ClusterChange = Literal[
    "terminating", "deleted", "added", "restarted", "endpoint_removed", "endpoint_not_ready",
    "endpoint_added", "scaled", "modified", "event",
]


class WatchOptions(Model):
    """How the connections are held (``wsdoctor watch`` options, the exporter's watch module)."""

    connections: int = Field(default=4, ge=1, le=10_000)
    """Connections held at the same time, spread over the addresses reached."""
    duration: float | None = Field(default=3600.0, gt=0)
    """How long to watch, in seconds; None: until interrupted."""
    heartbeat: float | None = Field(default=None, gt=0)
    """Client pings every N seconds, as the application's clients do (None: no heartbeat, so
    idle timeouts show). Every heartbeat must be answered within ``pong_timeout``."""
    echo: float | None = Field(default=300.0, gt=0)
    """A ping after this many quiet seconds, to find connections that died silently (None:
    never; a silent drop then goes unseen). It is traffic: longer idle timeouts cannot show."""
    pong_timeout: float = Field(default=5.0, gt=0)
    """A ping unanswered this long means the connection is dead (a silent drop)."""
    open_interval: float = Field(default=0.5, ge=0)
    """Seconds between opening the first connections, so that they have different ages (a
    timeout then cuts them one by one, a reload all at once)."""
    backoff_initial: float = Field(default=0.5, ge=0)
    """Wait before reconnecting after a drop; doubled after each failed attempt."""
    backoff_max: float = Field(default=30.0, gt=0)


class ConnectionRecord(Model):
    """One held connection, from its 101 to its end (or to the end of the watch)."""

    id: int
    """1, 2, 3... in the order the connections opened."""
    slot: int
    """Which of the held connections this is (a reconnect takes the slot of the drop)."""
    address: str
    """``addr:port`` it was opened to."""
    replica: str | None = None
    """The replica that served it (response header such as X-Pod-Name, or a first message)."""
    opened_at: float
    upgrade_s: float | None = None
    """From sending the upgrade request to the 101."""
    reconnect_s: float | None = None
    """For a reconnect: from the drop it replaces to this 101 (backoff and failures included)."""
    attempts: int = 1
    """Upgrade attempts it took (failed ones and this one)."""
    ended_at: float | None = None
    """None: still open (or open when the watch ended)."""
    ending: Ending | None = None
    close_code: int | None = None
    close_reason: str | None = None
    last_traffic_at: float | None = None
    """The last frame sent or received before the end (the start of its quiet time; a ping
    still waiting for its pong at the end does not count)."""
    last_alive_at: float | None = None
    """The last proof of life received (pong, message, server ping)."""
    pending_ping_at: float | None = None
    """When the ping that was still waiting for its pong at the end was sent (for a silent
    end: the flow died between ``last_alive_at`` and this)."""
    pings_sent: int = 0
    pongs: int = 0
    server_pings: int = 0
    messages: int = 0

    @property
    def dropped(self) -> bool:
        """Whether the connection ended before the watch did."""
        return self.ended_at is not None

    @property
    def age_s(self) -> float | None:
        """Seconds from the 101 to the end."""
        return None if self.ended_at is None else self.ended_at - self.opened_at

    @property
    def quiet_s(self) -> float | None:
        """Seconds without any frame either way before the end."""
        if self.ended_at is None:
            return None
        return self.ended_at - (self.last_traffic_at if self.last_traffic_at is not None
                                else self.opened_at)

    def how(self) -> str:
        """``close frame 1001 'going away'``, ``FIN without a close frame``..."""
        if self.ending == "close_frame":
            reason = f" {self.close_reason!r}" if self.close_reason else ""
            return f"close frame {self.close_code}{reason}"
        return {
            "fin": "FIN without a close frame",
            "reset": "reset (RST)",
            "silent": "silent: a ping went unanswered",
            None: "open",
        }[self.ending]


class FailedAttempt(Model):
    """An upgrade attempt that gave no connection (a reconnect that failed)."""

    slot: int
    at: float
    address: str
    outcome: str
    """``connect_failed``, ``refused`` (a status other than 101), ``timeout``..."""
    status_code: int | None = None
    error: str | None = None


class ClusterEvent(Model):
    """One change seen on a watch stream of the cluster, when wsdoctor received it."""

    at: float
    kind: str
    namespace: str | None = None
    name: str
    change: ClusterChange
    detail: str
    """One line: ``deletionTimestamp set (grace 30 s)``, ``endpoint 10.1.0.11 removed``."""
    pods: list[str] = Field(default_factory=list)
    """Pods the change concerns (the pod itself, an endpoint's target, an Event's object)."""
    reason: str | None = None
    """The reason of an Event (Killing, Evicted, ScalingReplicaSet, RELOAD...)."""
    grace_s: float | None = None
    """A terminating pod's grace period."""

    @property
    def ref(self) -> str:
        """``Pod chat/chat-5f7d-aaaaa``, as kubectl names objects."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


ClusterState = Literal["watched", "unavailable", "off"]


class WatchObservation(Observation):
    """Every connection held, every failed attempt and every cluster change, as they happened.

    Written while the watch runs: ``finished`` is false in a report saved mid-run."""

    check: Literal["watch"] = "watch"
    started_at: datetime
    """Wall-clock time of t = 0."""
    duration_s: float
    """How long the watch has run so far."""
    finished: bool = False
    interrupted: bool = False
    """Ended by Ctrl-C or SIGTERM before its duration."""
    options: WatchOptions
    addresses: list[str] = Field(default_factory=list)
    """``addr:port`` the connections were spread over."""
    cluster: ClusterState = "off"
    cluster_note: str | None = None
    """Why the cluster is not watched, or what is (``Pods, EndpointSlices... in chat``)."""
    watched: list[str] = Field(default_factory=list)
    """The watch streams opened: ``Pods in chat (app=chat)``..."""
    unwatched: list[str] = Field(default_factory=list)
    """Streams that could not be opened or were refused later, and why (RBAC...)."""
    connections: list[ConnectionRecord] = Field(default_factory=list)
    omitted_connections: int = 0
    """Ended connections left out to bound the report (the oldest first); counted here."""
    failed_attempts: list[FailedAttempt] = Field(default_factory=list)
    failed_attempts_total: int = 0
    events: list[ClusterEvent] = Field(default_factory=list)
    omitted_events: int = 0

    def drops(self) -> list[ConnectionRecord]:
        """Connections that ended before the watch did, in the order they ended."""
        ended = [c for c in self.connections if c.ended_at is not None]
        return sorted(ended, key=lambda c: (c.ended_at or 0.0, c.id))

    def open_at(self, t: float) -> list[ConnectionRecord]:
        """Connections open at time ``t``."""
        return [c for c in self.connections if c.opened_at <= t
                and (c.ended_at is None or c.ended_at >= t)]

    def replicas(self) -> list[str]:
        """Replicas that served a connection, in the order first seen."""
        return list(dict.fromkeys(c.replica for c in self.connections if c.replica))
