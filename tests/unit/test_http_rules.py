"""http rules on recorded nginx responses and on plain data: redirects, identification,
failures, redaction. Files in tests/unit/data were recorded from the lab's nginx."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wsdoctor.checks.base import Facts
from wsdoctor.checks.http import HttpObservation
from wsdoctor.checks.http_probe import _parse_head
from wsdoctor.checks.http_rules import (
    analyse_redirect,
    judge_failures,
    judge_redirects,
    judge_servers,
)
from wsdoctor.checks.tls import TlsAttempt, TlsObservation
from wsdoctor.fingerprints import identify
from wsdoctor.models import CheckResult, CheckStatus, Finding
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

DATA = Path(__file__).parent / "data"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def recorded(name: str) -> tuple[str, HttpObservation]:
    """A recorded target URL and the http observation the lab's nginx produced for it."""
    raw = json.loads((DATA / f"{name}.json").read_text())
    return raw["target"], HttpObservation.model_validate(raw["observation"])


def judge(url: str, obs: HttpObservation, tls: TlsObservation | None = None) -> list[Finding]:
    """Given the observations, when every http rule runs, then these findings."""
    results = {"http": CheckResult(id="http", status=CheckStatus.OK, observation=obs)}
    if tls is not None:
        results["tls"] = CheckResult(id="tls", status=CheckStatus.OK, observation=tls)
    facts = Facts(target=parse_target(url), settings=Settings(), now=NOW, results=results)
    return [*judge_failures(facts), *judge_redirects(facts), *judge_servers(facts)]


def exchange(status: int | None = 200, headers: dict[str, str] | None = None, *,
             purpose: str = "target", address: str = "10.0.0.1", outcome: str = "response",
             url: str = "https://ws.example.com/ws", body: str | None = None,
             error: str | None = None) -> dict[str, object]:
    """One exchange as plain data."""
    return dict(
        purpose=purpose, url=url, address=address, port=80 if purpose == "plain_http" else 443,
        outcome=outcome, error=error, status=status if outcome == "response" else None,
        status_line=f"HTTP/1.1 {status} X" if outcome == "response" else None,
        headers=[{"name": k, "value": v} for k, v in (headers or {}).items()], body_start=body,
    )


def observation(*exchanges: dict[str, object]) -> HttpObservation:
    return HttpObservation.model_validate(
        dict(host="ws.example.com", request_headers=[], exchanges=list(exchanges))
    )


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def test_recorded_nginx_308_on_ws_url_says_use_wss() -> None:
    """ws:// answered with ingress-nginx's 308 to https: a warning telling to use wss://."""
    url, obs = recorded("http-nginx-308-to-https")
    findings = judge(url, obs)
    assert codes(findings) == ["WSD-HTTP-REDIRECT", "WSD-HTTP-SERVER"]
    redirect = findings[0]
    assert redirect.title == "ws:// is redirected to HTTPS: use wss://"
    assert "Location: https://ws.lab.test/ws" in redirect.detail
    assert "wss://ws.lab.test/ws" in redirect.fix.summary  # type: ignore[union-attr]


def test_recorded_ingress_nginx_default_backend_is_recognised() -> None:
    """A 404 'default backend - 404' names ingress-nginx's default backend."""
    url, obs = recorded("http-nginx-404-default-backend")
    (finding,) = judge(url, obs)
    assert finding.code == "WSD-HTTP-SERVER"
    assert "ingress-nginx default backend" in finding.evidence["components"]  # type: ignore[operator]


def test_recorded_websocket_backend_426_is_not_a_problem() -> None:
    """A plain GET answered 426 by the backend through nginx: only who answered."""
    url, obs = recorded("http-nginx-426-websocket-backend")
    assert codes(judge(url, obs)) == ["WSD-HTTP-SERVER"]


@pytest.mark.parametrize(
    ("location", "broken", "loop", "new_path", "other_host"),
    [
        ("https://wss://ws.example.com/ws", True, False, None, None),
        ("wss://ws.example.com/ws", True, False, None, None),
        ("https://ws.example.com/ws", False, True, None, None),
        ("https://ws.example.com:443/ws", False, True, None, None),
        ("/ws/", False, False, "/ws/", None),
        ("https://www.example.com/ws", False, False, None, "www.example.com"),
    ],
)
def test_analyse_redirect(location: str, broken: bool, loop: bool, new_path: str | None,
                          other_host: str | None) -> None:
    """Locations are resolved against the request and judged."""
    verdict = analyse_redirect("https://ws.example.com/ws", location, "ws.example.com")
    assert (verdict.broken is not None, verdict.loop) == (broken, loop)
    if not broken:
        assert (verdict.new_path, verdict.other_host) == (new_path, other_host)


def test_traefik_nested_scheme_redirect_fails() -> None:
    """Traefik 2.7.2's https://wss://… Location is a broken redirect, naming the bug."""
    obs = observation(exchange(302, {"Location": "https://wss://ws.example.com/ws"}))
    findings = judge("wss://ws.example.com/ws", obs)
    assert codes(findings) == ["WSD-HTTP-REDIRECT-BROKEN"]
    assert "traefik#9155" in findings[0].fix.summary  # type: ignore[union-attr]


def test_redirect_to_itself_is_a_loop() -> None:
    """https://host/ws → https://host/ws is a loop, with the forwarded-headers fix."""
    obs = observation(exchange(308, {"Location": "https://ws.example.com/ws"}))
    findings = judge("wss://ws.example.com/ws", obs)
    assert codes(findings) == ["WSD-HTTP-REDIRECT-LOOP"]
    assert "use-forwarded-headers" in (findings[0].fix.snippet or "")  # type: ignore[union-attr]


