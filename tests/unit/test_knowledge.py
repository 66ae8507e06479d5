"""The fingerprint table and its matching: public API reused by the Kubernetes checks."""

from wsdoctor.knowledge import (
    AFFINITY_COOKIE_DEFAULTS,
    IDLE_TIMEOUT_DEFAULTS,
    TimeoutKind,
    affinity_cookie_component,
    idle_timeout_fix,
    is_affinity_cookie_name,
    match_idle_timeout,
    next_default,
)


def test_every_entry_has_a_source_and_a_fix() -> None:
    """Knowledge is data with a source per entry, and a fix per component."""
    for entry in (*IDLE_TIMEOUT_DEFAULTS, *AFFINITY_COOKIE_DEFAULTS):
        assert entry.source.strip(), entry
    for idle in IDLE_TIMEOUT_DEFAULTS:
        assert idle.fix.format(seconds="1").strip(), idle


def test_60_s_matches_the_60_s_defaults_only() -> None:
    """60.0 s (and 60.4 s) match the 60 s defaults, not Heroku's 55 s."""
    for measured in (60.0, 60.4, 59.3):
        names = {e.component for e in match_idle_timeout(measured)}
        assert names == {"ingress-nginx", "nginx", "AWS ALB", "AWS Classic ELB",
                         "DigitalOcean load balancer"}, measured
    assert {e.component for e in match_idle_timeout(55.2)} == {"Heroku router"}
    assert match_idle_timeout(2.0) == []


def test_reload_cuts_are_not_idle_matches() -> None:
    """240 s names Azure LB, not ingress-nginx's worker-shutdown-timeout (needs a reload)."""
    assert [e.component for e in match_idle_timeout(240)] == ["Azure Load Balancer"]
    reload = match_idle_timeout(240, kinds=(TimeoutKind.AFTER_RELOAD,))
    assert [e.setting for e in reload] == ["worker-shutdown-timeout"]


def test_tolerance_grows_with_the_value() -> None:
    """Long timeouts tolerate 2 %: 345 s still names AWS NLB."""
    assert [e.component for e in match_idle_timeout(345)] == ["AWS NLB"]
    assert match_idle_timeout(345, tolerance=1) == []


def test_next_default_lists_every_component_at_the_next_value() -> None:
    """After 59 s the next stop is 60 s, with all five components."""
    assert {e.seconds for e in next_default(59)} == {60}
    assert len(next_default(59)) == 5
    assert next_default(90000) == []


def test_fix_snippet_carries_the_wanted_seconds() -> None:
    """The snippet sets the wanted value for each component."""
    snippet, language = idle_timeout_fix(match_idle_timeout(60)[:1], 3600)
    assert "3600" in snippet and language in ("yaml", "nginx")


def test_affinity_cookie_names() -> None:
    """Default names of the proxies are known; others only when named by the user."""
    assert affinity_cookie_component("INGRESSCOOKIE") is not None
    assert affinity_cookie_component("_1a2b3") is not None  # Traefik
    assert affinity_cookie_component("AWSALB") is not None
    assert not is_affinity_cookie_name("session")
    assert is_affinity_cookie_name("SRV", extra=["SRV"])
