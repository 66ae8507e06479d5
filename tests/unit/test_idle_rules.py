"""The idle measurement on a fake clock, and the verdicts drawn from it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from websockets.frames import Frame, Opcode

from wsdoctor.checks.base import Facts
from wsdoctor.checks.idle import IdleObservation, idle_observation, judge_idle, summarize_idle
from wsdoctor.checks.lifetime import SilentWatch, progress_text, watch_silently
from wsdoctor.models import CheckResult, CheckStatus, Finding, Status
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target
from wsdoctor.wsconn import Closed, Ending, Event

START = 1000.0


class FakeClock:
    """A monotonic clock that only moves when the fake connection waits."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class ScriptedConnection:
    """Delivers scripted events at fake times; waiting advances the fake clock."""

    def __init__(self, clock: FakeClock, script: list[tuple[float, Event]],
                 pong_after: float | None = None, reset_on_ping: bool = False) -> None:
        self.clock = clock
        self.script = sorted(script, key=lambda item: item[0])
        self.pong_after = pong_after
        self.reset_on_ping = reset_on_ping
        self.pings: list[float] = []

    async def next_event(self, timeout: float | None) -> Event | None:
        assert timeout is not None
        if self.script and self.script[0][0] <= self.clock.now + timeout:
            at, event = self.script.pop(0)
            self.clock.now = max(self.clock.now, at)
            return event
        self.clock.now += timeout
        return None

    async def ping(self, payload: bytes) -> None:
        self.pings.append(self.clock.now - START)
        if self.reset_on_ping:
            now = self.clock.now + 0.01
            self.script.append((now, Closed(ending=Ending.RESET, at=now)))
        elif self.pong_after is not None:
            self.script.append((self.clock.now + self.pong_after,
                                Frame(Opcode.PONG, payload)))
        self.script.sort(key=lambda item: item[0])


def watch(script: list[tuple[float, Event]], cap: float = 90, **kwargs: object) -> SilentWatch:
    """Run the silent watch on the fake clock; returns what it saw."""
    clock = FakeClock()
    absolute = [(START + at, event) for at, event in script]
    for _, event in absolute:
        if isinstance(event, Closed):
            event.at += START
    conn = ScriptedConnection(clock, absolute, **kwargs)  # type: ignore[arg-type]
    return asyncio.run(watch_silently(conn, START, cap, 3.0, clock=clock))  # type: ignore[arg-type]


def judge(obs: IdleObservation, **settings: object) -> list[Finding]:
    """The idle rule's findings for one observation."""
    facts = Facts(
        target=parse_target("wss://chat.example.com/ws"),
        settings=Settings(**settings),  # type: ignore[arg-type]
        now=datetime(2026, 1, 1, tzinfo=UTC),
        results={"idle": CheckResult(id="idle", status=CheckStatus.OK, observation=obs)},
    )
    return list(judge_idle(facts))


def observe(seen: SilentWatch, cap: float = 90) -> IdleObservation:
    return idle_observation("192.0.2.10", 40000, cap, seen)


def test_fin_after_60_s_is_a_60_s_proxy_timeout() -> None:
    """Given a FIN 60 s after the 101, timeout_s is 60.0 and a proxy closed it."""
    seen = watch([(60.0, Closed(ending=Ending.FIN, at=60.0))])
    obs = observe(seen)
    assert obs.timeout_s == 60.0 and obs.open_s == 60.0
    assert obs.ending == "fin" and obs.closed_by == "proxy" and obs.close_code is None
    assert not obs.silent_drop and obs.cap_ping is None


def test_measured_60_s_names_ingress_nginx_alb_elb_and_digitalocean() -> None:
    """A measured 60 s is matched to the components whose default it is."""
    obs = observe(watch([(60.0, Closed(ending=Ending.FIN, at=60.0))]))
    [finding] = judge(obs)
    assert finding.code == "WSD-IDLE-TIMEOUT" and finding.status is Status.INFO
    for name in ("ingress-nginx proxy-read-timeout", "AWS ALB", "AWS Classic ELB",
                 "DigitalOcean"):
        assert name in finding.detail, name
    assert "ingress-nginx" in finding.evidence["matches"]  # type: ignore[operator]
    assert "a proxy" in finding.title


def test_expect_idle_3600_fails_with_the_annotations_as_fix() -> None:
    """With --expect-idle 3600, a 60 s timeout fails and the fix sets the annotations."""
    obs = observe(watch([(60.0, Closed(ending=Ending.FIN, at=60.0))]))
    [finding] = judge(obs, expect_idle=3600)
    assert finding.code == "WSD-IDLE-TIMEOUT-SHORT" and finding.status is Status.FAIL
    assert "60.0 s" in finding.title and "3600 s" in finding.title
    assert finding.fix is not None and finding.fix.snippet is not None
    assert 'nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"' in finding.fix.snippet
    assert 'nginx.ingress.kubernetes.io/proxy-send-timeout: "3600"' in finding.fix.snippet
    assert "idle_timeout.timeout_seconds=3600" in finding.fix.snippet
    assert "do-loadbalancer-http-idle-timeout-seconds" in finding.fix.snippet


def test_expect_idle_met_is_not_a_failure() -> None:
    """A timeout longer than --expect-idle is only information."""
    obs = observe(watch([(100.0, Closed(ending=Ending.FIN, at=100.0))], cap=200))
    [finding] = judge(obs, expect_idle=90)
    assert finding.code == "WSD-IDLE-TIMEOUT" and "Cloudflare" in finding.detail


