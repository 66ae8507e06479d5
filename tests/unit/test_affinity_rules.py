"""Affinity: cookie parsing and redaction, path matching, and the verdicts."""

from datetime import UTC, datetime

import pytest

from wsdoctor.checks.affinity import AffinityConnection, AffinityObservation, judge_affinity
from wsdoctor.checks.affinity_probe import (
    CookieSeen,
    fingerprint,
    parse_set_cookie,
    replica_in_message,
)
from wsdoctor.checks.base import Facts
from wsdoctor.models import CheckResult, CheckStatus, Finding, Status
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

SECRET = "a1b2c3d4e5f6-session-token"


def judge(obs: AffinityObservation, url: str = "wss://chat.example.com/ws",
          **settings: object) -> list[Finding]:
    facts = Facts(
        target=parse_target(url),
        settings=Settings(**settings),  # type: ignore[arg-type]
        now=datetime(2026, 1, 1, tzinfo=UTC),
        results={"affinity": CheckResult(id="affinity", status=CheckStatus.OK, observation=obs)},
    )
    return list(judge_affinity(facts))


def conns(*replicas: str, cookie: bool = False) -> list[AffinityConnection]:
    first = [AffinityConnection(cookie_sent=False, upgraded=True, replica=replicas[0])]
    rest = [AffinityConnection(cookie_sent=cookie, upgraded=True, replica=r) for r in replicas[1:]]
    return first + rest


def test_set_cookie_attributes_are_parsed_and_the_value_is_never_kept() -> None:
    """Attributes are read; the value only survives as a hash."""
    parsed = parse_set_cookie(f"INGRESSCOOKIE={SECRET}; Path=/ws; Max-Age=172800; Secure; "
                              "HttpOnly; SameSite=Lax")
    assert parsed is not None and parsed.value == SECRET
    seen = parsed.seen
    assert (seen.path, seen.max_age, seen.secure, seen.http_only, seen.same_site) == \
        ("/ws", 172800, True, True, "Lax")
    assert SECRET not in seen.model_dump_json()
    assert seen.value == fingerprint(SECRET) and seen.value.startswith("sha256:")


def test_first_message_naming_a_replica() -> None:
    """JSON or key=value first messages name the replica; other messages do not."""
    assert replica_in_message(b'{"replica": "chat-7d9f"}') == "chat-7d9f"
    assert replica_in_message(b"pod=chat-1") == "chat-1"
    assert replica_in_message(b"hello") is None


def pinned_obs(cookie: CookieSeen, pinned: bool | None, replicas: list[str]) -> AffinityObservation:
    return AffinityObservation(
        address="192.0.2.1", cookies_upgrade=[cookie], affinity_cookie=cookie.name,
        affinity_component="ingress-nginx", replica_source="header",
        connections=conns(*replicas, cookie=True), distinct_replicas=len(set(replicas)),
        replay_pinned=pinned)


def test_replayed_cookie_pinning_the_replica_is_ok() -> None:
    """Cookie on the 101, replays all on the same replica: ok, attributes reported."""
    cookie = CookieSeen(name="INGRESSCOOKIE", value=fingerprint(SECRET), path="/ws",
                        secure=True, http_only=True)
    [finding] = judge(pinned_obs(cookie, True, ["r1"] * 6))
    assert finding.code == "WSD-AFFINITY-PINNED" and finding.status is Status.OK
    assert "Path=/ws" in finding.detail and "HttpOnly" in finding.detail
    assert SECRET not in finding.model_dump_json()


def test_cookie_not_honoured_fails() -> None:
    """Replays spread over replicas: the cookie is not honoured."""
    cookie = CookieSeen(name="INGRESSCOOKIE", value="sha256:x", path="/", secure=True)
    [finding] = judge(pinned_obs(cookie, False, ["r1", "r2", "r1", "r2"]))
    assert finding.code == "WSD-AFFINITY-NOT-HONOURED" and finding.status is Status.FAIL


def test_path_mismatch_and_missing_secure_on_wss_warn() -> None:
    """Path=/api does not cover /ws; no Secure over wss."""
    cookie = CookieSeen(name="INGRESSCOOKIE", value="sha256:x", path="/api")
    codes = [f.code for f in judge(pinned_obs(cookie, True, ["r1"] * 3))]
    assert codes == ["WSD-AFFINITY-COOKIE-PATH", "WSD-AFFINITY-COOKIE-INSECURE",
                     "WSD-AFFINITY-PINNED"]
    covering = CookieSeen(name="INGRESSCOOKIE", value="sha256:x", path="/", secure=True)
    assert [f.code for f in judge(pinned_obs(covering, True, ["r1"] * 3))] == \
        ["WSD-AFFINITY-PINNED"]


