"""The watch as text: one line per event while it runs (for a terminal, a log or ``tail -f``),
and the table of drops and cluster events under a saved report (``wsdoctor show``).

Whatever a server or a cluster sent (close reasons, replica names, event messages) goes
through :mod:`wsdoctor.untrusted`: a hostile peer cannot drive the reader's terminal.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TextIO

from wsdoctor.report import Report
from wsdoctor.reports.text import TextStyle, finding_lines, summary_line
from wsdoctor.untrusted import printable
from wsdoctor.untrusted import safe as safe_report
from wsdoctor.watch.attribution import Cause, PathContext, attribute
from wsdoctor.watch.model import ClusterEvent, ConnectionRecord, FailedAttempt, WatchObservation
from wsdoctor.watch.session import (
    AttemptFailedEvent,
    ClusterChanged,
    ConnectionDropped,
    ConnectionOpened,
    DropExplained,
    Finished,
    Started,
    WatchEvent,
)


def safe(text: str | None, limit: int = 200) -> str:
    """Text from a peer, fit for a terminal (:func:`wsdoctor.untrusted.printable`): control
    characters and escape sequences visible, at most about ``limit`` characters."""
    return printable(text or "", limit=max(limit, 64))


def clock_time(started_at: datetime, t: float) -> str:
    """``12:00:03.535`` (local time) of ``t`` seconds after the start."""
    return (started_at + timedelta(seconds=t)).astimezone().strftime("%H:%M:%S.%f")[:-3]


def _replica(record: ConnectionRecord) -> str:
    return safe(record.replica, 60) if record.replica else "replica ?"


def opened_line(record: ConnectionRecord) -> str:
    """``open    #5 slot 1 127.0.0.1:443 → r2 (reconnect after 0.54 s, 1 attempt)``."""
    how = f"upgrade {record.upgrade_s * 1000:.0f} ms" if record.upgrade_s is not None else ""
    if record.reconnect_s is not None:
        attempts = f"{record.attempts} attempt{'s' if record.attempts != 1 else ''}"
        how = f"reconnected after {record.reconnect_s:.2f} s, {attempts}"
    return f"open    #{record.id} slot {record.slot + 1} {record.address} → " \
        f"{_replica(record)}" + (f" ({how})" if how else "")


def dropped_line(record: ConnectionRecord) -> str:
    """``drop    #1 slot 1 r1 127.0.0.1:443 age 3.4 s, quiet 3.4 s: FIN without a close frame``."""
    return f"drop    #{record.id} slot {record.slot + 1} {_replica(record)} {record.address} " \
        f"age {record.age_s or 0:.1f} s, quiet {record.quiet_s or 0:.1f} s: {safe(record.how())}"


def failed_line(attempt: FailedAttempt) -> str:
    """``failed  slot 2 127.0.0.1:443 refused (HTTP 502)``."""
    status = f" (HTTP {attempt.status_code})" if attempt.status_code else ""
    error = f": {safe(attempt.error, 120)}" if attempt.error else ""
    return f"failed  slot {attempt.slot + 1} {attempt.address} {attempt.outcome}{status}{error}"


def cluster_line(event: ClusterEvent) -> str:
    """``cluster Pod chat/chat-1: deletionTimestamp set (grace 30 s)``."""
    return f"cluster {safe(event.ref, 120)}: {safe(event.detail)}"


def cause_line(record: ConnectionRecord, cause: Cause) -> str:
    """``cause   #1 (drop at +3.41s) Pod chat/chat-1 terminated: ... [cluster]``."""
    return f"cause   #{record.id} (drop at +{record.ended_at or 0:.2f}s) " \
        f"{safe(cause.summary, 400)} [{cause.evidence}]"


def event_line(event: WatchEvent) -> tuple[float | None, str, str | None] | None:
    """(time, text, colour) of the one line an event is shown as, in the text stream and
    the TUI's log alike; None for an event that is no line (a tick, the start, the end)."""
    if isinstance(event, ConnectionOpened):
        return event.record.opened_at, opened_line(event.record), None
    if isinstance(event, ConnectionDropped):
        return event.record.ended_at, dropped_line(event.record), "yellow"
    if isinstance(event, AttemptFailedEvent):
        return event.attempt.at, failed_line(event.attempt), "red"
    if isinstance(event, ClusterChanged):
        return event.event.at, cluster_line(event.event), "cyan"
    if isinstance(event, DropExplained):
        return event.at, cause_line(event.record, event.cause), None
    return None