def test_unmatched_timeout_gets_the_usual_suspects_as_fix() -> None:
    """A 2 s timeout matches no default: the fix covers nginx and HAProxy."""
    obs = observe(watch([(2.0, Closed(ending=Ending.FIN, at=2.0))]))
    [finding] = judge(obs, expect_idle=60)
    assert finding.fix is not None and finding.fix.snippet is not None
    assert "proxy_read_timeout 60s" in finding.fix.snippet
    assert "timeout-tunnel" in finding.fix.snippet


def test_no_answer_to_the_ping_at_the_cap_is_a_silent_drop() -> None:
    """Nothing for the whole wait and no pong: a silent drop, not 'no timeout'."""
    seen = watch([], cap=240)
    obs = observe(seen, cap=240)
    assert obs.cap_ping == "no_pong" and obs.silent_drop and obs.timeout_s is None
    findings = judge(obs)
    assert [f.code for f in findings] == ["WSD-IDLE-SILENT-DROP"]
    assert "silently dropped" in summarize_idle(obs)


def test_reset_on_the_ping_at_the_cap_is_a_silent_drop() -> None:
    """A reset in answer to the ping means the state was gone: a silent drop."""
    obs = observe(watch([], cap=30, reset_on_ping=True), cap=30)
    assert obs.cap_ping == "reset" and obs.silent_drop and obs.timeout_s is None
    assert obs.closed_by is None


def test_pong_at_the_cap_means_no_timeout_within_the_wait() -> None:
    """A pong at the cap: the connection is alive, no idle timeout within the wait; the 3600 s
    the application needs were not verified, which is a warning naming the --idle-max to use."""
    obs = observe(watch([], cap=90, pong_after=0.02))
    assert obs.cap_ping == "pong" and not obs.silent_drop
    unverified, none = judge(obs, expect_idle=3600)
    assert unverified.code == "WSD-IDLE-UNVERIFIED" and unverified.status is Status.WARN
    assert unverified.fix is not None and "--idle-max 3610" in unverified.fix.summary
    assert none.code == "WSD-IDLE-NONE"
    assert [f.code for f in judge(obs, expect_idle=60)] == ["WSD-IDLE-NONE"]


def test_server_pings_are_reported_with_their_interval() -> None:
    """Server pings every 20 s keep the connection open; the interval is reported."""
    pings: list[tuple[float, Event]] = [(t, Frame(Opcode.PING, b"")) for t in (20, 40, 60, 80)]
    obs = observe(watch(pings, cap=90, pong_after=0.01))
    assert obs.server_pings == 4 and obs.server_ping_interval_s == 20.0
    codes = [f.code for f in judge(obs)]
    assert codes == ["WSD-IDLE-NONE", "WSD-IDLE-SERVER-HEARTBEAT"]


def test_timeout_counts_from_the_last_traffic() -> None:
    """After a server ping at 10 s, a FIN at 70 s is a 60 s idle timeout."""
    seen = watch([(10.0, Frame(Opcode.PING, b"")), (70.0, Closed(ending=Ending.FIN, at=70.0))])
    obs = observe(seen)
    assert obs.timeout_s == 60.0 and obs.open_s == 70.0


def test_close_frame_means_the_application_closed_it() -> None:
    """A close frame comes from the application, with its code and reason."""
    closed = Closed(ending=Ending.CLOSE_FRAME, at=30.0, code=1000, reason="idle")
    obs = observe(watch([(30.0, closed)]))
    assert obs.closed_by == "application" and obs.close_code == 1000
    [finding] = judge(obs)
    assert finding.code == "WSD-IDLE-APP-CLOSE" and "code 1000 'idle'" in finding.detail


def test_progress_names_the_next_default_to_be_passed() -> None:
    """Progress says the elapsed time and the next known default ahead."""
    assert progress_text(45, 90) == "45 s idle of 90 s — next: 55 s (Heroku router " \
        "idle timeout (fixed))"
    assert "next: 60 s (ingress-nginx proxy-read-timeout" in progress_text(56, 90)
    assert "next" not in progress_text(61, 90)  # 100 s is beyond the cap


def test_the_close_frame_itself_is_not_traffic() -> None:
    """A close frame arrives as a frame, then as the end: the timeout still counts from 0."""
    closed = Closed(ending=Ending.CLOSE_FRAME, at=30.0, code=1001, reason="")
    obs = observe(watch([(30.0, Frame(Opcode.CLOSE, b"\x03\xe9")), (30.0, closed)]))
    assert obs.timeout_s == 30.0 and obs.closed_by == "application"


def test_fix_targets_the_proxy_that_answered() -> None:
    """A 2 s timeout behind a proxy whose headers say HAProxy: the fix is HAProxy's alone."""
    from wsdoctor.checks.handshake import HandshakeAttempt, HandshakeObservation, HeaderField

    obs = observe(watch([(2.0, Closed(ending=Ending.FIN, at=2.0))]))
    answered = HandshakeObservation(
        url="wss://chat.example.com/ws", host_header="chat.example.com", attempts=[
            HandshakeAttempt(address="192.0.2.10", port=443, outcome="upgraded",
                             status_code=101, headers=[HeaderField(name="Server",
                                                                   value="haproxy")])])
    facts = Facts(
        target=parse_target("wss://chat.example.com/ws"),
        settings=Settings(expect_idle=60),
        now=datetime(2026, 1, 1, tzinfo=UTC),
        results={"idle": CheckResult(id="idle", status=CheckStatus.OK, observation=obs),
                 "handshake": CheckResult(id="handshake", status=CheckStatus.OK,
                                          observation=answered)},
    )
    [finding] = judge_idle(facts)
    assert finding.fix is not None and finding.fix.snippet is not None
    assert "HAProxy" in finding.fix.summary and "timeout-tunnel" in finding.fix.snippet
    assert "proxy_read_timeout" not in finding.fix.snippet
