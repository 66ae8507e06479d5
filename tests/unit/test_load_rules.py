"""The load rules on plain observations: what a cap, a rate limit, the client's own limits,
drops, the spread and the run that held everything look like in findings; and how causes
are named from an attempt."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wsdoctor.checks.base import Facts
from wsdoctor.checks.handshake import HandshakeAttempt, HeaderField
from wsdoctor.load import rules
from wsdoctor.load.causes import ended_cause, failed_attempt_cause
from wsdoctor.load.model import ClientCost, Distribution, LoadCause, LoadObservation, Share
from wsdoctor.models import CheckResult, CheckStatus, Finding, Target
from wsdoctor.settings import LoadPlan, Settings
from wsdoctor.target import parse_target
from wsdoctor.wsconn import Ending, HandshakeOutcome, UpgradeAttempt

TARGET: Target = parse_target("ws://ws.lab.test:8080/ws")
NGINX_503 = HandshakeAttempt(
    address="127.0.0.1", port=8080, outcome="refused", status_code=503,
    status_line="HTTP/1.1 503 Service Temporarily Unavailable",
    headers=[HeaderField(name="Server", value="nginx/1.22.1")],
    body_start="<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>")


def observation(**fields: Any) -> LoadObservation:
    base: dict[str, Any] = dict(
        url=TARGET.url, plan=LoadPlan(connections=100, rate=100, hold_s=0),
        stopped="completed", duration_s=1.0, ramp_s=1.0, attempted=100, upgraded=100,
        peak_open=100, held_at_end=100, refused=0, dropped=0)
    base.update(fields)
    return LoadObservation(**base)


def judge(obs: LoadObservation) -> list[Finding]:
    facts = Facts(target=TARGET, settings=Settings(), now=datetime.now(UTC),
                  results={"load": CheckResult(id="load", status=CheckStatus.OK,
                                               observation=obs)})
    return [*rules.judge_load(facts), *rules.judge_client(facts),
            *rules.judge_connections(facts)]


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def refusal(cause: str = "HTTP 503", **fields: Any) -> LoadCause:
    base: dict[str, Any] = dict(cause=cause, kind="refusal", count=5, first_attempt=21,
                                open_at_first=20, first_at_s=0.2, address="127.0.0.1:8080",
                                response=NGINX_503 if cause.startswith("HTTP") else None)
    base.update(fields)
    return LoadCause(**base)


def test_a_cap_quotes_its_refusal_and_names_what_refuses_that_way() -> None:
    """Given 20 held then steady 503s from nginx, WSD-LOAD-CAP says 20, quotes the status line,
    the Server header and the body, names nginx, and points at limit-connections (not at a
    rate limit: the refusals are steady)."""
    obs = observation(stopped="steady_refusals", attempted=25, upgraded=20, peak_open=20,
                      held_at_end=20, refused=5, cap=20, cap_cause="HTTP 503",
                      refusals_started_at=20, causes=[refusal()])
    cap = next(f for f in judge(obs) if f.code == "WSD-LOAD-CAP")
    assert cap.title == "Connections are refused above 20 (HTTP 503)"
    assert "HTTP/1.1 503 Service Temporarily Unavailable; Server: nginx/1.22.1" in cap.detail
    assert "answered by nginx" in cap.detail and "limit-connections" in cap.detail
    assert "limit-rps" not in cap.detail
    assert cap.evidence["cap"] == 20 and cap.evidence["status"] == 503


def test_a_close_right_after_the_upgrade_is_the_applications_refusal() -> None:
    """Given refusals that are a 101 then close 1013, the cap names the close code and reason
    and the application's own limit."""
    cause = refusal("closed after the upgrade: 1013 try again later (server at capacity)",
                    close_code=1013, close_reason="server at capacity", replica="app-1")
    obs = observation(stopped="steady_refusals", cap=40, cap_cause=cause.cause,
                      causes=[cause], refused=5)
    cap = next(f for f in judge(obs) if f.code == "WSD-LOAD-CAP")
    assert 'close frame 1013 "server at capacity"' in cap.detail
    assert "from replica app-1" in cap.detail and "the application" in cap.detail


