"""handshake rules on recorded answers: each refusal gets its cause and fix; addresses named."""

from datetime import UTC, datetime
from typing import Any

import pytest

from wsdoctor.checks import handshake
from wsdoctor.checks.handshake import (
    HandshakeAttempt,
    HandshakeObservation,
    HeaderField,
    judge_handshake,
    summarize_handshake,
)
from wsdoctor.checks.handshake_advice import classify
from wsdoctor.models import CheckResult, CheckStatus, Finding
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

URL = "wss://ws.example.com/chat"


def answer(status: int | None, body: str = "", outcome: str = "refused",
           address: str = "203.0.113.7", **headers: str) -> HandshakeAttempt:
    """A recorded answer: ``answer(502, 'bad gateway', Server='nginx')``."""
    reason = {101: "Switching Protocols", 200: "OK", 302: "Found", 400: "Bad Request",
              401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Not Allowed",
              426: "Upgrade Required", 429: "Too Many Requests", 502: "Bad Gateway",
              503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
    line = f"HTTP/1.1 {status} {reason.get(status or 0, 'X')}" if status else None
    return HandshakeAttempt(
        address=address, port=443, outcome=outcome, status_code=status,  # type: ignore[arg-type]
        status_line=line, body_start=body,
        headers=[HeaderField(name=k.replace("_", "-"), value=v) for k, v in headers.items()])


def judge(*attempts: HandshakeAttempt, url: str = URL, origin: str | None = None,
          **settings: Any) -> list[Finding]:
    target = parse_target(url)
    obs = HandshakeObservation(url=target.url, host_header=target.host_header, origin=origin,
                               attempts=list(attempts))
    facts = handshake.Facts(
        target=target, settings=Settings(**settings), now=datetime(2026, 1, 1, tzinfo=UTC),
        results={"handshake": CheckResult(id="handshake", status=CheckStatus.OK,
                                          observation=obs)})
    return list(judge_handshake(facts))


@pytest.mark.parametrize(("status", "code"), [
    (400, "WSD-HANDSHAKE-UPGRADE-NOT-FORWARDED"), (426, "WSD-HANDSHAKE-UPGRADE-NOT-FORWARDED"),
    (401, "WSD-HANDSHAKE-UNAUTHORIZED"), (403, "WSD-HANDSHAKE-FORBIDDEN"),
    (404, "WSD-HANDSHAKE-NOT-FOUND"), (301, "WSD-HANDSHAKE-REDIRECT"),
    (308, "WSD-HANDSHAKE-REDIRECT"), (429, "WSD-HANDSHAKE-RATE-LIMITED"),
    (503, "WSD-HANDSHAKE-UNAVAILABLE"), (502, "WSD-HANDSHAKE-BAD-GATEWAY"),
    (504, "WSD-HANDSHAKE-GATEWAY-TIMEOUT"), (200, "WSD-HANDSHAKE-UPGRADE-IGNORED"),
    (204, "WSD-HANDSHAKE-UPGRADE-IGNORED"), (405, "WSD-HANDSHAKE-REFUSED"),
    (500, "WSD-HANDSHAKE-REFUSED"),
])
def test_status_codes_are_classified(status: int, code: str) -> None:
    """Each refusal status maps to its finding code."""
    result = classify(answer(status))
    assert result is not None and result.code == code


@pytest.mark.parametrize(("outcome", "code"), [
    ("closed", "WSD-HANDSHAKE-NO-RESPONSE"), ("timeout", "WSD-HANDSHAKE-TIMEOUT"),
    ("garbage", "WSD-HANDSHAKE-NOT-HTTP"), ("connect_failed", "WSD-HANDSHAKE-CONNECT-FAILED"),
])
def test_answers_without_a_status_are_classified(outcome: str, code: str) -> None:
    """Closed, silent, garbage and failed connections each have their code."""
    result = classify(answer(None, outcome=outcome))
    assert result is not None and result.code == code


def test_upgraded_is_not_a_finding() -> None:
    """A valid 101 yields no handshake finding."""
    assert judge(answer(101, outcome="upgraded")) == []


def test_invalid_101_and_unparsable_head() -> None:
    """A 101 that fails validation is INVALID-101; a head that does not parse is MALFORMED."""
    assert classify(answer(101, outcome="invalid")).code == "WSD-HANDSHAKE-INVALID-101"  # type: ignore[union-attr]
    assert classify(answer(None, outcome="invalid")).code == "WSD-HANDSHAKE-MALFORMED-RESPONSE"  # type: ignore[union-attr]


def test_plain_http_to_tls_port_is_wrong_scheme() -> None:
    """nginx's 400 'plain HTTP request was sent to HTTPS port' says: use wss://."""
    (finding,) = judge(answer(400, "The plain HTTP request was sent to HTTPS port"),
                       url="ws://ws.example.com:443/chat")
    assert finding.code == "WSD-HANDSHAKE-WRONG-SCHEME"
    assert finding.fix is not None and "wss://ws.example.com/chat" in finding.fix.summary


def test_tls_alert_bytes_are_wrong_scheme() -> None:
    """A TLS alert record where HTTP was expected is a wrong scheme, not mere garbage."""
    attempt = answer(None, outcome="garbage").model_copy(update={"status_line": "\\x15\\x03\\x01"})
    assert classify(attempt).code == "WSD-HANDSHAKE-WRONG-SCHEME"  # type: ignore[union-attr]


def test_not_forwarded_quotes_status_and_gives_the_nginx_fix() -> None:
    """426 names the dropped hop-by-hop headers, ingress-nginx's default and the snippet."""
    (finding,) = judge(answer(426, "Upgrade Required", Server="nginx/1.25"))
    assert "'HTTP/1.1 426 Upgrade Required' (Server: nginx/1.25)" in finding.detail
    assert "ingress-nginx forwards them by default" in finding.detail
    assert finding.fix is not None and finding.fix.language == "nginx"
    assert "location /chat" in (finding.fix.snippet or "")
    assert finding.evidence["status_code"] == 426


def test_not_forwarded_behind_envoy_gives_the_envoy_fix() -> None:
    """When Envoy answered, the fix is its upgrade_configs."""
    (finding,) = judge(answer(400, Server="envoy"))
    assert finding.fix is not None and "upgrade_type: websocket" in (finding.fix.snippet or "")


def test_forbidden_without_origin_suggests_origin() -> None:
    """403 with no Origin sent: retry with --origin."""
    (finding,) = judge(answer(403))
    assert finding.fix is not None and "--origin" in finding.fix.summary


def test_forbidden_with_origin_names_it() -> None:
    """403 with an Origin sent: that origin is not allowed."""
    (finding,) = judge(answer(403), origin="https://app.example.com")
    assert "https://app.example.com" in finding.detail


def test_default_backend_404_names_host_and_path() -> None:
    """ingress-nginx's default backend: no Ingress rule matches host and path."""
    (finding,) = judge(answer(404, "default backend - 404"))
    assert "no Ingress rule matches host ws.example.com and path /chat" in finding.detail
    assert "pathType: Prefix" in (finding.fix.snippet or "")  # type: ignore[union-attr]


def test_redirect_to_https_says_use_wss() -> None:
    """ws:// redirected to https on the same host: use wss:// directly."""
    (finding,) = judge(answer(308, Location="https://ws.example.com/chat"),
                       url="ws://ws.example.com/chat")
    assert "browsers" in finding.detail.lower() or "Browsers" in finding.detail
    assert finding.fix is not None and "wss://ws.example.com/chat" in finding.fix.summary


def test_redirect_with_two_schemes_names_traefik() -> None:
    """Location https://wss://… is Traefik 2.7.2's RedirectScheme bug."""
    (finding,) = judge(answer(302, Location="https://wss://ws.example.com/chat"))
    assert "traefik#9155" in finding.detail


def test_relative_redirect_to_self_is_a_loop() -> None:
    """A relative Location to the same path is a redirect loop."""
    (finding,) = judge(answer(302, Location="/chat"))
    assert "redirect loop" in finding.detail


def test_one_address_of_three_is_named() -> None:
    """Two upgrade, one answers 502: the finding names that address and counts."""
    findings = judge(answer(101, outcome="upgraded", address="203.0.113.1"),
                     answer(502, address="203.0.113.2"),
                     answer(101, outcome="upgraded", address="203.0.113.3"))
    (finding,) = findings
    assert finding.code == "WSD-HANDSHAKE-BAD-GATEWAY"
    assert finding.resource is not None and finding.resource.name == "203.0.113.2:443"
    assert finding.detail.startswith("203.0.113.2:443 (1 of 3 addresses)")


def test_same_failure_everywhere_is_one_finding() -> None:
    """All addresses answering 503 alike: one finding naming all of them."""
    (finding,) = judge(answer(503, address="203.0.113.1"), answer(503, address="203.0.113.2"))
    assert finding.detail.startswith("all 2 addresses (203.0.113.1:443, 203.0.113.2:443)")
    assert finding.evidence["addresses"] == ["203.0.113.1:443", "203.0.113.2:443"]


def test_untrusted_certificate_is_reported_when_tls_did_not_run() -> None:
    """A certificate error seen by the handshake is a finding only without the tls check."""
    attempt = answer(101, outcome="upgraded").model_copy(
        update={"certificate_error": "certificate verify failed: self-signed certificate"})
    codes = [f.code for f in judge(attempt)]
    assert codes == ["WSD-HANDSHAKE-CERT-UNTRUSTED"]


def test_missing_subprotocol_is_a_warning() -> None:
    """Offered subprotocols and none chosen: a warning naming what was offered."""
    target = parse_target(URL)
    obs = HandshakeObservation(url=URL, host_header=target.host_header,
                               offered_subprotocols=["graphql-ws"],
                               attempts=[answer(101, outcome="upgraded")])
    facts = handshake.Facts(target=target, settings=Settings(), now=datetime.now(UTC),
                            results={"handshake": CheckResult(id="handshake",
                                                              status=CheckStatus.OK,
                                                              observation=obs)})
    (finding,) = judge_handshake(facts)
    assert finding.code == "WSD-HANDSHAKE-NO-SUBPROTOCOL" and finding.status == "warn"



def test_summary_of_a_refusal_quotes_the_status_line() -> None:
    """The check line shows what the first address answered."""
    obs = HandshakeObservation(url=URL, host_header="ws.example.com", attempts=[answer(502)])
    assert summarize_handshake(obs) == "no upgrade on 1 address: HTTP/1.1 502 Bad Gateway"


def test_wrong_accept_states_the_value_expected() -> None:
    """A wrong Sec-WebSocket-Accept: the detail gives the value RFC 6455 requires for the key."""
    attempt = answer(101, outcome="invalid", Sec_WebSocket_Accept="bogus=").model_copy(update={
        "error": "invalid Sec-WebSocket-Accept header: bogus=",
        "request_headers": [HeaderField(name="Sec-WebSocket-Key",
                                        value="dGhlIHNhbXBsZSBub25jZQ==")]})
    (finding,) = judge(attempt)
    assert finding.code == "WSD-HANDSHAKE-INVALID-101"
    assert "must be s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in finding.detail  # RFC 6455's own example


def test_tls_reset_names_the_step_and_istio() -> None:
    """A reset during the TLS handshake is named as such, with the Istio secret cause."""
    attempt = answer(None, outcome="connect_failed").model_copy(update={
        "failed_step": "tls", "error": "[Errno 104] Connection reset by peer",
        "error_type": "ConnectionResetError"})
    (finding,) = judge(attempt)
    assert "TLS handshake failed" in finding.detail and "credentialName" in finding.detail


def test_tls_failure_seen_by_the_tls_check_is_not_diagnosed_twice() -> None:
    """When the tls check also failed on the address, the handshake finding points there."""
    from wsdoctor.checks.tls import TlsAttempt, TlsObservation

    attempt = answer(None, outcome="connect_failed").model_copy(update={
        "failed_step": "tls", "error": "[Errno 104] Connection reset by peer"})
    target = parse_target(URL)
    obs = HandshakeObservation(url=URL, host_header=target.host_header, attempts=[attempt])
    tls = TlsObservation(host=target.host, server_name=target.host, trust="system",
                         alpn_offered=["http/1.1"], attempts=[
                             TlsAttempt(address="203.0.113.7", port=443, outcome="reset")])
    facts = handshake.Facts(target=target, settings=Settings(), now=datetime.now(UTC), results={
        "tls": CheckResult(id="tls", status=CheckStatus.OK, observation=tls),
        "handshake": CheckResult(id="handshake", status=CheckStatus.OK, observation=obs)})
    (finding,) = judge_handshake(facts)
    assert finding.code == "WSD-HANDSHAKE-CONNECT-FAILED"
    assert "see the tls check's finding" in finding.detail and "Istio" not in finding.detail


def test_plain_http_behind_a_failed_tls_explains_the_tls_symptom() -> None:
    """A TLS port that answers plain HTTP: WRONG-SCHEME is the root cause of the tls finding."""
    attempt = answer(None, outcome="connect_failed").model_copy(update={
        "failed_step": "tls", "error": "connection reset by the server",
        "plain_http_answer": "HTTP/1.1 400 Bad Request"})
    (finding,) = judge(attempt)
    assert finding.code == "WSD-HANDSHAKE-WRONG-SCHEME"
    assert "WSD-TLS-HANDSHAKE-RESET" in finding.explains
    assert finding.fix is not None
    assert finding.fix.summary.startswith("Use ws://ws.example.com:443/chat")


def test_a_403_after_an_unanswered_client_certificate_request_names_the_certificate() -> None:
    """nginx with ssl_verify_client optional and a rule that denies unverified clients (and
    HAProxy's 'verify optional' with a deny on ssl_c_verify) answer a plain 403: when the
    server asked for a client certificate and none was sent, that comes first in the cause
    and the fix (measured: the finding only spoke of Origin and IP allow-lists)."""
    attempt = answer(403, "<html><center>nginx</center>", Server="nginx/1.22.1")
    asked = attempt.model_copy(update={"client_cert_requested": True,
                                       "client_cert_sent": False,
                                       "acceptable_cas": ["CN=Corp Client CA"]})
    finding = judge(asked)[0]
    assert finding.code == "WSD-HANDSHAKE-FORBIDDEN"
    assert "client certificate" in finding.detail and "CN=Corp Client CA" in finding.detail
    assert finding.fix is not None and "--cert" in finding.fix.summary
    plain = judge(attempt)[0]
    assert "client certificate" not in plain.detail
    assert plain.fix is not None and "--cert" not in plain.fix.summary
    ingress = answer(403, "client certificate unauthorized", Server="nginx")
    assert "--cert" in (judge(ingress)[0].fix or plain.fix).summary