def test_cookie_only_on_plain_http_warns() -> None:
    """A cookie on the plain GET but not on the 101 is missed by WebSocket-only clients."""
    cookie = CookieSeen(name="INGRESSCOOKIE", value="sha256:x", path="/", secure=True)
    obs = AffinityObservation(address="192.0.2.1", cookies_http=[cookie],
                              affinity_cookie="INGRESSCOOKIE", replica_source="header",
                              connections=conns("r1", "r1", cookie=True), distinct_replicas=1,
                              replay_pinned=True)
    assert judge(obs)[0].code == "WSD-AFFINITY-NOT-ON-UPGRADE"


def test_round_robin_without_cookie_is_info_then_fail_when_affinity_is_expected() -> None:
    """2 replicas, no cookie: info; with --expect-affinity, a fail with the annotations."""
    obs = AffinityObservation(address="192.0.2.1", replica_source="header",
                              connections=conns("r1", "r2", "r1", "r2", "r1", "r2"),
                              distinct_replicas=2)
    [info] = judge(obs)
    assert info.code == "WSD-AFFINITY-SPREAD" and info.status is Status.INFO
    assert "2 replicas" in info.title
    [fail] = judge(obs, expect_affinity=True)
    assert fail.code == "WSD-AFFINITY-NONE" and fail.status is Status.FAIL
    assert fail.fix is not None and fail.fix.snippet is not None
    for line in ('nginx.ingress.kubernetes.io/affinity: "cookie"',
                 "nginx.ingress.kubernetes.io/session-cookie-name:",
                 'nginx.ingress.kubernetes.io/session-cookie-path: "/ws"'):
        assert line in fail.fix.snippet


def _cluster(kind: str, controller: str) -> CheckResult:
    from wsdoctor.kube.observation import BackendSummary, ClusterObservation, RouteSummary
    from wsdoctor.kube.snapshot import ClusterSnapshot

    route = RouteSummary(kind=kind, namespace="chat", name="chat", controller=controller,
                         backends=[BackendSummary(service="chat/chat-svc")])
    obs = ClusterObservation(routes=[route], snapshot=ClusterSnapshot(source="cluster"))
    return CheckResult(id="cluster", status=CheckStatus.OK, observation=obs)


@pytest.mark.parametrize(
    ("kind", "controller", "wanted", "on"),
    [
        ("IngressRoute", "traefik", "sticky:", "# IngressRoute chat/chat"),
        ("Ingress", "traefik", 'traefik.ingress.kubernetes.io/service.sticky.cookie: "true"',
         "# Service chat/chat-svc"),
        ("Ingress", "haproxytech", "haproxy.org/cookie-persistence:", "# Service chat/chat-svc"),
        ("Ingress", "haproxy-ingress", "haproxy-ingress.github.io/affinity: cookie",
         "# Ingress chat/chat"),
        ("Ingress", "ingress-nginx", 'nginx.ingress.kubernetes.io/affinity: "cookie"',
         "# Ingress chat/chat"),
    ],
)
def test_no_affinity_fix_is_the_serving_controllers_own(
    kind: str, controller: str, wanted: str, on: str
) -> None:
    """With the cluster read, the WSD-AFFINITY-NONE fix is the recipe of the controller that
    serves the route, on the object it reads it from; never another controller's."""
    obs = AffinityObservation(address="192.0.2.1", replica_source="header",
                              connections=conns("r1", "r2", "r1", "r2"), distinct_replicas=2)
    facts = Facts(
        target=parse_target("wss://chat.example.com/ws"),
        settings=Settings(expect_affinity=True), now=datetime(2026, 1, 1, tzinfo=UTC),
        results={"affinity": CheckResult(id="affinity", status=CheckStatus.OK, observation=obs),
                 "cluster": _cluster(kind, controller)},
    )
    [fail] = judge_affinity(facts)
    assert fail.code == "WSD-AFFINITY-NONE" and fail.fix is not None
    snippet = str(fail.fix.snippet)
    assert wanted in snippet and snippet.startswith(on)
    if controller != "ingress-nginx":
        assert "nginx.ingress.kubernetes.io" not in snippet + fail.fix.summary


def _affinity_config(controller: str, kind: str, name: str, field: str) -> object:
    from wsdoctor.kube.affinity import AffinityConfig
    from wsdoctor.models import Resource

    return AffinityConfig(controller=controller, cookie="sticky",
                          resource=Resource(kind=kind, namespace="chat", name=name, field=field))


