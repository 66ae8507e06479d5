"""Traefik's answers as recorded from the real binary (test_traefik_lab measures them again):
recognised exactly, and never confused with another proxy's."""

from wsdoctor.fingerprints import identify
from wsdoctor.knowledge_traefik import (
    TRAEFIK_TIMEOUTS,
    answered_by_traefik,
    sticky_cookie_name,
    timeout_named,
    traefik_answer,
)

PLAIN = ("Content-Type", "text/plain; charset=utf-8")


def test_each_recorded_answer_is_recognised() -> None:
    """The bodies and headers Traefik 3.7.15 wrote map to the part of Traefik that wrote them."""
    recorded = [
        (404, [PLAIN, ("X-Content-Type-Options", "nosniff")], "404 page not found\n",
         "no-router"),
        (502, [("Content-Length", "11")], "Bad Gateway", "bad-gateway"),
        (503, [PLAIN], "no available server\n", "no-server"),
        (503, [("Content-Length", "19")], "Service Unavailable", "circuit-breaker"),
        (504, [("Content-Length", "15")], "Gateway Timeout", "response-header-timeout"),
        (429, [("Retry-After", "60"), ("X-Retry-In", "59.9s")], "Too Many Requests",
         "rate-limit"),
    ]
    for status, headers, body, key in recorded:
        found = traefik_answer(status, headers, body)
        assert found is not None and found.key == key, (status, body)


def test_other_proxies_answers_are_not_traefiks() -> None:
    """A Server header, a Content-Type Traefik does not send, or another body rule it out."""
    assert traefik_answer(502, [("Server", "nginx"), ("Content-Length", "11")],
                          "Bad Gateway") is None
    assert traefik_answer(502, [("Content-Type", "text/html")], "Bad Gateway") is None
    assert traefik_answer(503, [PLAIN], "no healthy upstream") is None
    assert identify([("Server", "nginx")], "Bad Gateway") == ["nginx"]


def test_go_404_page_alone_does_not_claim_traefik() -> None:
    """Any Go server writes '404 page not found': identify keeps its hedged name."""
    assert not answered_by_traefik([PLAIN], "404 page not found\n")
    assert identify([PLAIN], "404 page not found\n") == ["Traefik (or another Go server)"]
    assert identify([("X-Retry-In", "1s")], "Too Many Requests") == ["Traefik"]


def test_default_sticky_cookie_name_is_a_hash_of_the_service_name() -> None:
    """'_' + 5 hex of SHA-1 of '_TRAEFIK_BACKEND_<service>' (measured: _fb3ba for ws@file)."""
    assert sticky_cookie_name("ws@file") == "_fb3ba"
    assert sticky_cookie_name("ws-lb@file") == "_8357c"


def test_only_the_grace_period_ends_websockets() -> None:
    """Measured: no respondingTimeout, keep-alive or forwarding timeout ends an upgraded
    WebSocket; lifeCycle.graceTimeOut does on stop. Every entry names its measurement."""
    assert [t.setting for t in TRAEFIK_TIMEOUTS if t.cuts_websocket] == ["lifeCycle.graceTimeOut"]
    assert all("measured on Traefik" in t.measured for t in TRAEFIK_TIMEOUTS)
    entry = timeout_named("readtimeout")
    assert entry is not None and entry.default_s == 60 and not entry.cuts_websocket
