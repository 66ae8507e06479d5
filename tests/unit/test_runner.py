"""The runner on fake checks: scheduling by needs, time limits, errors, root causes first."""

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest

from wsdoctor.checks.base import Check, Code, Facts, Hop, Observation, ProbeContext, Skip, rule
from wsdoctor.checks.dns import DnsObservation
from wsdoctor.checks.tcp import TcpObservation
from wsdoctor.models import CheckStatus, Finding, Status
from wsdoctor.runner import CheckFinished, Event, SelectionError, diagnose, select_checks
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

TARGET = parse_target("ws://127.0.0.1:9/")


# Fake checks return registered observation types: the report's union is a closed contract.
SYMPTOM = Code("WSD-TEST-SYMPTOM", Status.FAIL, "symptom")
CAUSE = Code("WSD-TEST-CAUSE", Status.FAIL, "cause")
WARNING = Code("WSD-TEST-WARN", Status.WARN, "warning")


async def probe_a(ctx: ProbeContext) -> Observation:
    return DnsObservation(name="a.test", source="literal", addresses=["127.0.0.1"])


async def probe_b(ctx: ProbeContext) -> Observation:
    a = ctx.get(DnsObservation)
    assert a is not None and a.name == "a.test", "b must see a's observation"
    return TcpObservation(attempts=[])


async def probe_slow(ctx: ProbeContext) -> Observation:
    await asyncio.sleep(30)
    raise AssertionError("unreachable")


async def probe_skip(ctx: ProbeContext) -> Observation:
    raise Skip("not root: run with sudo to enable")


async def probe_crash(ctx: ProbeContext) -> Observation:
    raise RuntimeError("boom")


def symptom_rule(facts: Facts) -> Iterator[Finding]:
    yield SYMPTOM.finding("b", "handshake 502")


def cause_rule(facts: Facts) -> Iterator[Finding]:
    yield CAUSE.finding("c", "no endpoints", explains=[SYMPTOM])


def warn_rule(facts: Facts) -> Iterator[Finding]:
    yield WARNING.finding("a", "meh")


def crashing_rule(facts: Facts) -> Iterator[Finding]:
    raise KeyError("missing")


def make(id_: str, probe: object, *, needs: tuple[str, ...] = (), hop: Hop = Hop.NAME,
         rules: tuple[object, ...] = (), default: bool = True) -> Check:
    return Check(id=id_, title=id_.upper(), hop=hop, probe=probe, needs=needs,  # type: ignore[arg-type]
                 rules=rules, default=default, time_limit=lambda s: 0.2)  # type: ignore[arg-type]


def run(checks: list[Check], settings: Settings | None = None,
        events: list[Event] | None = None) -> object:
    return asyncio.run(diagnose(TARGET, settings or Settings(), checks=checks,
                                sink=events.append if events is not None else None))


def test_needs_run_first_and_pass_their_observation() -> None:
    """Given b needs a, b runs after a and reads a's observation."""
    report = run([make("a", probe_a), make("b", probe_b, needs=("a",))])
    assert [c.status for c in report.checks] == [CheckStatus.OK, CheckStatus.OK]  # type: ignore[attr-defined]


def test_time_limit_turns_into_error_for_that_check_only() -> None:
    """A probe that overruns its limit is 'error' with the limit named; others still run."""
    report = run([make("a", probe_a), make("b", probe_slow)])
    a, b = report.checks  # type: ignore[attr-defined]
    assert a.status is CheckStatus.OK
    assert b.status is CheckStatus.ERROR and "0.2 s" in b.reason


def test_exception_is_error_with_traceback() -> None:
    """A crashing probe becomes 'error' with its traceback kept for the bug report."""
    report = run([make("a", probe_crash)])
    (a,) = report.checks  # type: ignore[attr-defined]
    assert a.status is CheckStatus.ERROR and a.reason == "RuntimeError: boom"
    assert "RuntimeError" in a.traceback


def test_skip_carries_reason_and_propagates_to_dependents() -> None:
    """A skipped probe's dependents are skipped too, naming the reason."""
    report = run([make("a", probe_skip), make("b", probe_b, needs=("a",))])
    a, b = report.checks  # type: ignore[attr-defined]
    assert a.status is CheckStatus.SKIPPED and "sudo" in a.reason
    assert b.status is CheckStatus.SKIPPED and "needs a" in b.reason


def test_root_cause_is_listed_before_its_symptom() -> None:
    """A finding that explains another comes first even if its check is later in the path."""
    checks = [
        make("a", probe_a, rules=(rule(warn_rule),)),
        make("b", probe_b, needs=("a",), hop=Hop.UPGRADE, rules=(rule(symptom_rule),)),
        make("c", probe_a, hop=Hop.CLUSTER, rules=(rule(cause_rule, "b"),)),
    ]
    report = run(checks)
    assert [f.code for f in report.findings] == [  # type: ignore[attr-defined]
        "WSD-TEST-CAUSE", "WSD-TEST-SYMPTOM", "WSD-TEST-WARN"]
    assert report.status == "fail"  # type: ignore[attr-defined]


