"""Reconnects that failed during a watch, led by the drop that set them off: after a pod
terminated, the finding about the refused reconnects names that pod and the finding about
its drops (the root cause), which in turn says that its reconnects failed."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.checks.base import Code
from wsdoctor.models import EvidenceValue, Finding, Fix, Resource, Status
from wsdoctor.records import dataclass
from wsdoctor.watch.attribution import PathContext
from wsdoctor.watch.causes import Cause
from wsdoctor.watch.model import ConnectionRecord, WatchObservation

RECONNECT = Code("WSD-WATCH-RECONNECT-FAILED", Status.FAIL, "Reconnects failed")


def connection_ids(drops: list[ConnectionRecord]) -> str:
    """``#1, #2 and 3 more``."""
    shown = ", ".join(f"#{d.id}" for d in drops[:12])
    return shown + (f" and {len(drops) - 12} more" if len(drops) > 12 else "")


def attempt_evidence(obs: WatchObservation) -> dict[str, EvidenceValue]:
    """The failed attempts' count and the last one's outcome, for a finding's evidence."""
    last = obs.failed_attempts[-1] if obs.failed_attempts else None
    return {"failed_attempts": obs.failed_attempts_total,
            "last_outcome": last.outcome if last else None,
            "last_status": last.status_code if last else None,
            "last_error": last.error if last else None}


POD_KINDS = ("pod_terminated", "pod_restarted")


@dataclass(frozen=True)
class RootCause:
    """The drop cause behind failed reconnects, for the reconnect finding to lead with."""

    kind: str
    phrase: str
    """``Pod chat/chat-a terminated``."""
    code: str
    drops: list[ConnectionRecord]
    attempts: int


def failed_after(obs: WatchObservation) -> dict[int, int]:
    """Drops whose reconnect failed: drop id → failed attempts on its slot after it ended
    (and before the slot's next drop)."""
    by_slot: dict[int, list[ConnectionRecord]] = {}
    for drop in obs.drops():
        by_slot.setdefault(drop.slot, []).append(drop)
    out: dict[int, int] = {}
    for attempt in obs.failed_attempts:
        before = [d for d in by_slot.get(attempt.slot, []) if (d.ended_at or 0.0) <= attempt.at]
        if before:
            last = max(before, key=lambda d: d.ended_at or 0.0)
            out[last.id] = out.get(last.id, 0) + 1
    return out


def root_phrase(kind: str, cause: Cause, drop: ConnectionRecord,
                 path: PathContext) -> str | None:
    """What happened, as the cause of the reconnect failures after it; None for a cause that
    does not explain them (a timeout or the application closing cuts, it does not refuse)."""
    if kind in POD_KINDS and cause.resource is not None:
        return f"{cause.resource} {'restarted' if kind == 'pod_restarted' else 'terminated'}"
    if kind in ("proxy_reload", "proxy_restart"):
        return f"{path.controller or 'the proxy'} " \
            f"{'reloaded' if kind == 'proxy_reload' else 'restarted'}"
    if kind == "replica" and drop.replica:
        return f"replica {drop.replica} went away"
    return None


def reconnect_findings(obs: WatchObservation, url: Resource,
                        root: RootCause | None = None) -> Iterator[Finding]:
    """WSD-WATCH-RECONNECT-FAILED when upgrade attempts failed, led by ``root`` when a drop
    cause (a pod ending, a reload) set them off."""
    if not obs.failed_attempts_total:
        return
    slow = [c for c in obs.connections if c.attempts > 1]
    longest = max((c.reconnect_s or 0.0 for c in slow), default=None)
    took = f"the longest reconnect took {longest:.1f} s" if longest is not None else \
        "no reconnect after a failed attempt succeeded"
    last = obs.failed_attempts[-1] if obs.failed_attempts else None
    open_now = [c for c in obs.connections if c.ended_at is None]
    still = len(open_now) < obs.options.connections and last is not None and \
        last.at >= obs.duration_s - 2 * obs.options.backoff_max
    what = f"HTTP {last.status_code}" if last and last.status_code else \
        (last.outcome if last else "")
    lead = f"After {root.phrase} ({root.code}), the reconnects of " \
        f"{connection_ids(root.drops)} failed: " if root is not None else ""
    evidence: dict[str, EvidenceValue] = {**attempt_evidence(obs),
                                          "longest_reconnect_s": longest}
    if root is not None:
        evidence["root_cause"] = root.code
    yield RECONNECT.finding(
        "watch", f"{lead}{obs.failed_attempts_total} upgrade attempts failed (last: {what}"
        f"{': ' + last.error if last and last.error else ''}); {took}"
        + ("; reconnects were still failing when the watch ended." if still else "."),
        resource=url, evidence=evidence,
        title=f"{obs.failed_attempts_total} reconnect attempt"
        f"{'s' if obs.failed_attempts_total != 1 else ''} failed"
        + (f" after {root.phrase}" if root is not None else "")
        + (" (still failing at the end)" if still else
           f"; the longest took {longest:.1f} s" if longest is not None else ""),
        fix=Fix(summary="Reconnects must find a ready replica at once: keep capacity during "
                "rollouts (maxUnavailable: 0), readiness probes that pass only when the app "
                "accepts WebSockets, and client backoff with jitter."))
