"""The watch's findings: one per cause and culprit, with the resource, the fix and the
connections it concerns; and what is said when nothing dropped or nothing could be held."""

from __future__ import annotations

from tests.watch_support import START, conn, watch
from wsdoctor.models import Finding, Resource, Status
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target
from wsdoctor.watch.model import ClusterEvent, FailedAttempt, WatchObservation, WatchOptions
from wsdoctor.watch.recorder import watch_findings, watch_report

TARGET = parse_target("wss://chat.example.com/ws")


def findings(obs: WatchObservation, settings: Settings | None = None) -> dict[str, Finding]:
    found = watch_findings(TARGET, settings or Settings(), obs, None)
    return {f.code: f for f in found}


def test_repeated_idle_drops_are_one_warning_naming_the_timeout_and_the_connections() -> None:
    """Given three drops after 60 s quiet, one WSD-WATCH-IDLE-TIMEOUT lists them and asks
    for a heartbeat of 30 s."""
    found = findings(watch(conn(1, 0.0, 60.0), conn(2, 0.5, 60.5), conn(3, 1.0, 61.0)))
    idle = found["WSD-WATCH-IDLE-TIMEOUT"]
    assert idle.status is Status.WARN
    assert idle.evidence["connections"] == [1, 2, 3]
    assert idle.fix is not None and "every 30 s" in idle.fix.summary
    assert "`wsdoctor TARGET --expect-idle QUIET_TIME`" in idle.fix.summary


def test_idle_drops_despite_a_slower_heartbeat_fail() -> None:
    """Given the user's heartbeat is 90 s and connections die after 60 s quiet, the heartbeat
    is too slow (a failure)."""
    found = findings(watch(conn(1, 0.0, 60.0), conn(2, 0.5, 60.5), heartbeat=90.0))
    slow = found["WSD-WATCH-HEARTBEAT-TOO-SLOW"]
    assert slow.status is Status.FAIL
    assert slow.fix is not None and "`wsdoctor TARGET --expect-idle 90s`" in slow.fix.summary


def test_a_pod_that_cut_its_connections_is_a_failure_naming_the_pod_and_1001() -> None:
    """Given connections on a terminating pod ended by a FIN, WSD-WATCH-POD-CUT names the Pod,
    says the clients saw 1006, and the fix gives a preStop hook."""
    event = ClusterEvent(at=10.0, kind="Pod", namespace="chat", name="chat-a",
                         change="terminating", detail="deletionTimestamp set", pods=["chat-a"])
    obs = watch(conn(1, 0.0, 10.2, replica="chat-a", traffic=10.0),
                conn(2, 1.0, 10.21, replica="chat-a", traffic=10.0),
                conn(3, 10.9, None, slot=0, replica="chat-b", reconnect_s=0.7),
                events=(event,), heartbeat=1.0)
    cut = findings(obs)["WSD-WATCH-POD-CUT"]
    assert cut.resource == Resource(kind="Pod", namespace="chat", name="chat-a")
    assert "1006" in cut.detail and "chat-b" in cut.detail
    assert cut.fix is not None and "preStop" in (cut.fix.snippet or "")


def test_a_pod_that_closed_with_1001_is_only_a_warning() -> None:
    """Given the same pod closed its connections with 1001, the finding is
    WSD-WATCH-POD-CLOSED (warn), not a failure."""
    event = ClusterEvent(at=10.0, kind="Pod", namespace="chat", name="chat-a",
                         change="terminating", detail="deletionTimestamp set", pods=["chat-a"])
    obs = watch(conn(1, 0.0, 10.2, replica="chat-a", ending="close_frame", close_code=1001,
                     traffic=10.0), events=(event,), heartbeat=1.0)
    found = findings(obs)
    assert "WSD-WATCH-POD-CUT" not in found
    assert found["WSD-WATCH-POD-CLOSED"].status is Status.WARN


