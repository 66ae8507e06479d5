"""The schema of the exporter's YAML file: pydantic models strict about unknown keys (a typo is
an error), Prometheus-style durations, and the built-in modules."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from wsdoctor.durations import EXAMPLES
from wsdoctor.durations import parse_duration as parse_duration_text
from wsdoctor.exporter import DEFAULT_LISTEN as DEFAULT_LISTEN  # re-exported
from wsdoctor.exporter import DEFAULT_PORT as DEFAULT_PORT


def parse_duration(value: object) -> object:
    """Seconds from a number or a duration as on the command line (``500ms``, ``1h30m``)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration ({EXAMPLES})")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return parse_duration_text(value)
    raise ValueError(f"{value!r} is not a duration ({EXAMPLES})")


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0, allow_inf_nan=False)]


class _Raw(BaseModel):
    """Base of the file's models: strict about unknown keys, so typos are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Expectations(_Raw):
    """What the operator expects: handed to the checks (a shorter idle timeout, or no
    affinity, is then a failing finding) and exported as gauges so alerts can compare."""

    idle_timeout: Duration | None = None
    """The idle timeout the path should allow (e.g. 1h after raising proxy-read-timeout);
    wsdoctor's ``--expect-idle``."""
    affinity: bool | None = None
    """Whether reconnects must reach the same replica; wsdoctor's ``--expect-affinity``."""


class WatchConfig(_Raw):
    """Hold connections instead of probing on an interval (the watch module): drops are
    counted by cause (``wsdoctor watch``'s attribution)."""

    connections: int = Field(default=4, ge=1, le=10_000)
    """Connections held at once, spread over the addresses."""
    heartbeat: Duration | None = None
    """Ping every N seconds like the application's clients (omitted: no heartbeat)."""
    echo: Duration | None = 300.0
    """Without a heartbeat, ping after N quiet seconds to find silent drops (null: never)."""
    pong_timeout: Duration = 5.0
    """A ping unanswered this long is a silent drop."""
    backoff: Duration = 0.5
    """First wait before reconnecting (doubled after each failure, up to 30 s)."""


class ModuleConfig(_Raw):
    """How to probe: which checks, how long at most, and the run settings."""

    checks: list[str] | None = None
    """Checks to run (and what they need); omitted: wsdoctor's default checks (as
    ``wsdoctor TARGET`` runs them)."""
    skip: list[str] = Field(default_factory=list)
    """Checks not to run."""
    time_limit: Duration = 30.0
    """Time limit of one whole run of a target; past it the run is cut and counts as failed."""
    long: bool | None = None
    """Runs of this module take long (idle waits up to its cap): they run in a pool of their
    own so they never hold up quick probes. Omitted: true when the checks include idle,
    keepalive or capture."""
    fail_on: Literal["warn", "fail"] = "fail"
    """probe_success is 0 when a finding is at least this severe."""
    expect: Expectations = Field(default_factory=Expectations)
    """Default expectations of targets probed with this module."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """Any run setting of wsdoctor (timeout, cafile, insecure, pings, message_size, ...)."""
    watch: WatchConfig | None = None
    """Hold connections for as long as the exporter runs and export drops by cause, instead
    of probing on the interval (``checks`` and ``time_limit`` then do not apply)."""


class TargetConfig(_Raw):
    """One endpoint to watch."""

    name: str
    """Value of the ``target`` label and the name in /reports/NAME."""
    url: str
    """The WebSocket URL, as on the command line."""
    module: str = "quick"
    interval: Duration | None = None
    """How often to probe; omitted: the file's ``interval``."""
    address: str | None = None
    """Connect to this address instead of resolving the host (SNI and Host stay the name)."""
    resolve: list[str] = Field(default_factory=list)
    """Pins like curl's ``--resolve HOST:PORT:ADDR``."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra request headers (values may use ``${ENV}``; they never appear in reports)."""
    origin: str | None = None
    subprotocols: list[str] = Field(default_factory=list)
    expect: Expectations | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    """Extra labels on this target's metrics."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """Run settings that override the module's for this target."""


class ConfigFile(_Raw):
    """The whole file."""

    listen: str | None = None
    """Address to listen on (``HOST:PORT`` or ``:PORT``); ``--listen`` overrides it."""
    interval: Duration = 30.0
    jitter: float = Field(default=0.1, ge=0, le=1)
    """Each run starts up to this fraction of the interval late, at random, so that targets do
    not all probe in the same second."""
    concurrency: int = Field(default=10, ge=1, le=10_000)
    """Quick runs (scheduled and /probe each) at the same time."""
    long_concurrency: int = Field(default=4, ge=1, le=10_000)
    """Runs of long modules at the same time, in a pool of their own."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels added to every metric (``node: ${NODE_NAME}`` in a DaemonSet)."""
    modules: dict[str, ModuleConfig] = Field(default_factory=dict)
    targets: list[TargetConfig] = Field(default_factory=list)


QUICK_CHECKS = ["dns", "tcp", "tls", "http", "handshake", "messages"]
#: Checks that hold a connection silent for up to a cap: their runs go to the long pool.
LONG_CHECKS = frozenset({"idle", "keepalive", "capture"})

BUILTIN_MODULES: dict[str, ModuleConfig] = {
    "quick": ModuleConfig(checks=QUICK_CHECKS, time_limit=30.0),
    "full": ModuleConfig(
        checks=[*QUICK_CHECKS, "idle", "affinity"],
        time_limit=300.0,
        long=True,
        settings={"idle_max": 120.0},
    ),
    "tcp": ModuleConfig(checks=["dns", "tcp"], time_limit=10.0),
    "watch": ModuleConfig(checks=["handshake"], watch=WatchConfig()),
}
"""``quick``: dns, tcp, tls, http, handshake, messages. ``full``: those plus the idle timeout
(waiting up to 120 s, which covers the 60 s and 100 s defaults of common proxies) and
affinity. ``tcp``: the name and a TCP connect, nothing more. ``watch``: hold 4 connections and
count their drops by cause. A module of the same name in the file replaces a built-in one."""

BLACKBOX_MODULES: dict[str, str] = {"http_2xx": "quick", "tcp_connect": "tcp"}
"""blackbox_exporter's module names that mean the same for a WebSocket endpoint, and the
module each stands for: ``http_2xx`` (an HTTP request that must succeed) is ``quick`` (the
upgrade and messages must work); ``tcp_connect`` (a TCP connect) is ``tcp``. A module of the
same name in the file wins over the alias."""

BLACKBOX_UNMAPPED = frozenset({
    "http_post_2xx", "pop3s_banner", "ssh_banner", "irc_banner", "grpc", "grpc_plain", "icmp",
    "icmp_ttl5", "dns_udp", "dns_tcp",
})
"""blackbox_exporter's other example modules: no WebSocket meaning, refused by name."""
