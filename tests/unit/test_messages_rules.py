"""messages rules on recorded observations: statistics, limits and endings."""

from datetime import UTC, datetime
from typing import Any

from wsdoctor.checks.base import Facts
from wsdoctor.checks.messages import (
    ConnectionEnd,
    EchoResult,
    LargeMessageResult,
    MessagesObservation,
    PingStats,
    human_size,
    judge_messages,
    ping_stats,
    summarize_messages,
)
from wsdoctor.models import CheckResult, CheckStatus, Finding
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

CLEAN_END = ConnectionEnd(by="client", ending="close_frame", code=1000)


def observed(**fields: Any) -> MessagesObservation:
    base: dict[str, Any] = {
        "address": "203.0.113.7", "port": 443, "upgrade_outcome": "upgraded", "echoes": True,
        "text_echo": EchoResult(kind="text", size=10, echoed=True, rtt_s=0.001),
        "pings": ping_stats(5, [0.001] * 5), "end": CLEAN_END,
    }
    return MessagesObservation.model_validate(base | fields)


def judge(obs: MessagesObservation) -> list[Finding]:
    facts = Facts(target=parse_target("wss://ws.example.com/ws"), settings=Settings(),
                  now=datetime(2026, 1, 1, tzinfo=UTC),
                  results={"messages": CheckResult(id="messages", status=CheckStatus.OK,
                                                   observation=obs)})
    return list(judge_messages(facts))


def test_ping_statistics_use_nearest_rank_p95() -> None:
    """Twenty samples: min, median, p95 (19th) and max."""
    stats = ping_stats(20, [i / 1000 for i in range(20, 0, -1)])
    assert (stats.min_s, stats.median_s, stats.p95_s, stats.max_s) == (0.001, 0.0105, 0.019, 0.02)
    assert stats.answered == 20


def test_no_answered_ping_has_no_statistics() -> None:
    """Nothing answered: counts only."""
    assert ping_stats(3, []) == PingStats(sent=3, answered=0)


def test_healthy_exchange_has_no_findings() -> None:
    """Echo, five pongs, a clean close: nothing to say."""
    assert judge(observed()) == []


def test_unanswered_pings_fail() -> None:
    """Two of five pings unanswered is a failure naming the counts."""
    (finding,) = judge(observed(pings=ping_stats(5, [0.001] * 3)))
    assert finding.code == "WSD-MESSAGES-PING-UNANSWERED" and "3 of 5" in finding.detail


def test_close_1009_is_message_too_big() -> None:
    """A 1009 close on the large message is a warning about the size limit."""
    large = LargeMessageResult(size=1048576, outcome="closed", close_code=1009)
    (finding,) = judge(observed(large_message=large))
    assert finding.code == "WSD-MESSAGES-TOO-BIG" and finding.status == "warn"


def test_reset_on_large_message_is_a_path_limit() -> None:
    """A reset after the large message (small ones passed) points at a size limit on the path."""
    large = LargeMessageResult(size=1048576, outcome="reset")
    (finding,) = judge(observed(large_message=large))
    assert finding.code == "WSD-MESSAGES-LARGE-LOST" and "a TCP reset" in finding.detail


def test_close_answered_with_fin_is_unclean() -> None:
    """Our close answered by a FIN instead of a close frame: clients see 1006."""
    (finding,) = judge(observed(end=ConnectionEnd(by="client", ending="fin")))
    assert finding.code == "WSD-MESSAGES-UNCLEAN-CLOSE" and "1006" in finding.detail


def test_server_reset_during_pings_is_closed_early() -> None:
    """The server resetting during the pings is a failure naming the step."""
    end = ConnectionEnd(by="server", ending="reset", during="pings")
    (finding,) = judge(observed(end=end, pings=None))
    assert finding.code == "WSD-MESSAGES-CLOSED-EARLY"
    assert "during the pings step" in finding.detail and "RESET" in finding.detail


def test_no_echo_is_information_only() -> None:
    """An app that does not echo gets an info finding, not a failure."""
    (finding,) = judge(observed(echoes=False, text_echo=EchoResult(
        kind="text", size=10, echoed=False, other_messages=1)))
    assert finding.code == "WSD-MESSAGES-NO-ECHO" and finding.status == "info"
    assert "1 other messages arrived" in finding.detail


def test_second_upgrade_failing_is_named() -> None:
    """The handshake upgraded but the messages connection did not: one replica is broken."""
    obs = MessagesObservation(address="203.0.113.7", port=443, upgrade_outcome="refused",
                              upgrade_error="server rejected WebSocket connection: HTTP 502")
    (finding,) = judge(obs)
    assert finding.code == "WSD-MESSAGES-UPGRADE-FAILED" and "HTTP 502" in finding.detail
    assert summarize_messages(obs).startswith("second upgrade failed")


def test_summary_reads_like_a_checklist_line() -> None:
    """Echo, ping median and p95, the large message and the close code in one line."""
    obs = observed(large_message=LargeMessageResult(size=1048576, outcome="echoed"))
    assert summarize_messages(obs) == \
        "echo ok, 5/5 pings median 1.0 ms (p95 1.0 ms), 1 MiB echoed, closed 1000"


def test_sizes_read_naturally() -> None:
    """Whole MiB and KiB are named so; other sizes in bytes or fractional KiB."""
    assert [human_size(n) for n in (1 << 20, 65536, 1500, 100)] == \
        ["1 MiB", "64 KiB", "1.5 KiB", "100 B"]
