"""Affinity recognised by behaviour: the verdict says how the cookie was found, and a replay
of unknown cookies that does not pin is reported as such."""

from tests.unit.test_affinity_rules import conns, judge
from wsdoctor.checks.affinity import AffinityObservation
from wsdoctor.checks.affinity_probe import CookieSeen, fingerprint, parse_set_cookie
from wsdoctor.checks.affinity_replay import unknown_cookies

SRV = CookieSeen(name="SRV", value=fingerprint("r1"), path="/", secure=True)
TRACK = CookieSeen(name="track", value=fingerprint("xyz"), path="/")


def test_cookie_recognised_by_behaviour_is_judged_as_an_affinity_cookie() -> None:
    """A pinning cookie with an unknown name: PINNED, saying it was recognised by behaviour."""
    obs = AffinityObservation(
        address="192.0.2.1", cookies_upgrade=[SRV], affinity_cookie="SRV",
        affinity_by_behaviour=True, replayed_cookies=["SRV"], replayed_pinned_together=True,
        replica_source="header", connections=conns("r1", "r1", "r1", cookie=True),
        distinct_replicas=1, replay_pinned=True)
    [finding] = judge(obs, expect_affinity=True)
    assert finding.code == "WSD-AFFINITY-PINNED"
    assert "Cookie SRV (recognised by behaviour, not by name" in finding.detail
    assert "r1" not in str(finding.evidence["value"])


def test_replayed_cookies_that_do_not_pin_leave_no_affinity() -> None:
    """Unknown cookies replayed without pinning: NONE when affinity is expected, naming them."""
    connections = [*conns("r1", "r2", "r1"), *conns("r2", "r1", cookie=True)[1:]]
    obs = AffinityObservation(
        address="192.0.2.1", cookies_upgrade=[SRV, TRACK], replayed_cookies=["SRV", "track"],
        replayed_pinned_together=False, replica_source="header", connections=connections,
        distinct_replicas=2)
    [finding] = judge(obs, expect_affinity=True)
    assert finding.code == "WSD-AFFINITY-NONE"
    assert "4 connections (1 replaying the cookies set) reached 2 replicas" in finding.detail
    assert "Replaying the cookies set (SRV, track) on reconnects did not keep them" in \
        finding.detail


def test_cookies_that_pin_only_together_ask_for_the_name() -> None:
    """All cookies together pin but none alone does: the hint asks for --affinity-cookie."""
    obs = AffinityObservation(
        address="192.0.2.1", cookies_upgrade=[SRV, TRACK], replayed_cookies=["SRV", "track"],
        replayed_pinned_together=True, replica_source="header",
        connections=conns("r1", "r2", "r1"), distinct_replicas=2)
    [finding] = judge(obs)
    assert finding.code == "WSD-AFFINITY-SPREAD"
    assert "together kept reconnects on one replica, but none of them alone did" in \
        finding.detail and "--affinity-cookie NAME" in finding.detail


def test_unknown_cookies_are_one_per_name_the_101_first() -> None:
    """The 101's cookie wins over the plain GET's of the same name; others are added."""
    upgrade = [c for c in (parse_set_cookie("SRV=r1; Path=/"),) if c]
    http = [c for c in (parse_set_cookie("SRV=r2"), parse_set_cookie("lang=en")) if c]
    assert [(c.name, c.value) for c in unknown_cookies(upgrade, http)] == [("SRV", "r1"),
                                                                          ("lang", "en")]
