"""What every cluster rule shares: its signature, options, and the value parsers that say
what a controller will (and will not) accept."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from wsdoctor.kube.snapshot import ClusterSnapshot
from wsdoctor.models import Finding
from wsdoctor.records import dataclass

#: Check id of every cluster finding, live (``wsdoctor HOST``) or offline (``wsdoctor lint``).
CHECK_ID = "cluster"

DEFAULT_EXPECT_IDLE = 300.0
DEFAULT_EXPECT_CONNECTIONS = 1000


@dataclass(frozen=True)
class RuleOptions:
    """Choices that shape the rules (hashable: facts derived from them are memoised)."""

    expect_idle: float = DEFAULT_EXPECT_IDLE
    """Seconds a WebSocket may stay silent; configured idle timeouts below it are flagged."""
    expect_connections: int = DEFAULT_EXPECT_CONNECTIONS
    """Concurrent WebSockets one controller replica should hold."""
    websocket_routes: tuple[str, ...] = ()
    """Routes the user says carry WebSockets (``[KIND/][NAMESPACE/]NAME``)."""
    all_routes: bool = False
    """Judge every route as a WebSocket route."""
    serving: tuple[str, str, str, str] | None = None
    """Live: (kind, namespace, name, path) of the route rule that serves the target; it is
    the WebSocket route, whatever the evidence."""


ClusterRule = Callable[[ClusterSnapshot, RuleOptions], Iterator[Finding]]

_UNITLESS = re.compile(r"^\d+$")
_GO_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns))+$")
_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_HAPROXY_TIME = re.compile(r"^(\d+)(us|ms|s|m|h|d)?$")
_HAPROXY_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_unitless_seconds(text: str) -> int | None:
    """ingress-nginx timeouts: a bare integer of seconds ("3600"); "3600s" is rejected."""
    text = text.strip()
    return int(text) if _UNITLESS.match(text) else None


def parse_go_duration(text: str) -> float | None:
    """Go/protobuf durations (Istio, Gateway API, Traefik): "1h", "90s", "1m30s", "0s"."""
    text = text.strip()
    if text == "0":
        return 0.0
    if not _GO_DURATION.match(text):
        return None
    return sum(float(n) * _GO_UNITS[u] for n, u in _GO_PART.findall(text))


def parse_haproxy_time(text: str) -> float | None:
    """HAProxy time values: milliseconds by default, or with a unit ("1h", "3600s")."""
    match = _HAPROXY_TIME.match(text.strip())
    if not match:
        return None
    return int(match.group(1)) * _HAPROXY_UNITS[match.group(2) or "ms"]


def human_seconds(seconds: float) -> str:
    """``60 s``, ``1 h``, ``90 s``, ``4 min``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0 and seconds < 3600:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
