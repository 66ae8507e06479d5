"""What a load run observed, as the report keeps it: the plan, the ramp over time, k6-like
timing percentiles, the causes of every failed or refused attempt (with the first one's
answer quoted), the spread over replicas and addresses, and the client's own cost."""

from __future__ import annotations

from typing import Literal

from wsdoctor.checks.base import Observation
from wsdoctor.checks.handshake import HandshakeAttempt
from wsdoctor.modelbase import Field
from wsdoctor.models import Model
from wsdoctor.settings import LoadPlan

CauseKind = Literal["refusal", "drop", "client"]
"""``refusal``: the target did not give (or keep past the first second) a connection;
``drop``: a held connection ended before wsdoctor closed it; ``client``: this machine's
limit (open files, local ports) stopped the attempt, not the target."""

StopReason = Literal["completed", "steady_refusals", "interrupted", "client_limit"]


class Distribution(Model):
    """Summary of a set of durations in seconds, as k6 prints them."""

    count: int
    min: float
    avg: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float


class RampPoint(Model):
    """The state of the run at one moment (seconds since the start)."""

    t: float
    attempted: int
    open: int
    refused: int
    """Attempts refused so far (every cause of kind ``refusal``)."""
    dropped: int = 0


class LoadCause(Model):
    """One reason attempts gave no connection (or lost it), counted, with its first instance
    described as the target answered it."""

    cause: str
    """``HTTP 503``, ``closed after the upgrade: 1013 server at capacity``, ``no response
    within 5 s``, ``too many open files (client)``..."""
    kind: CauseKind
    count: int
    first_attempt: int
    """1-based number of the first attempt with this cause."""
    open_at_first: int
    """Connections open (held) when it first happened: where refusals started."""
    first_at_s: float
    address: str
    replica: str | None = None
    """The replica that answered, when its response named one."""
    close_code: int | None = None
    close_reason: str | None = None
    response: HandshakeAttempt | None = None
    """The first such attempt's upgrade, as the handshake check records it: status line,
    headers (secrets redacted), start of the body, error."""


class Share(Model):
    """How many connections one replica (or address) took."""

    name: str
    upgraded: int = 0
    """Attempts that upgraded here (and were not closed at once)."""
    held: int = 0
    """Connections held here when the run ended (before wsdoctor closed them)."""
    refused: int = 0
    """Refusals that named this replica (closed after the upgrade) or came from this address."""


class ClientCost(Model):
    """What holding the connections cost this machine, and its limits."""

    fd_limit: int | None = None
    """The soft RLIMIT_NOFILE during the run (raised up to the hard limit)."""
    fd_limit_before: int | None = None
    fd_hard_limit: int | None = None
    fd_needed: int = 0
    """File descriptors the plan needs: one per connection and a reserve."""
    local_ports: int | None = None
    """Size of the local port range: connections to one address:port cannot exceed it."""
    rss_baseline_kib: int | None = None
    rss_peak_kib: int | None = None
    rss_per_connection_kib: float | None = None
    """Resident memory added per connection held at the peak (None: fewer than 100 held,
    too few to tell from the process's own allocations)."""
    cpu_ramp_s: float = 0.0
    wall_ramp_s: float = 0.0
    cpu_per_connection_ms: float | None = None
    """Process CPU time per attempt during the ramp."""
    cpu_hold_s: float = 0.0
    wall_hold_s: float = 0.0
    hold_cpu_percent: float | None = None
    """Process CPU while holding (100 = one core busy)."""
    loop_lag_max_ms: float = 0.0
    """Longest delay of the event loop: how late the client itself ran."""
    loop_lag_p99_ms: float = 0.0


class LoadObservation(Observation):
    """A bounded load run: the plan, what happened over time, and where refusals began."""

    check: Literal["load"] = "load"
    url: str
    plan: LoadPlan
    stopped: StopReason
    duration_s: float
    ramp_s: float
    attempted: int
    upgraded: int
    peak_open: int
    """Most connections held at once."""
    held_at_end: int
    """Connections still held when the run closed them."""
    refused: int
    dropped: int
    client_failed: int = 0
    refusals_started_at: int | None = None
    """Connections held when the first refusal came."""
    cap: int | None = None
    """Connections the target kept once refusals were steady (every attempt after the last
    one it took was refused), counted after the attempts in flight settled; None when it
    took every connection, or refused only now and then."""
    cap_cause: str | None = None
    """The cause of the refusal that began the final streak (one of ``causes``)."""
    intermittent: bool = False
    """Refusals came and went: attempts after a refusal upgraded again (a rate limit)."""
    connect: Distribution | None = None
    """TCP connect (through the proxy, if any)."""
    tls: Distribution | None = None
    upgrade: Distribution | None = None
    """From the upgrade request to the 101."""
    handshake: Distribution | None = None
    """From the start of an attempt to the 101 (k6's ws_connecting)."""
    session: Distribution | None = None
    """How long each connection was held."""
    messages_sent: int = 0
    messages_received: int = 0
    echoes: int = 0
    round_trip: Distribution | None = None
    """Message round trips (an echoed message), under load."""
    causes: list[LoadCause] = Field(default_factory=list)
    replica_source: str | None = None
    """Where the replica names come from: a response header, or ``first message``."""
    replicas: list[Share] = Field(default_factory=list)
    addresses: list[Share] = Field(default_factory=list)
    ramp: list[RampPoint] = Field(default_factory=list)
    client: ClientCost = Field(default_factory=ClientCost)

    @property
    def connected_none(self) -> bool:
        """Not one attempt gave a connection: every one was refused."""
        return self.upgraded == 0 and self.peak_open == 0 and self.refused > 0

    def of_kind(self, kind: CauseKind) -> list[LoadCause]:
        """The causes of one kind, most frequent first."""
        return sorted((c for c in self.causes if c.kind == kind), key=lambda c: -c.count)

    def cause_named(self, cause: str | None) -> LoadCause | None:
        """The cause with this text, if any."""
        return next((c for c in self.causes if c.cause == cause), None)