def test_a_503_that_names_its_replica_is_first_the_applications() -> None:
    """Given steady 503s that carry the replica's own name (X-Served-By) and no proxy's
    Server header, the application's limit is the first cap named."""
    own = HandshakeAttempt(
        address="127.0.0.1", port=8080, outcome="refused", status_code=503,
        status_line="HTTP/1.1 503 Service Unavailable",
        headers=[HeaderField(name="X-Served-By", value="app-1")],
        body_start="too many connections")
    cause = refusal(response=own, replica="app-1")
    obs = observation(stopped="steady_refusals", cap=13, cap_cause="HTTP 503", causes=[cause],
                      refused=5)
    cap = next(f for f in judge(obs) if f.code == "WSD-LOAD-CAP")
    assert "Caps that refuse this way: the application connection limit" in cap.detail


def test_a_429_from_nginx_may_be_limit_connections_with_its_status_changed() -> None:
    """Given steady 429s from nginx, the first cap named is ingress-nginx limit-connections
    (its status is the ConfigMap's limit-conn-status-code), not only Traefik's."""
    nginx_429 = NGINX_503.model_copy(update={
        "status_code": 429, "status_line": "HTTP/1.1 429 Too Many Requests"})
    obs = observation(stopped="steady_refusals", cap=23, cap_cause="HTTP 429", refused=5,
                      causes=[refusal("HTTP 429", response=nginx_429)])
    cap = next(f for f in judge(obs) if f.code == "WSD-LOAD-CAP")
    assert "Caps that refuse this way: ingress-nginx limit-connections" in cap.detail


def test_interleaved_refusals_are_a_rate_limit() -> None:
    """Given refusals after which attempts were taken again, the finding is INTERMITTENT
    pointing at rate limits, and there is no cap."""
    obs = observation(refused=30, intermittent=True, causes=[refusal(count=30)])
    found = judge(obs)
    assert "WSD-LOAD-CAP" not in codes(found)
    rate = next(f for f in found if f.code == "WSD-LOAD-INTERMITTENT")
    assert "limit-rps" in rate.detail and "100/s" in rate.detail


def test_every_connection_held_is_ok_with_the_timings() -> None:
    """Given a completed run that held all 100, WSD-LOAD-HELD quotes the handshake p95."""
    dist = Distribution(count=100, min=0.001, avg=0.002, p50=0.002, p90=0.003, p95=0.004,
                        p99=0.005, max=0.009)
    found = judge(observation(handshake=dist))
    assert codes(found) == ["WSD-LOAD-HELD"]
    assert "p95 4.0 ms" in found[0].detail


def test_no_connection_at_all_sends_to_the_diagnosis() -> None:
    """Given that not one attempt upgraded, NO-CONNECTION names the first cause and suggests
    'wsdoctor TARGET'."""
    obs = observation(upgraded=0, peak_open=0, held_at_end=0, refused=100, cap=0,
                      stopped="steady_refusals", causes=[refusal(open_at_first=0)])
    found = judge(obs)
    assert codes(found)[0] == "WSD-LOAD-NO-CONNECTION"
    assert f"wsdoctor {TARGET.url}" in found[0].detail


def test_the_clients_own_limit_is_not_the_targets_cap() -> None:
    """Given attempts failing with too many open files, CLIENT-LIMIT says the run stopped
    because of this machine and gives the ulimit to set."""
    own = LoadCause(cause="too many open files in wsdoctor (ulimit -n)", kind="client",
                    count=3, first_attempt=960, open_at_first=959, first_at_s=5.0, address="a")
    obs = observation(stopped="client_limit", causes=[own], held_at_end=959, peak_open=959,
                      client=ClientCost(fd_limit=1024, fd_hard_limit=1024, fd_needed=1064))
    limit = next(f for f in judge(obs) if f.code == "WSD-LOAD-CLIENT-LIMIT")
    assert "959" in limit.detail and limit.fix is not None
    assert limit.fix.snippet == "ulimit -n 1064"