def test_trailing_slash_redirect_says_so() -> None:
    """A 301 from /ws to /ws/ is a warning that names the slash."""
    obs = observation(exchange(301, {"Location": "/ws/"}))
    (finding,) = judge("wss://ws.example.com/ws", obs)
    assert finding.code == "WSD-HTTP-REDIRECT"
    assert "only the trailing slash differs" in finding.detail


def test_port_80_redirecting_to_https_is_fine_and_serving_plain_is_info() -> None:
    """Port 80 → https is silent; port 80 answering 200 is information."""
    good = exchange(308, {"Location": "https://ws.example.com/ws"}, purpose="plain_http",
                    url="http://ws.example.com/ws")
    assert judge("wss://ws.example.com/ws", observation(exchange(426), good)) == []
    plain = exchange(200, purpose="plain_http", url="http://ws.example.com/ws")
    findings = judge("wss://ws.example.com/ws", observation(exchange(426), plain))
    assert codes(findings) == ["WSD-HTTP-NO-HTTPS-REDIRECT"]
    assert findings[0].status == "info"


@pytest.mark.parametrize(
    ("headers", "body", "component"),
    [
        ({"server": "istio-envoy", "x-envoy-upstream-service-time": "3"}, "",
         "Istio gateway (Envoy)"),
        ({"Server": "envoy"}, "no healthy upstream", "Envoy"),
        ({"Server": "cloudflare", "CF-RAY": "8a1b-AMS"}, "", "Cloudflare"),
        ({"Server": "awselb/2.0"}, "", "AWS ALB/ELB"),
        ({"Via": "1.1 google"}, "", "Google Cloud load balancer"),
        ({}, "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle "
         "this request.", "HAProxy"),
        ({"Content-Type": "text/plain; charset=utf-8"}, "404 page not found\n",
         "Traefik (or another Go server)"),
    ],
)
def test_identify_names_the_proxy(headers: dict[str, str], body: str, component: str) -> None:
    """Headers and error bodies name the component that answered."""
    found = identify(list(headers.items()), body)
    assert found[0] == component
    if component == "Istio gateway (Envoy)":
        assert "Envoy" not in found


def test_addresses_answering_differently_warn() -> None:
    """One address answers 426 from the app, another 404 from nginx's default backend."""
    obs = observation(
        exchange(426, {"Server": "nginx"}, address="10.0.0.1"),
        exchange(404, {"Server": "nginx"}, address="10.0.0.2", body="default backend - 404"),
    )
    findings = judge("wss://ws.example.com/ws", obs)
    assert "WSD-HTTP-INCONSISTENT" in codes(findings)
    (inconsistent,) = [f for f in findings if f.code == "WSD-HTTP-INCONSISTENT"]
    assert "10.0.0.2:443 → 404" in inconsistent.detail


def test_no_response_fails_and_tls_failures_are_left_to_tls() -> None:
    """A timeout is a fail; a TLS failure already reported by tls is not repeated."""
    obs = observation(
        exchange(outcome="timeout", error="no complete response within 5 s"),
        exchange(outcome="tls_failed", error="TLS handshake failed", address="10.0.0.2"),
    )
    tls = TlsObservation(host="ws.example.com", server_name="ws.example.com", trust="system",
                         alpn_offered=[], attempts=[TlsAttempt(
                             address="10.0.0.2", port=443, outcome="reset", error="reset")])
    findings = judge("wss://ws.example.com/ws", obs, tls)
    assert codes(findings) == ["WSD-HTTP-NO-RESPONSE"]
    assert "10.0.0.1:443" in findings[0].detail


def test_a_client_certificate_refusal_is_left_to_the_handshake_check() -> None:
    """A TLS 1.3 server that requires a client certificate sends its alert after the
    handshake, so the GET fails on its first read; the handshake check already names the
    cause (WSD-HANDSHAKE-CLIENT-CERT), so no WSD-HTTP-CLOSED blames 'the path' (measured:
    HAProxy 'verify required' with TLS 1.3)."""
    from wsdoctor.checks.handshake_model import HandshakeAttempt, HandshakeObservation

    error = ("SSLError: [SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate "
             "required (_ssl.c:2580)")
    obs = observation(exchange(outcome="error", error=error))
    handshake = HandshakeObservation(
        url="wss://ws.example.com/ws", host_header="ws.example.com", attempts=[
            HandshakeAttempt(address="10.0.0.1", port=443, outcome="closed", error=error,
                             client_cert_requested=True, tls_alerts=["certificate required"])])
    results = {"http": CheckResult(id="http", status=CheckStatus.OK, observation=obs),
               "handshake": CheckResult(id="handshake", status=CheckStatus.OK,
                                        observation=handshake)}
    facts = Facts(target=parse_target("wss://ws.example.com/ws"), settings=Settings(), now=NOW,
                  results=results)
    assert codes(list(judge_failures(facts))) == []
    alone = judge("wss://ws.example.com/ws", obs)  # --only http: the alert names the cause
    assert codes(alone) == ["WSD-HTTP-CLOSED"]
    assert alone[0].fix is not None and "--cert" in alone[0].fix.summary


def test_parse_head_rejects_non_http() -> None:
    """A status line that is not HTTP/1.x is refused."""
    with pytest.raises(ValueError):
        _parse_head(b"SSH-2.0-OpenSSH_9.2")
    _, status, headers = _parse_head(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket")
    assert (status, headers) == (101, [("Upgrade", "websocket")])
