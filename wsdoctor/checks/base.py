"""The contract between probes, rules and the runner.

A :class:`Check` pairs one probe (async I/O returning an :class:`Observation`) with the
pure rules that judge it. Finding codes are declared once, as :class:`Code` constants,
next to the rules that emit them.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import field
from datetime import datetime
from typing import TypeVar

from wsdoctor.codes import Code as Code
from wsdoctor.models import CheckResult, CheckStatus, Finding, Target
from wsdoctor.models import Observation as Observation
from wsdoctor.records import dataclass
from wsdoctor.settings import Settings

ObsT = TypeVar("ObsT", bound=Observation)


class Hop(enum.IntEnum):
    """Where on the path a check looks, in the order a connection meets them."""

    NAME = 1
    NETWORK = 2
    TLS = 3
    UPGRADE = 4
    MESSAGES = 5
    IDLE = 6
    AFFINITY = 7
    CLUSTER = 8
    HOPS = 9
    CAPACITY = 10

    @property
    def label(self) -> str:
        """Human name of the hop, for grouped views."""
        return self.name.lower()


class Skip(Exception):
    """Raised by a probe that cannot run; the message says why and how to enable it."""


@dataclass(frozen=True)
class Facts:
    """What rules may read: the results so far, the target, the settings and the run's time.

    Rules take ``now`` from here, never from a clock, so they stay pure.
    """

    target: Target
    settings: Settings
    now: datetime
    results: Mapping[str, CheckResult] = field(default_factory=dict)

    def get(self, kind: type[ObsT]) -> ObsT | None:
        """The observation of type ``kind``, if its check ran and observed something."""
        for result in self.results.values():
            if isinstance(result.observation, kind):
                return result.observation
        return None

    def status(self, check_id: str) -> CheckStatus | None:
        """Run status of a check, or None when it was not selected."""
        result = self.results.get(check_id)
        return result.status if result else None


Rule = Callable[[Facts], Iterable[Finding]]


@dataclass(frozen=True)
class RuleSpec:
    """A rule with the checks it reads. It runs once all of those have finished."""

    fn: Rule
    needs: tuple[str, ...] = ()


class ProbeContext:
    """What a probe gets: target, settings, the results of the checks it needs, and a way to
    report progress. One per probe run; nothing is shared between runs."""

    def __init__(
        self,
        check_id: str,
        facts: Facts,
        progress: Callable[[str, float | None, str], None] | None = None,
        needs_done: Callable[[], Awaitable[Facts]] | None = None,
    ) -> None:
        self.check_id = check_id
        self.facts = facts
        self._progress = progress
        self._needs_done = needs_done

    async def wait_for_needs(self) -> None:
        """For a check that starts early (:attr:`Check.starts_after`): wait until every check
        it needs has finished; :meth:`get` then sees their observations."""
        if self._needs_done is not None:
            self.facts = await self._needs_done()

    @property
    def target(self) -> Target:
        """The endpoint under diagnosis."""
        return self.facts.target

    @property
    def settings(self) -> Settings:
        """The run's settings."""
        return self.facts.settings

    def get(self, kind: type[ObsT]) -> ObsT | None:
        """The observation of a needed check, if it produced one."""
        return self.facts.get(kind)

    def progress(self, message: str, fraction: float | None = None) -> None:
        """Tell whoever renders how far a long probe has come (fraction in 0..1)."""
        if self._progress is not None:
            self._progress(self.check_id, fraction, message)


Probe = Callable[[ProbeContext], Awaitable[Observation]]


@dataclass(frozen=True)
class Check:
    """One topic: a probe, the rules that judge it and the codes they emit."""

    id: str
    title: str
    hop: Hop
    probe: Probe
    rules: tuple[RuleSpec, ...] = ()
    codes: tuple[Code, ...] | Callable[[], tuple[Code, ...]] = ()
    """The codes its rules emit; a function returns them when they live in a module imported
    only when there is something to judge (the cluster rules)."""
    needs: tuple[str, ...] = ()
    starts_after: tuple[str, ...] | None = None
    """Some of ``needs``: the probe starts once these have finished and calls
    :meth:`ProbeContext.wait_for_needs` before it reads the others (to open a connection while
    a needed check still runs). The check is still skipped when one of ``needs`` did not run,
    and its time limit counts from when they all have finished."""
    default: bool = True
    time_limit: Callable[[Settings], float] = lambda s: s.timeout * 4 + 1.0
    summarize: Callable[[Observation], str] | None = None
    """One-line verdict from the observation (``tcp``: "2 addresses, 0.4 ms")."""
    complete: Callable[[Observation, Facts], Observation] | None = None
    """Adds to the observation what other checks measured, once every rule of this check
    has run (pure): the reported observation. ``hops`` adds the public address's row."""

    def finding_codes(self) -> tuple[Code, ...]:
        """The codes this check's rules emit."""
        return self.codes() if callable(self.codes) else self.codes

    def summary(self, observation: Observation | None) -> str:
        """The one-line summary of an observation of this check ('' when there is none)."""
        if observation is None or self.summarize is None:
            return ""
        return self.summarize(observation)


def rule(fn: Rule, *needs: str) -> RuleSpec:
    """Shorthand for :class:`RuleSpec`."""
    return RuleSpec(fn=fn, needs=needs)