def test_no_drop_is_said_and_the_unwatched_cluster_is_mentioned() -> None:
    """Given four connections open for the whole watch and no cluster, the watch says none
    dropped and that the cluster was not watched."""
    found = findings(watch(*(conn(i, i * 0.5, None) for i in range(1, 5))))
    assert found["WSD-WATCH-NO-DROPS"].status is Status.OK
    assert found["WSD-WATCH-CLUSTER-UNWATCHED"].status is Status.INFO


def test_nothing_held_is_a_failure_quoting_the_last_attempt() -> None:
    """Given only failed attempts (502), WSD-WATCH-NOTHING-HELD quotes the status."""
    attempt = FailedAttempt(slot=0, at=1.0, address="127.0.0.1:443", outcome="refused",
                            status_code=502)
    held = findings(watch(attempts=(attempt,)))["WSD-WATCH-NOTHING-HELD"]
    assert held.evidence["last_status"] == 502


def test_failed_reconnects_are_reported_with_the_longest_wait() -> None:
    """Given a reconnect that took 4 attempts and 6.5 s, WSD-WATCH-RECONNECT-FAILED says so."""
    attempts = tuple(FailedAttempt(slot=0, at=10.5 + k, address="127.0.0.1:443",
                                   outcome="refused", status_code=503) for k in range(3))
    obs = watch(conn(1, 0.0, 10.0, ending="close_frame", close_code=1001, traffic=9.9),
                conn(2, 16.5, None, slot=0, reconnect_s=6.5, attempts=4), attempts=attempts,
                heartbeat=1.0)
    failed = findings(obs)["WSD-WATCH-RECONNECT-FAILED"]
    assert failed.evidence["longest_reconnect_s"] == 6.5
    assert "HTTP 503" in failed.detail


def test_reconnects_that_never_succeeded_do_not_claim_a_longest_wait() -> None:
    """Given every reconnect refused until the end (the last replica scaled away), the
    finding says none succeeded instead of 'the longest reconnect took 0.0 s'."""
    attempts = tuple(FailedAttempt(slot=0, at=10.5 + k, address="127.0.0.1:443",
                                   outcome="refused", status_code=502) for k in range(3))
    obs = watch(conn(1, 0.0, 10.0, ending="close_frame", close_code=1001, traffic=9.9),
                attempts=attempts, heartbeat=1.0)
    failed = findings(obs)["WSD-WATCH-RECONNECT-FAILED"]
    assert "0.0 s" not in failed.detail + failed.title, failed.detail
    assert "no reconnect after a failed attempt succeeded" in failed.detail
    assert failed.evidence["longest_reconnect_s"] is None


def test_a_watch_ended_before_its_first_upgrade_is_not_a_failure() -> None:
    """Given Ctrl-C a second after the start, before any upgrade was tried, nothing failed:
    no WSD-WATCH-NOTHING-HELD (measured: Ctrl-C during the cluster watch's start-up exited 1)."""
    obs = watch().model_copy(update={"addresses": ["127.0.0.1:443"], "interrupted": True,
                                     "duration_s": 1.0})
    assert "WSD-WATCH-NOTHING-HELD" not in findings(obs)
    refused = (FailedAttempt(slot=0, at=0.5, address="127.0.0.1:443", outcome="refused",
                             status_code=502),)
    failed = watch(attempts=refused).model_copy(update={
        "addresses": ["127.0.0.1:443"], "interrupted": True, "duration_s": 1.0})
    assert findings(failed)["WSD-WATCH-NOTHING-HELD"].status is Status.FAIL


def test_suppressed_codes_are_left_out() -> None:
    """Given --suppress WSD-WATCH-CLUSTER-UNWATCHED, it is not reported."""
    found = findings(watch(conn(1, 0.0, None)),
                     Settings(suppress=["WSD-WATCH-CLUSTER-UNWATCHED"]))
    assert "WSD-WATCH-CLUSTER-UNWATCHED" not in found


