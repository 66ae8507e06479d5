"""The watch's memory: connections, failed attempts and cluster events as they happen, bounded
(the oldest ended connections go first, and are counted), and the :class:`Report` built from
them at any moment: a report written mid-run is as valid as the final one."""

from __future__ import annotations

import collections
from datetime import datetime
from typing import Any

from wsdoctor.checks.base import Facts
from wsdoctor.models import CheckResult, CheckStatus, Finding, Target
from wsdoctor.report import CheckReport, Report, report_status
from wsdoctor.settings import Settings
from wsdoctor.watch.holder import AttemptFailed, Ended, Held, HolderEvent, Named, Opened
from wsdoctor.watch.model import (
    ClusterEvent,
    ClusterState,
    ConnectionRecord,
    FailedAttempt,
    WatchObservation,
    WatchOptions,
)

#: Bounds of what one watch keeps (a run of days stays a few MB).
MAX_ENDED = 20_000
MAX_ATTEMPTS = 1_000
MAX_EVENTS = 5_000


class Recorder:
    """Collects what the holder and the cluster watch report; builds observations on demand."""

    def __init__(self, options: WatchOptions, started_at: datetime,
                 max_ended: int = MAX_ENDED) -> None:
        self.options = options
        self.started_at = started_at
        self.addresses: list[str] = []
        self.cluster: ClusterState = "off"
        self.cluster_note: str | None = None
        self.watched: list[str] = []
        self.unwatched: list[str] = []
        self.open: dict[int, Held] = {}
        self.ended: collections.deque[ConnectionRecord] = collections.deque(maxlen=max_ended)
        self.omitted = 0
        self.attempts: collections.deque[FailedAttempt] = collections.deque(maxlen=MAX_ATTEMPTS)
        self.attempts_total = 0
        self.events: collections.deque[ClusterEvent] = collections.deque(maxlen=MAX_EVENTS)
        self.events_total = 0
        self.version = 0
        """Bumped on every change (the report writer writes only when it moved)."""

    def on_holder(self, event: HolderEvent) -> None:
        """Take one event of the :class:`~wsdoctor.watch.holder.ConnectionHolder`."""
        self.version += 1
        if isinstance(event, Opened):
            self.open[event.held.id] = event.held
        elif isinstance(event, Ended):
            self.open.pop(event.held.id, None)
            if len(self.ended) == self.ended.maxlen:
                self.omitted += 1
            self.ended.append(event.held.record())
        elif isinstance(event, AttemptFailed):
            self.attempts_total += 1
            self.attempts.append(event.attempt)
        elif isinstance(event, Named):
            pass  # the Held is shared: its replica is read when the record is built

    def on_cluster(self, event: ClusterEvent) -> None:
        """Take one change seen on a cluster watch stream."""
        self.version += 1
        self.events_total += 1
        self.events.append(event)

    def observation(self, now: float, *, finished: bool = False,
                    interrupted: bool = False) -> WatchObservation:
        """Everything so far, as of ``now`` (seconds since the start)."""
        records = [*self.ended, *(h.record() for h in list(self.open.values()))]
        records.sort(key=lambda r: r.id)
        return WatchObservation(
            started_at=self.started_at,
            duration_s=round(now, 3),
            finished=finished,
            interrupted=interrupted,
            options=self.options,
            addresses=self.addresses,
            cluster=self.cluster,
            cluster_note=self.cluster_note,
            watched=self.watched,
            unwatched=self.unwatched,
            connections=records,
            omitted_connections=self.omitted,
            failed_attempts=list(self.attempts),
            failed_attempts_total=self.attempts_total,
            events=list(self.events),
            omitted_events=self.events_total - len(self.events),
        )


def watch_findings(target: Target, settings: Settings, obs: WatchObservation,
                   preflight: Report | None) -> list[Finding]:
    """The watch rule's findings for this observation (and the cluster the preflight read)."""
    from wsdoctor.runner import RULE_ERROR
    from wsdoctor.watch.rules import judge_watch

    results: dict[str, CheckResult] = {}
    for check in preflight.checks if preflight is not None else []:
        results[check.id] = CheckResult(id=check.id, status=check.status,
                                        observation=check.observation)
    results["watch"] = CheckResult(id="watch", status=CheckStatus.OK, observation=obs)
    facts = Facts(target=target, settings=settings, now=obs.started_at, results=results)
    try:
        return [f for f in judge_watch(facts) if f.code not in settings.suppress]
    except Exception as exc:  # a crashing rule is reported, never a lost report
        import traceback

        return [RULE_ERROR.finding("watch", f"judge_watch: {type(exc).__name__}: {exc}. "
                                   "Please report this with the JSON report attached.",
                                   evidence={"traceback": traceback.format_exc()[-2000:]})]


def watch_report(target: Target, settings: Settings, obs: WatchObservation,
                 preflight: Report | None, started_at: datetime, duration_s: float,
                 options: dict[str, Any]) -> Report:
    """The whole report: the preflight's checks, then the watch with its findings."""
    from wsdoctor.runner import order_findings
    from wsdoctor.watch.rules import CHECK

    found = watch_findings(target, settings, obs, preflight)
    checks = list(preflight.checks) if preflight is not None else []
    checks.append(CheckReport(
        id=CHECK.id, title=CHECK.title, hop=CHECK.hop.label,
        status=CheckStatus.from_findings([f.status for f in found]),
        summary=CHECK.summary(obs), duration_s=round(obs.duration_s, 6), observation=obs))
    findings = [*(preflight.findings if preflight is not None else []), *found]
    position = {c.id: (index, index) for index, c in enumerate(checks)}
    ordered = order_findings(findings, position)
    report = Report(target=target, started_at=started_at, duration_s=round(duration_s, 6),
                    status=report_status(ordered, checks), options=options, checks=checks,
                    findings=ordered)
    return settings.redactor()(report)  # a close reason may echo a secret the user sent