def test_check_status_is_its_worst_finding() -> None:
    """A check that ran takes the status of its worst finding."""
    report = run([make("a", probe_a, rules=(rule(warn_rule),))])
    assert report.checks[0].status is CheckStatus.WARN  # type: ignore[attr-defined]


def test_crashing_rule_becomes_a_finding_not_a_crash() -> None:
    """A rule bug is reported as WSD-INTERNAL-RULE-ERROR with the traceback."""
    report = run([make("a", probe_a, rules=(rule(crashing_rule),))])
    (finding,) = report.findings  # type: ignore[attr-defined]
    assert finding.code == "WSD-INTERNAL-RULE-ERROR" and "KeyError" in finding.detail


def test_suppressed_codes_are_left_out() -> None:
    """--suppress drops a code from the report."""
    report = run([make("a", probe_a, rules=(rule(warn_rule),))],
                 Settings(suppress=["WSD-TEST-WARN"]))
    assert report.findings == []  # type: ignore[attr-defined]


def test_events_announce_each_check_with_its_findings() -> None:
    """Each check ends with a CheckFinished event carrying its own findings."""
    events: list[Event] = []
    run([make("a", probe_a, rules=(rule(warn_rule),))], events=events)
    finished = [e for e in events if isinstance(e, CheckFinished)]
    assert len(finished) == 1 and finished[0].findings[0].code == "WSD-TEST-WARN"


def test_selection_adds_needs_and_rejects_unknown_ids() -> None:
    """--only pulls in what a check needs; an unknown id is an error, not ignored."""
    checks = [make("a", probe_a), make("b", probe_b, needs=("a",)),
              make("c", probe_a, default=False)]
    assert [c.id for c in select_checks(Settings(only=["b"]), checks)] == ["a", "b"]
    assert [c.id for c in select_checks(Settings(), checks)] == ["a", "b"]
    with pytest.raises(SelectionError):
        select_checks(Settings(only=["nope"]), checks)


def early(id_: str, probe: object, *, needs: tuple[str, ...], starts_after: tuple[str, ...],
          limit: float = 0.2) -> Check:
    return Check(id=id_, title=id_.upper(), hop=Hop.MESSAGES, probe=probe,  # type: ignore[arg-type]
                 needs=needs, starts_after=starts_after, time_limit=lambda s: limit)


def test_an_early_check_starts_before_its_needs_end_and_reads_them_after_waiting() -> None:
    """Given c needs a slow b but starts after a, c's probe runs while b still runs, and after
    waiting for its needs it reads b's observation; its time limit does not count the wait."""
    order: list[str] = []

    async def slow_b(ctx: ProbeContext) -> Observation:
        await asyncio.sleep(0.4)  # longer than c's own limit
        order.append("b done")
        return TcpObservation(attempts=[])

    async def probe_c(ctx: ProbeContext) -> Observation:
        assert ctx.get(DnsObservation) is not None and ctx.get(TcpObservation) is None
        order.append("c started")
        await ctx.wait_for_needs()
        assert ctx.get(TcpObservation) is not None, "c must see b's observation"
        return DnsObservation(name="c.test", source="literal", addresses=[])

    b = replace(make("b", slow_b, needs=("a",)), time_limit=lambda s: 1.0)
    report = run([make("a", probe_a), b,
                  early("c", probe_c, needs=("b",), starts_after=("a",), limit=0.2)])
    assert order == ["c started", "b done"]
    assert [c.status for c in report.checks] == [CheckStatus.OK] * 3  # type: ignore[attr-defined]


def test_an_early_check_is_skipped_when_a_need_did_not_run() -> None:
    """Given c starts after a but needs b, which skips, c is skipped naming b, whatever its
    early probe found; the same as a check that waited for b."""
    async def probe_c(ctx: ProbeContext) -> Observation:
        await ctx.wait_for_needs()
        return DnsObservation(name="c.test", source="literal", addresses=[])

    waited = run([make("a", probe_a), make("b", probe_skip, needs=("a",)),
                  make("c", probe_c, needs=("b",))])
    started = run([make("a", probe_a), make("b", probe_skip, needs=("a",)),
                   early("c", probe_c, needs=("b",), starts_after=("a",))])
    for report in (waited, started):
        c = report.checks[2]  # type: ignore[attr-defined]
        assert c.status is CheckStatus.SKIPPED and c.observation is None
        assert c.reason == "needs b, which did not run (not root: run with sudo to enable)"