def test_a_low_open_file_limit_the_run_never_reached_is_not_blamed() -> None:
    """Given a plan above this machine's open-file limit but a target that refused from the
    first attempt, the run stopped on the target's refusals: no CLIENT-LIMIT claiming this
    machine capped it."""
    obs = observation(upgraded=0, peak_open=0, held_at_end=0, refused=8, attempted=8, cap=0,
                      stopped="steady_refusals", causes=[refusal(open_at_first=0)],
                      plan=LoadPlan(connections=90000, rate=200, hold_s=0),
                      client=ClientCost(fd_limit=20000, fd_hard_limit=20000, fd_needed=90064))
    assert codes(judge(obs)) == ["WSD-LOAD-NO-CONNECTION"]


def test_a_busy_client_is_said_to_skew_the_timings() -> None:
    """Given an event loop that ran 1.5 s late once, CLIENT-BUSY warns."""
    found = judge(observation(client=ClientCost(loop_lag_max_ms=1500, loop_lag_p99_ms=30)))
    assert "WSD-LOAD-CLIENT-BUSY" in codes(found)


def test_drops_and_an_uneven_spread_and_no_echo() -> None:
    """Given drops while held, 90/10 held on two replicas and messages never echoed, the
    run warns of the drops, says the spread is uneven, and that no round trip was timed."""
    drop = LoadCause(cause="closed while held: 1001 going away", kind="drop", count=4,
                     first_attempt=3, open_at_first=50, first_at_s=2.0, address="a")
    obs = observation(dropped=4, causes=[drop], messages_sent=200, messages_received=10,
                      replicas=[Share(name="r1", upgraded=90, held=90),
                                Share(name="r2", upgraded=10, held=10)],
                      replica_source="X-Served-By header")
    found = {f.code: f for f in judge(obs)}
    assert "1001 going away" in found["WSD-LOAD-DROPS"].detail
    assert found["WSD-LOAD-SPREAD"].title.startswith("The connections spread unevenly")
    assert "r1 90, r2 10" in found["WSD-LOAD-SPREAD"].detail
    assert "WSD-LOAD-NO-ECHO" in found


def _attempt(outcome: HandshakeOutcome, **fields: Any) -> UpgradeAttempt:
    return UpgradeAttempt(address="127.0.0.1", outcome=outcome, **fields)


def test_causes_are_named_by_how_the_attempt_failed() -> None:
    """Each way an attempt fails has its own short cause, and this machine's limits are the
    client's."""
    assert failed_attempt_cause(_attempt(HandshakeOutcome.REFUSED, status_code=503), 5) == \
        ("HTTP 503", "refusal")
    assert failed_attempt_cause(_attempt(HandshakeOutcome.TIMEOUT), 1.5) == \
        ("no response within 1.5 s", "refusal")
    assert failed_attempt_cause(_attempt(
        HandshakeOutcome.CLOSED, error="ConnectionResetError: [Errno 104] Connection reset "
        "by peer", error_type="ConnectionResetError"), 5)[0] == \
        "connection reset before a response"
    assert failed_attempt_cause(_attempt(
        HandshakeOutcome.GARBAGE, error="the server closed the connection"), 5)[0] == \
        "connection closed before a response"
    assert failed_attempt_cause(_attempt(
        HandshakeOutcome.CONNECT_FAILED, failed_step="tcp", error="[Errno 24] Too many open "
        "files", error_type="OSError"), 5) == ("too many open files in wsdoctor (ulimit -n)",
                                                "client")
    assert failed_attempt_cause(_attempt(
        HandshakeOutcome.CONNECT_FAILED, failed_step="tcp", error="[Errno 111] refused",
        error_type="ConnectionRefusedError"), 5) == ("TCP connection refused", "refusal")
    assert ended_cause(Ending.CLOSE_FRAME, 1013, "full", refused=True) == \
        "closed after the upgrade: 1013 try again later (full)"
    assert ended_cause(Ending.RESET, None, None, refused=False) == "reset while held"
