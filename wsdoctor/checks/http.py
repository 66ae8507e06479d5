"""http: a plain GET of the WebSocket URL on every reachable address — status, redirects and
where they point, and which proxy answered — plus, for wss on the default port, whether plain
HTTP on port 80 redirects to HTTPS."""

from __future__ import annotations

from wsdoctor.checks import http_rules
from wsdoctor.checks.base import Check, Hop, Observation, rule
from wsdoctor.checks.http_probe import HttpExchange, HttpHeader, HttpObservation, probe_http
from wsdoctor.fingerprints import identify

__all__ = ["CHECK", "HttpExchange", "HttpHeader", "HttpObservation"]


def _describe(exchange: HttpExchange) -> str:
    if exchange.outcome != "response":
        return exchange.outcome.replace("_", " ")
    text = str(exchange.status)
    if exchange.location:
        text += f" → {exchange.location}"
    who = identify([(h.name, h.value) for h in exchange.headers], exchange.body_start or "")
    return f"{text} ({who[0]})" if who else text


def summarize_http(obs: Observation) -> str:
    """``GET /ws: 426 (Python websockets server); port 80: 308 → https://host/ws``."""
    assert isinstance(obs, HttpObservation)
    targets = obs.target_exchanges
    answers = sorted({_describe(e) for e in targets})
    path = targets[0].url.split("/", 3)[-1] if targets else ""
    text = f"GET /{path}: {', '.join(answers)}"
    plain = obs.plain_exchange
    if plain is not None:
        text += f"; port 80: {_describe(plain)}"
    return text


CHECK = Check(
    id="http",
    title="Plain HTTP request",
    hop=Hop.UPGRADE,
    probe=probe_http,
    needs=("tcp",),
    rules=(
        rule(http_rules.judge_failures, "tls", "handshake"),
        rule(http_rules.judge_redirects),
        rule(http_rules.judge_servers),
    ),
    codes=http_rules.CODES,
    summarize=summarize_http,
)