def test_the_report_holds_the_watch_as_a_check_that_round_trips_through_json() -> None:
    """Given a watch mid-run, its report has a 'watch' check whose observation survives a
    JSON round trip, and the verdict is the worst finding."""
    from wsdoctor.report import Report

    obs = watch(conn(1, 0.0, 60.0), conn(2, 0.5, 60.5), conn(3, 1.0, None))
    report = watch_report(TARGET, Settings(), obs, None, START, 61.0, {})
    again = Report.model_validate_json(report.model_dump_json())
    check = again.check("watch")
    assert check is not None and isinstance(check.observation, WatchObservation)
    assert check.observation == obs and again.status == "warn"
    assert check.summary == "3 connections over 600 s: 2 drops so far"


def test_options_are_recorded_in_the_observation() -> None:
    """The holding options (heartbeat, echo, pong timeout) travel with the observation."""
    obs = watch(heartbeat=2.5)
    assert obs.options == WatchOptions(heartbeat=2.5)


def _pod_then_refused(ending: str, close_code: int | None) -> WatchObservation:
    """chat-a terminates at 10 s and its connection ends; the slot's reconnects get 503
    three times before one lands on chat-b 6.5 s later."""
    event = ClusterEvent(at=10.0, kind="Pod", namespace="chat", name="chat-a",
                         change="terminating", detail="deletionTimestamp set", pods=["chat-a"])
    attempts = tuple(FailedAttempt(slot=0, at=10.5 + k, address="127.0.0.1:443",
                                   outcome="refused", status_code=503) for k in range(3))
    return watch(conn(1, 0.0, 10.2, replica="chat-a", ending=ending, close_code=close_code,
                      traffic=10.0),
                 conn(2, 16.7, None, slot=0, replica="chat-b", reconnect_s=6.5, attempts=4),
                 events=(event,), attempts=attempts, heartbeat=1.0)


def test_reconnects_refused_after_a_pod_closed_lead_with_the_pod() -> None:
    """Given a pod that closed its connection with 1001 and reconnects refused after it, the
    report's first finding (the failed reconnects) names the pod and its finding as the root
    cause, and the pod's finding says its reconnects then failed."""
    obs = _pod_then_refused("close_frame", 1001)
    report = watch_report(TARGET, Settings(), obs, None, START, 600.0, {})
    watch_findings_ = [f for f in report.findings if f.check == "watch"]
    first = watch_findings_[0]
    assert first.code == "WSD-WATCH-RECONNECT-FAILED"
    assert first.title.startswith("3 reconnect attempts failed after Pod chat/chat-a terminated")
    assert first.detail.startswith("After Pod chat/chat-a terminated (WSD-WATCH-POD-CLOSED), "
                                   "the reconnects of #1 failed: ")
    assert first.evidence["root_cause"] == "WSD-WATCH-POD-CLOSED"
    closed = next(f for f in watch_findings_ if f.code == "WSD-WATCH-POD-CLOSED")
    assert closed.explains == ["WSD-WATCH-RECONNECT-FAILED"]
    assert "reconnects of #1 then failed (WSD-WATCH-RECONNECT-FAILED)" in closed.detail


def test_a_pod_that_cut_its_connections_comes_before_the_refused_reconnects() -> None:
    """Given the pod cut its connection (1006) and reconnects were refused, both fail, and
    the pod's finding, the root cause, comes first."""
    obs = _pod_then_refused("fin", None)
    report = watch_report(TARGET, Settings(), obs, None, START, 600.0, {})
    codes = [f.code for f in report.findings if f.check == "watch"]
    assert codes.index("WSD-WATCH-POD-CUT") < codes.index("WSD-WATCH-RECONNECT-FAILED")


def test_reconnects_refused_after_an_idle_timeout_name_no_root_cause() -> None:
    """A timeout cuts, it does not refuse: reconnects failing after an idle drop keep their
    plain title."""
    attempts = (FailedAttempt(slot=0, at=61.0, address="127.0.0.1:443", outcome="refused",
                              status_code=503),)
    obs = watch(conn(1, 0.0, 60.0), conn(2, 62.0, None, slot=0, reconnect_s=2.0, attempts=2),
                attempts=attempts)
    failed = findings(obs)["WSD-WATCH-RECONNECT-FAILED"]
    assert failed.title == "1 reconnect attempt failed; the longest took 2.0 s"
    assert "root_cause" not in failed.evidence
