"""Heartbeat verdicts from plain observations."""

from datetime import UTC, datetime

from wsdoctor.checks.base import Facts
from wsdoctor.checks.keepalive import KeepaliveObservation, judge_keepalive, survival_margin
from wsdoctor.models import CheckResult, CheckStatus, Finding, Status
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target


def judge(**fields: object) -> list[Finding]:
    obs = KeepaliveObservation.model_validate(fields)
    facts = Facts(
        target=parse_target("wss://chat.example.com/ws"),
        settings=Settings(),
        now=datetime(2026, 1, 1, tzinfo=UTC),
        results={"keepalive": CheckResult(id="keepalive", status=CheckStatus.OK,
                                          observation=obs)},
    )
    return list(judge_keepalive(facts))


def test_pings_below_the_timeout_outlive_it() -> None:
    """A 20 s heartbeat still open past a 60 s timeout: heartbeats work."""
    [finding] = judge(schedule="fixed", ping_interval_s=20, reference_timeout_s=60.0,
                      open_s=62.0, survived=True, pings_sent=3, pongs=3)
    assert finding.code == "WSD-KEEPALIVE-WORKS" and finding.status is Status.OK
    assert "every 20 s" in finding.title and "60.0 s" in finding.title


def test_heartbeat_longer_than_the_timeout_fails_with_both_numbers() -> None:
    """A 90 s heartbeat behind a 60 s timeout fails, quoting 90 and 60."""
    [finding] = judge(schedule="fixed", ping_interval_s=90, reference_timeout_s=60.0,
                      open_s=60.0, ending="fin", survived=False)
    assert finding.code == "WSD-KEEPALIVE-TOO-SLOW" and finding.status is Status.FAIL
    assert "every 90 s" in finding.title and "60.0 s" in finding.title
    assert finding.fix is not None and "every 30 s" in finding.fix.summary


def test_pings_that_do_not_help_mean_a_lifetime_limit() -> None:
    """Pinging and still closed with the silent one: a lifetime limit (GCP 30 s)."""
    [finding] = judge(schedule="doubling", reference_timeout_s=30.0, open_s=30.0,
                      ending="fin", survived=False, pings_sent=6, longest_gap_s=16)
    assert finding.code == "WSD-KEEPALIVE-INEFFECTIVE" and "GCP" in finding.detail


def test_unanswered_ping_fails() -> None:
    """A ping without a pong is a failure of the path."""
    [finding] = judge(schedule="doubling", open_s=5.0, survived=False, unanswered_ping=True)
    assert finding.code == "WSD-KEEPALIVE-UNANSWERED"


def test_no_timeout_means_nothing_to_beat() -> None:
    """Without a timeout within the wait, heartbeats are not needed (info)."""
    [finding] = judge(schedule="doubling", open_s=90.0, survived=False)
    assert finding.code == "WSD-KEEPALIVE-NOT-NEEDED" and finding.status is Status.INFO


def test_survival_margin_is_small_but_bounded() -> None:
    """The extra wait past the timeout stays between 0.3 s and 2 s."""
    assert survival_margin(2) == 0.3 and survival_margin(3600) == 2.0


def test_application_closing_despite_pings_is_named() -> None:
    """Closed with a close frame while pinging: the app ignores pings as activity."""
    [finding] = judge(schedule="fixed", ping_interval_s=0.5, reference_timeout_s=1.0,
                      open_s=1.0, ending="close_frame", survived=False)
    assert finding.code == "WSD-KEEPALIVE-INEFFECTIVE"
    assert "application" in finding.title and "pings" in finding.detail
