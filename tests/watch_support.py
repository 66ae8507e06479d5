"""Plain watch observations for the watch's unit tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wsdoctor.watch.model import (
    ClusterEvent,
    ConnectionRecord,
    FailedAttempt,
    WatchObservation,
    WatchOptions,
)

START = datetime(2026, 1, 1, tzinfo=UTC)


def conn(id: int, opened: float, ended: float | None = None, *, slot: int | None = None,
         replica: str | None = "r1", ending: str = "fin", traffic: float | None = None,
         address: str = "127.0.0.1:443", **extra: Any) -> ConnectionRecord:
    """A connection record; ``traffic`` is its last frame (default: none since the 101)."""
    return ConnectionRecord(
        id=id, slot=id - 1 if slot is None else slot, address=address, replica=replica,
        opened_at=opened, ended_at=ended, ending=ending if ended is not None else None,
        last_traffic_at=opened if traffic is None else traffic, **extra)


def watch(*connections: ConnectionRecord, events: tuple[ClusterEvent, ...] = (),
          attempts: tuple[FailedAttempt, ...] = (), heartbeat: float | None = None
          ) -> WatchObservation:
    return WatchObservation(
        started_at=START, duration_s=600.0, options=WatchOptions(heartbeat=heartbeat),
        connections=list(connections), events=list(events), failed_attempts=list(attempts),
        failed_attempts_total=len(attempts), cluster="watched" if events else "off")
