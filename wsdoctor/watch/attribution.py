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
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from wsdoctor.knowledge import (
    IDLE_TIMEOUT_DEFAULTS,
    MEASURABLE_KINDS,
    IdleTimeoutDefault,
    TimeoutKind,
    match_idle_timeout,
)
from wsdoctor.models import Resource
from wsdoctor.watch.causes import (
    BURST_WINDOW_S,
    CAUSES,
    Burst,
    Cause,
    CauseKind,
    PathContext,
    PodFacts,
    Timeline,
    same_duration,
)
from wsdoctor.watch.evidence import ClusterEvidence
from wsdoctor.watch.model import ConnectionRecord, WatchObservation

if TYPE_CHECKING:
    from wsdoctor.kube.timeouts import ConfiguredTimeout

__all__ = ["CAUSES", "Cause", "CauseKind", "PathContext", "PodFacts", "attribute",
           "same_duration"]

Table = list[tuple[float, int, int]]
#: Drops of one group this far apart did not happen "at once" (an event cuts within
#: milliseconds); with equal ages they are each connection's own timer.
TIMER_SPREAD_S = 0.2


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
    together = {n: _together(group, obs) for n, group in members.items()}
    bursts = {n: None if burst is None or _timeout_like(burst, by_age, n) else burst
              for n, burst in together.items()}
    timeline = Timeline(obs)
    evidence = ClusterEvidence(obs, path) if obs.events else None
    causes: dict[int, Cause] = {}
    for d in drops:
        # The cluster's evidence sees every group cut at once as one event: connections that
        # reopened together after an earlier cut share an age, yet a reload cuts them too.
        cause = evidence.cause(d, together[groups[d.id]]) if evidence is not None else None
        causes[d.id] = cause or _pattern_cause(d, bursts[groups[d.id]], by_age, by_quiet,
                                               groups[d.id], timeline, path)
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


def _together(group: list[ConnectionRecord], obs: WatchObservation) -> Burst | None:
    """The group as connections cut at one moment (None for a single drop)."""
    if len(group) < 2:
        return None
    start = min(g.ended_at or 0.0 for g in group)
    ids = {g.id for g in group}
    survivors = tuple(c for c in obs.open_at(start - 0.001) if c.id not in ids
                      and (c.ended_at is None or c.ended_at > start + BURST_WINDOW_S))
    return Burst(members=tuple(sorted(group, key=lambda g: g.id)), survivors=survivors)


def _timeout_like(burst: Burst, by_age: Table, number: int) -> bool:
    """Whether the pattern should not take the group for an event: connections opened
    together that ended together at an age that recurs at other times (a timeout)."""
    ages = [g.age_s or 0.0 for g in burst.members]
    if not same_duration(min(ages), max(ages)):
        return False
    ends = [g.ended_at or 0.0 for g in burst.members]
    if max(ends) - min(ends) >= TIMER_SPREAD_S:
        return True  # each ended at its own age, as far apart as they opened: a timer each
    idle = all(same_duration(g.age_s or 0.0, g.quiet_s or 0.0) for g in burst.members)
    return _recurs(ages[0], by_age, number) or bool(idle and match_idle_timeout(ages[0]))


def _recurs(value: float, table: Table, group: int) -> bool:
    """Whether a drop outside ``group`` ended after the same duration."""
    tolerance = max(0.25, 0.01 * value)
    lo = bisect.bisect_left(table, (value - tolerance, -1, -1))
    hi = bisect.bisect_right(table, (value + tolerance, 1 << 62, 1 << 62))
    return any(table[i][1] != group for i in range(lo, hi))  # stops at the first: O(1)


# -- the pattern -------------------------------------------------------------------------

def _pattern_cause(d: ConnectionRecord, burst: Burst | None, by_age: Table, by_quiet: Table,
                   group: int, timeline: Timeline, path: PathContext) -> Cause:
    obs = timeline.obs
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
        return _burst_cause(d, burst, timeline)
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


def _burst_cause(d: ConnectionRecord, burst: Burst, timeline: Timeline) -> Cause:
    together = tuple(m.id for m in burst.members)
    how = ", ".join(sorted({m.how() for m in burst.members}))
    replicas = burst.replicas
    survivor_replicas = {s.replica for s in burst.survivors if s.replica}
    replica = next(iter(replicas)) if len(replicas) == 1 else None
    if replica is not None and all(m.replica for m in burst.members) and \
            replica not in survivor_replicas and \
            (survivor_replicas or not _came_back(burst, timeline, replica)):
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
    restart = _reconnects_failed(burst, timeline)
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


def _came_back(burst: Burst, timeline: Timeline, replica: str) -> bool:
    """Whether every slot of the burst reconnected at its first attempt to ``replica`` (it
    was still there: something in front of it cut the connections)."""
    end = max(m.ended_at or 0.0 for m in burst.members)
    for slot in {m.slot for m in burst.members}:
        first = timeline.next_opened(slot, end)
        if first is None or first.attempts > 1 or first.replica != replica:
            return False
    return True


def _reconnects_failed(burst: Burst, timeline: Timeline) -> float | None:
    """The longest wait for a reconnect after the burst, when attempts failed meanwhile.
    Only a slot's attempts before its reconnect count: a later drop's are that drop's."""
    end = max(m.ended_at or 0.0 for m in burst.members)
    slots = {m.slot for m in burst.members}
    after = [timeline.next_opened(slot, end) for slot in slots]
    failed = [a for slot, first in zip(slots, after, strict=True)
              for a in timeline.failed_between(
                  slot, end, first.opened_at if first is not None else end + 60)]
    if not failed:
        return None
    waits = [c.reconnect_s for c in after if c is not None and c.reconnect_s is not None
             and c.attempts > 1]
    return max(waits) if waits else max(a.at for a in failed) - end


def _configured(path: PathContext, seconds: float, lifetime: bool = False
                ) -> list[ConfiguredTimeout]:
    scope = "lifetime" if lifetime else "idle"
    return [t for t in path.timeouts if t.scope == scope and same_duration(t.seconds, seconds)]


def _names(entries: Sequence[IdleTimeoutDefault], silent: bool = False) -> list[str]:
    return list(dict.fromkeys(f"{e.component} {e.setting}" for e in entries
                              if e.silent or not silent))


@functools.lru_cache(maxsize=4096)
def _known(seconds: float, lifetime: bool) -> tuple[str, ...]:
    """The components whose default timeout this is (seconds rounded by the caller)."""
    kinds = (TimeoutKind.PER_REQUEST, TimeoutKind.LIFETIME) if lifetime else MEASURABLE_KINDS
    return tuple(_names(match_idle_timeout(seconds, kinds=kinds, table=IDLE_TIMEOUT_DEFAULTS)))


def _timeout_cause(kind: CauseKind, seconds: float, d: ConnectionRecord, path: PathContext,
                   once: bool = False) -> Cause:
    lifetime = kind == "lifetime_timeout"
    configured = _configured(path, seconds, lifetime) if path.timeouts else []
    names = [t.describe() for t in configured] or list(_known(round(seconds, 2), lifetime))
    who = "the application" if d.ending == "close_frame" else "a proxy"
    what = f"after {seconds:.1f} s {'of age, traffic or not' if lifetime else 'quiet'}"
    known = f" ({', '.join(names)})" if names else ""
    again = " (seen once so far; it matches a known timeout)" if once else ""
    return Cause(kind=kind, evidence="pattern", seconds=round(seconds, 3),
                 summary=f"closed by {who} {what}{known}{again}",
                 resource=configured[0].resource if configured else None,
                 components=tuple(names))