@pytest.mark.parametrize(
    ("kind", "controller", "configured", "wanted"),
    [
        ("Ingress", "ingress-nginx", None,
         ['nginx.ingress.kubernetes.io/session-cookie-path: "/ws"', "on Ingress chat/chat"]),
        ("Ingress", "traefik", None,
         ['traefik.ingress.kubernetes.io/service.sticky.cookie.path: "/ws"',
          "on Service chat/chat-svc"]),
        ("IngressRoute", "traefik",
         ("traefik", "TraefikService", "w", "spec.weighted.services[0].sticky.cookie"),
         ["spec.weighted.services[0].sticky.cookie.path", "path: /ws", "TraefikService chat/w"]),
        ("IngressRoute", "traefik", None,
         ["spec.routes[].services[].sticky.cookie.path", "on IngressRoute chat/chat"]),
        ("Ingress", "nginx-inc", None,
         ['nginx.com/sticky-cookie-services: "serviceName=<service> <cookie> path=/ws"',
          "on Ingress chat/chat"]),
        ("Ingress", "haproxytech", None, ["has no option for the cookie's path", "path=/"]),
        ("Ingress", "haproxy-ingress", None,
         ["has no session-cookie-path", 'attr "Path=..."', "session-cookie-keywords"]),
        ("VirtualService", "istio",
         ("istio", "DestinationRule", "chat",
          "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie"),
         ["httpCookie:", "path: /ws", "on DestinationRule chat/chat"]),
    ],
)
def test_cookie_path_fix_is_the_serving_controllers_own(
    kind: str, controller: str, configured: tuple[str, str, str, str] | None, wanted: list[str]
) -> None:
    """A cookie Path that misses the WebSocket gets the fix of the controller that set the
    cookie, on the object that configures it; where a controller has no path option, the
    fix says so and where the Path comes from instead. Never ingress-nginx's elsewhere."""
    cookie = CookieSeen(name="sticky", value="sha256:x", path="/api", secure=True)
    cluster = _cluster(kind, controller)
    if configured is not None:
        obs = cluster.observation
        cluster = cluster.model_copy(update={"observation": obs.model_copy(  # type: ignore[union-attr]
            update={"affinity": _affinity_config(*configured)})})
    facts = Facts(
        target=parse_target("wss://chat.example.com/ws?room=1"), settings=Settings(),
        now=datetime(2026, 1, 1, tzinfo=UTC),
        results={"affinity": CheckResult(id="affinity", status=CheckStatus.OK,
                                         observation=pinned_obs(cookie, True, ["r1"] * 3)),
                 "cluster": cluster},
    )
    [fix] = [f.fix for f in judge_affinity(facts) if f.code == "WSD-AFFINITY-COOKIE-PATH"]
    assert fix is not None
    text = fix.summary + "\n" + (fix.snippet or "")
    for part in wanted:
        assert part in text, text
    if controller != "ingress-nginx":
        assert "nginx.ingress.kubernetes.io" not in text
    if controller == "haproxytech":
        assert fix.snippet is None and "Make the cookie's Path" not in fix.summary


@pytest.mark.parametrize(
    ("component", "wanted", "unwanted"),
    [
        ("Traefik", ["sticky.cookie.path", "traefik.ingress.kubernetes.io/service.sticky."
                     "cookie.path"], "nginx.ingress.kubernetes.io"),
        ("HAProxy", ['attr "Path=..."', "path=/"], "nginx.ingress.kubernetes.io"),
        (None, ["session-cookie-path", "sticky.cookie.path", "httpCookie.path"], None),
    ],
)
def test_cookie_path_fix_without_the_cluster_follows_the_cookies_name(
    component: str | None, wanted: list[str], unwanted: str | None
) -> None:
    """Without the cluster, Traefik's or HAProxy's default cookie name picks that proxy's
    fix; an unknown cookie gets the recipe of every controller."""
    cookie = CookieSeen(name="c", value="sha256:x", path="/api", secure=True)
    obs = pinned_obs(cookie, True, ["r1"] * 3).model_copy(
        update={"affinity_component": component})
    [fix] = [f.fix for f in judge(obs) if f.code == "WSD-AFFINITY-COOKIE-PATH"]
    assert fix is not None
    text = fix.summary + "\n" + (fix.snippet or "")
    for part in wanted:
        assert part in text, text
    if unwanted is not None:
        assert unwanted not in text
