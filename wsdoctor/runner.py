"""The runner: schedules probes by what they need, runs rules as soon as their inputs exist,
and publishes events to whoever renders. It knows nothing of any output format."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from wsdoctor.checks.base import Check, Code, Facts, ProbeContext, RuleSpec, Skip
from wsdoctor.checks.registry import ENTRIES, Entry
from wsdoctor.models import CheckResult, CheckStatus, Finding, Observation, Status, Target
from wsdoctor.records import dataclass
from wsdoctor.report import CheckReport, Report, report_status
from wsdoctor.settings import Settings

RULE_ERROR = Code("WSD-INTERNAL-RULE-ERROR", Status.WARN, "A rule of wsdoctor crashed")
RUNNER_CODES: tuple[Code, ...] = (RULE_ERROR,)


@dataclass(frozen=True)
class CheckStarted:
    """A probe began."""

    check: Check


@dataclass(frozen=True)
class CheckProgress:
    """A long probe says how far it has come."""

    check_id: str
    message: str
    fraction: float | None


@dataclass(frozen=True)
class CheckFinished:
    """A probe ended and its own rules have run; ``findings`` are this check's so far."""

    check: Check
    result: CheckReport
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class FindingFound:
    """A rule produced a finding."""

    finding: Finding


@dataclass(frozen=True)
class RunFinished:
    """The run is complete."""

    report: Report


Event = CheckStarted | CheckProgress | CheckFinished | FindingFound | RunFinished
EventSink = Callable[[Event], None]


_C = TypeVar("_C", Check, Entry)


class SelectionError(ValueError):
    """``--only``/``--skip`` named an unknown check."""


def select_checks(settings: Settings, checks: Sequence[Check] | None = None) -> list[Check]:
    """The checks to run: defaults (or ``only``) plus everything they need, minus ``skip``.
    Without ``checks``, from the registry, importing only the selected checks' modules."""
    if checks is None:
        return [entry.load() for entry in _select(settings, ENTRIES)]
    return _select(settings, checks)


def _select(settings: Settings, checks: Sequence[_C]) -> list[_C]:
    known = {c.id: c for c in checks}
    for name in (*settings.only, *settings.skip, *settings.enable):
        if name not in known:
            raise SelectionError(f"unknown check {name!r}; choose from {', '.join(known)}")
    wanted = set(settings.only) if settings.only else {c.id for c in checks if c.default}
    wanted |= set(settings.enable)
    pending = list(wanted)
    while pending:
        for need in known[pending.pop()].needs:
            if need not in wanted:
                wanted.add(need)
                pending.append(need)
    wanted -= set(settings.skip)
    return [c for c in checks if c.id in wanted]


def order_findings(
    findings: Iterable[Finding], position: dict[str, tuple[int, int]]
) -> list[Finding]:
    """Most severe first; within a severity, root causes before the symptoms they explain (a
    finding that explains others but is itself explained comes after its own cause), then in
    path order (name, network, TLS, upgrade, ...)."""
    found = list(findings)
    explained = {code for f in found for code in f.explains}

    def tier(f: Finding) -> int:
        if f.explains:
            return 1 if f.code in explained else 0
        return 3 if f.code in explained else 2

    return sorted(found, key=lambda f: (-f.status.rank, tier(f), position.get(f.check, (99, 99))))


class Interrupted(Exception):
    """The run's stop event was set while a probe was running."""