class WatchTextStream:
    """Writes one line per watch event, then the findings and the verdict."""

    def __init__(self, out: TextIO, style: TextStyle, url: str) -> None:
        self.out = out
        self.style = style
        self.url = url
        self.started_at: datetime | None = None

    def _line(self, t: float | None, text: str, colour: str | None = None) -> None:
        stamp = clock_time(self.started_at, t) if self.started_at and t is not None else ""
        head = self.style.paint(f"{stamp:<12} +{t or 0:>8.2f}s", "dim")
        body = self.style.plain(safe(text, 2000))
        self.out.write(f"{head} {self.style.paint(body, colour) if colour else body}\n")
        self.out.flush()

    def __call__(self, event: WatchEvent) -> None:
        if isinstance(event, Started):
            self.started_at = event.started_at
            self._started(event)
        elif isinstance(event, Finished):
            self._finished(event)
        elif (line := event_line(event)) is not None:
            self._line(*line)

    def _started(self, event: Started) -> None:
        write = self.out.write
        if event.interrupted:
            write(self.style.plain(f"wsdoctor watch {self.url}: interrupted before the first "
                                   "connection was held; the report holds what was measured")
                  + "\n")
            return
        if not event.addresses:
            write(self.style.plain(f"wsdoctor watch {self.url}: no address upgraded; nothing "
                                   "to hold (the findings below say why)") + "\n")
            return
        write(self.style.plain(f"wsdoctor watch {self.url}: holding over "
                               f"{', '.join(event.addresses)}") + "\n")
        if event.cluster == "watched":
            write(f"cluster: watching {'; '.join(safe(w) for w in event.watched)}\n")
        else:
            write(f"cluster: not watched ({safe(event.cluster_note)}): drops are explained by "
                  "their pattern only\n")
        self.out.flush()

    def _finished(self, event: Finished) -> None:
        report = safe_report(event.report)  # findings quote what the server sent
        self.out.write("\n")
        for finding in report.findings:
            for line in finding_lines(finding, self.style):
                self.out.write(self.style.plain(line) + "\n")
        self.out.write(self.style.plain(summary_line(report, self.style)) + "\n")
        self.out.flush()


def timeline_lines(obs: WatchObservation, path: PathContext | None = None) -> Iterator[str]:
    """Every open, drop (with its cause), failed attempt and cluster event of a saved watch,
    in time order."""
    causes = attribute(obs, path)
    rows: list[tuple[float, int, str]] = []
    for record in obs.connections:
        rows.append((record.opened_at, 1, opened_line(record)))
        if record.ended_at is not None:
            cause = causes.get(record.id)
            because = f"\n{'':>25}because: {cause.summary} [{cause.evidence}]" if cause else ""
            rows.append((record.ended_at, 2, dropped_line(record) + because))
    rows += [(a.at, 3, failed_line(a)) for a in obs.failed_attempts]
    rows += [(e.at, 0, cluster_line(e)) for e in obs.events]
    state = "finished" if obs.finished else "still running when saved"
    yield f"watch timeline ({state}; {len(obs.connections)} connections, " \
        f"{len(obs.drops())} drops, {obs.failed_attempts_total} failed attempts, " \
        f"{len(obs.events)} cluster events):"
    if obs.omitted_connections:
        yield f"  ({obs.omitted_connections} older ended connections are not in the report)"
    for t, _, text in sorted(rows, key=lambda row: (row[0], row[1])):
        first, *more = text.split("\n")
        yield f"  {clock_time(obs.started_at, t)} +{t:>8.2f}s {safe(first, 2000)}"
        yield from (safe(line, 2000) for line in more)


def render_timeline(report: Report, out: TextIO, style: TextStyle) -> None:
    """The timeline of a report's watch check (nothing when it has none)."""
    check = report.check("watch")
    if check is None or not isinstance(check.observation, WatchObservation):
        return
    from wsdoctor.checks.cluster import ClusterObservation

    cluster = report.check("cluster")
    path = PathContext.from_cluster(cluster.observation if cluster is not None and isinstance(
        cluster.observation, ClusterObservation) else None)
    out.write("\n")
    for line in timeline_lines(check.observation, path):
        out.write(style.plain(line) + "\n")