def _format_error(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


class _Run:
    """State of one diagnosis. Never shared between runs."""

    def __init__(
        self, target: Target, settings: Settings, checks: list[Check], sink: EventSink | None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.target = target
        self.settings = settings
        self.stop = stop
        """Set (Ctrl-C) to end the probes still running: each becomes an interrupted error."""
        self.checks = checks
        self.sink = sink
        self.redact = settings.redactor()
        """Applied to every observation, reason, finding and progress message as it arrives,
        so rules, events and the report never hold a secret the user gave."""
        self.started_at = datetime.now(UTC)
        self.results: dict[str, CheckResult] = {}
        self.findings: list[Finding] = []
        self.done = {c.id: asyncio.Event() for c in checks}
        self.selected = {c.id for c in checks}
        self.pending_rules: list[tuple[Check, RuleSpec]] = [
            (c, spec) for c in checks for spec in c.rules
        ]
        self.judging: list[Check] = []
        """Checks whose probe finished but whose own rules still wait for other checks."""

    def emit(self, event: Event) -> None:
        if self.sink is not None:
            self.sink(event)

    def facts(self) -> Facts:
        return Facts(
            target=self.target,
            settings=self.settings,
            now=self.started_at,
            results=dict(self.results),
        )

    def progress(self, check_id: str, fraction: float | None, message: str) -> None:
        self.emit(CheckProgress(check_id=check_id, message=self.redact(message),
                                fraction=fraction))

    async def wait_for(self, needs: Iterable[str]) -> None:
        for need in needs:
            if need in self.done:
                await self.done[need].wait()

    def did_not_run(self, check: Check, needs: Iterable[str]) -> CheckResult | None:
        """The skipped result of ``check`` when one of ``needs`` was skipped or failed."""
        missing = [
            n
            for n in needs
            if n in self.results
            and self.results[n].status in (CheckStatus.SKIPPED, CheckStatus.ERROR)
        ]
        if not missing:
            return None
        return CheckResult(
            id=check.id,
            status=CheckStatus.SKIPPED,
            reason=f"needs {', '.join(missing)}, which did not run "
            f"({'; '.join(self.results[n].reason or '' for n in missing)})",
        )

    async def run_check(self, check: Check) -> None:
        first = check.needs if check.starts_after is None else check.starts_after
        early = first != check.needs
        await self.wait_for(first)
        self.emit(CheckStarted(check=check))
        start = time.perf_counter()
        result = None
        if early and self.did_not_run(check, first) is None:
            result = self.redact(await self._probe(check, start))
        await self.wait_for(check.needs)  # at once, unless it started early
        # A need that did not run skips the check, whatever an early probe found.
        result = self.did_not_run(check, check.needs) or result
        if result is None:
            result = self.redact(await self._probe(check, start))
        self.results[check.id] = result
        self.done[check.id].set()
        self.judging.append(check)
        self.run_ready_rules()

    def announce_judged(self) -> None:
        """Announce each finished check once every rule it owns has run: a cross-check that
        waits for a later probe can still change its verdict, so it is not final before."""
        for check in list(self.judging):
            if any(owner.id == check.id for owner, _ in self.pending_rules):
                continue
            self.judging.remove(check)
            self.emit(
                CheckFinished(
                    check=check,
                    result=self.check_report(check),
                    findings=tuple(f for f in self.findings if f.check == check.id),
                )
            )

    async def _probe(self, check: Check, start: float) -> CheckResult:
        limit = check.time_limit(self.settings)
        timer: asyncio.Timeout | None = None

        async def needs_done() -> Facts:
            """The limit stops while the early probe waits, and counts again from the end."""
            if timer is not None:
                timer.reschedule(None)
            await self.wait_for(check.needs)
            if timer is not None:
                timer.reschedule(asyncio.get_running_loop().time() + limit)
            return self.facts()

        ctx = ProbeContext(check.id, self.facts(), self.progress,
                           needs_done if check.starts_after is not None else None)
        try:
            async with asyncio.timeout(limit) as timer:
                observation = await self._unless_stopped(check.probe(ctx))
        except Interrupted:
            return CheckResult(
                id=check.id,
                status=CheckStatus.ERROR,
                reason="interrupted (Ctrl-C or SIGTERM) before it finished",
                duration_s=time.perf_counter() - start,
            )
        except Skip as exc:
            return CheckResult(
                id=check.id,
                status=CheckStatus.SKIPPED,
                reason=str(exc),
                duration_s=time.perf_counter() - start,
            )
        except TimeoutError:
            return CheckResult(
                id=check.id,
                status=CheckStatus.ERROR,
                reason=f"did not finish within its time limit of {limit:g} s",
                duration_s=time.perf_counter() - start,
            )
        except Exception as exc:
            return CheckResult(
                id=check.id,
                status=CheckStatus.ERROR,
                reason=_format_error(exc),
                duration_s=time.perf_counter() - start,
                traceback=traceback.format_exc(),
            )
        return CheckResult(
            id=check.id,
            status=CheckStatus.OK,
            duration_s=time.perf_counter() - start,
            observation=observation,
        )

    async def _unless_stopped(self, probing: Awaitable[Observation]) -> Observation:
        """The probe's observation, unless ``stop`` is set first: then the probe is cancelled
        and :class:`Interrupted` raised."""
        if self.stop is None:
            return await probing
        task = asyncio.ensure_future(probing)
        stopped = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if task.cancelled():
            raise Interrupted
        return task.result()

    def run_ready_rules(self) -> list[Finding]:
        """Run every pending rule whose inputs have all finished; return the new findings."""
        new: list[Finding] = []
        still: list[tuple[Check, RuleSpec]] = []
        for check, spec in self.pending_rules:
            needs = (check.id, *spec.needs)
            if any(n in self.selected and n not in self.results for n in needs):
                still.append((check, spec))
                continue
            if self.results[check.id].observation is None and not spec.needs:
                continue
            try:
                produced = [
                    f for f in spec.fn(self.facts()) if f.code not in self.settings.suppress
                ]
            except Exception as exc:
                produced = [
                    RULE_ERROR.finding(
                        check.id,
                        f"{getattr(spec.fn, '__name__', 'rule')}: {_format_error(exc)}. "
                        "Please report this with the JSON report attached.",
                        evidence={"traceback": traceback.format_exc()[-2000:]},
                    )
                ]
            produced = [self.redact(f) for f in produced]
            for finding in produced:
                self.emit(FindingFound(finding=finding))
            new.extend(produced)
        self.pending_rules = still
        self.findings.extend(new)
        self.announce_judged()
        return new

    def check_report(self, check: Check) -> CheckReport:
        result = self.results[check.id]
        if check.complete is not None and result.observation is not None:
            result = result.model_copy(
                update={"observation": self.redact(check.complete(result.observation,
                                                                  self.facts()))})
        status = result.status
        if status is CheckStatus.OK:
            status = CheckStatus.from_findings(
                [f.status for f in self.findings if f.check == check.id]
            )
        return CheckReport(
            id=check.id,
            title=check.title,
            hop=check.hop.label,
            status=status,
            summary=check.summary(result.observation),
            reason=result.reason,
            duration_s=round(result.duration_s, 6),
            observation=result.observation,
            traceback=result.traceback,
        )

    def report(self, duration_s: float, options: dict[str, Any]) -> Report:
        # Path order, then registration order: ties never depend on which probe finished first.
        position = {c.id: (int(c.hop), index) for index, c in enumerate(self.checks)}
        findings = order_findings(self.findings, position)
        checks = [self.check_report(c) for c in self.checks]
        return self.redact(Report(
            target=self.target,
            started_at=self.started_at,
            duration_s=round(duration_s, 6),
            status=report_status(findings, checks),
            options=options,
            checks=checks,
            findings=findings,
        ))


async def diagnose(
    target: Target,
    settings: Settings,
    *,
    checks: Sequence[Check] | None = None,
    sink: EventSink | None = None,
    options: dict[str, Any] | None = None,
    stop: asyncio.Event | None = None,
) -> Report:
    """Run the selected checks against ``target`` concurrently and return the report; when
    ``stop`` is set, the checks still running end at once as interrupted errors."""
    selected = select_checks(settings, checks)
    run = _Run(target, settings, selected, sink, stop)
    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for check in selected:
            group.create_task(run.run_check(check), name=f"wsdoctor:{check.id}")
    report = run.report(time.perf_counter() - start, options or {})
    run.emit(RunFinished(report=report))
    return report
