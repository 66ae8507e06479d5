"""Rules of the http check: pure functions of the HTTP observation (and the TLS one, so a TLS
failure already reported is not reported again as an HTTP failure)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from urllib.parse import urljoin, urlsplit

from wsdoctor.checks.base import Code, Facts
from wsdoctor.checks.handshake_model import HandshakeObservation
from wsdoctor.checks.handshake_refusals import client_cert_refused
from wsdoctor.checks.http_probe import HttpExchange, HttpObservation
from wsdoctor.checks.proxy_rules import through_proxy
from wsdoctor.checks.tls_probe import TlsObservation
from wsdoctor.fingerprints import IDENTIFYING_HEADERS, identify
from wsdoctor.httpbody import body_text
from wsdoctor.models import EvidenceValue, Finding, Fix, Resource, Status
from wsdoctor.records import dataclass

NO_RESPONSE = Code("WSD-HTTP-NO-RESPONSE", Status.FAIL, "No HTTP response within the time limit")
CLOSED = Code("WSD-HTTP-CLOSED", Status.FAIL, "The connection closed before an HTTP response")
BAD_RESPONSE = Code("WSD-HTTP-BAD-RESPONSE", Status.FAIL, "The answer is not valid HTTP")
REDIRECT = Code("WSD-HTTP-REDIRECT", Status.WARN, "The WebSocket URL redirects")
REDIRECT_BROKEN = Code("WSD-HTTP-REDIRECT-BROKEN", Status.FAIL,
                       "A redirect points at a malformed URL")
REDIRECT_LOOP = Code("WSD-HTTP-REDIRECT-LOOP", Status.FAIL, "The URL redirects to itself")
NO_HTTPS_REDIRECT = Code("WSD-HTTP-NO-HTTPS-REDIRECT", Status.INFO,
                         "Plain HTTP is served without a redirect to HTTPS")
SERVER = Code("WSD-HTTP-SERVER", Status.INFO, "Who answered")
INCONSISTENT = Code("WSD-HTTP-INCONSISTENT", Status.WARN,
                    "Addresses of the name answer differently")

CODES = (NO_RESPONSE, CLOSED, BAD_RESPONSE, REDIRECT, REDIRECT_BROKEN, REDIRECT_LOOP,
         NO_HTTPS_REDIRECT, SERVER, INCONSISTENT)

_SCHEMES = ("http", "https", "ws", "wss")


@dataclass(frozen=True)
class RedirectVerdict:
    """Where a Location header really points, and what is wrong with it."""

    resolved: str
    broken: str | None = None
    loop: bool = False
    to_https: bool = False
    other_host: str | None = None
    new_path: str | None = None


def _normal(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = parts.port or default
    return parts.scheme, (parts.hostname or "").rstrip("."), port, parts.path or "/"


def analyse_redirect(request_url: str, location: str, host: str) -> RedirectVerdict:
    """Resolve ``location`` against the request and judge it (KNOWLEDGE §2.19: a Location of
    ``https://wss://…`` comes from Traefik 2.7.2's RedirectScheme)."""
    resolved = urljoin(request_url, location.strip())
    try:
        scheme, target_host, _, path = _normal(resolved)
        netloc = urlsplit(resolved).netloc
    except ValueError as exc:
        return RedirectVerdict(resolved, broken=f"it cannot be parsed ({exc})")
    if scheme not in ("http", "https"):
        return RedirectVerdict(resolved, broken=f"its scheme {scheme or '(none)'!r} is not "
                               "http or https, so HTTP clients cannot follow it")
    if target_host in _SCHEMES or netloc.endswith(":"):
        return RedirectVerdict(resolved, broken="a scheme is nested in the host name "
                               "(like https://wss://…)")
    if not target_host:
        return RedirectVerdict(resolved, broken="it has no host name")
    loop = _normal(resolved)[:4] == _normal(request_url)[:4] and (
        urlsplit(resolved).query == urlsplit(request_url).query
    )
    request_path = _normal(request_url)[3]
    return RedirectVerdict(
        resolved,
        loop=loop,
        to_https=scheme == "https",
        other_host=target_host if target_host != host.lower().rstrip(".") else None,
        new_path=path if path != request_path else None,
    )


def _where(exchanges: Sequence[HttpExchange], obs: HttpObservation) -> Resource:
    """The address when the finding is about one, else the URL all of them answered for."""
    if len(exchanges) == 1:
        return Resource(kind="Address", name=exchanges[0].endpoint)
    return Resource(kind="URL", name=exchanges[0].url)


def _endpoints(exchanges: Sequence[HttpExchange]) -> str:
    return ", ".join(e.endpoint for e in exchanges)


def _failed_tls(facts: Facts) -> set[str]:
    tls = facts.get(TlsObservation)
    if tls is None:
        return set()
    return {a.address for a in tls.attempts if a.outcome != "completed"}


def _client_cert_refused(facts: Facts) -> set[str]:
    """Addresses whose upgrade was refused for want of a client certificate (TLS 1.3 sends
    that alert after the handshake: the GET fails on its first read, for the same cause)."""
    handshake = facts.get(HandshakeObservation)
    if handshake is None:
        return set()
    return {a.address for a in handshake.attempts if client_cert_refused(a)}


def judge_failures(facts: Facts) -> Iterator[Finding]:
    """Target requests that got no usable HTTP answer (TLS failures are the tls check's, a
    client certificate's refusal the handshake check's); through a forward proxy, silence or
    a closed tunnel may be the proxy's."""
    for finding in _failures(facts):
        yield through_proxy(finding, facts.settings.proxy) if finding.code in (
            NO_RESPONSE.code, CLOSED.code) else finding


def _failures(facts: Facts) -> Iterator[Finding]:
    obs = facts.get(HttpObservation)
    if obs is None:
        return
    tls_failed = _failed_tls(facts) | _client_cert_refused(facts)
    groups: dict[tuple[str, str | None], list[HttpExchange]] = {}
    for exchange in obs.target_exchanges:
        if exchange.outcome in ("response", "connect_failed"):
            continue
        if exchange.outcome in ("tls_failed", "error", "closed", "reset") and \
                exchange.address in tls_failed and (exchange.outcome == "tls_failed"
                                                    or "SSL" in (exchange.error or "")):
            continue
        groups.setdefault((exchange.outcome, exchange.error), []).append(exchange)
    for (outcome, error), group in groups.items():
        evidence: dict[str, EvidenceValue] = {
            "addresses": [e.endpoint for e in group], "outcome": outcome, "error": error,
        }
        where = f"GET {group[0].url} on {_endpoints(group)}"
        if outcome == "timeout":
            yield NO_RESPONSE.finding(
                "http", f"{where}: {error}.", evidence=evidence, resource=_where(group, obs),
                fix=Fix(summary="The proxy accepted the request but neither it nor the backend "
                        "answered: check the backend pods (kubectl logs), the proxy's upstream "
                        "timeouts, and that the Service selects ready pods."),
            )
        elif outcome in ("closed", "reset", "tls_failed", "error"):
            wants_cert = "certificate required" in (error or "").lower().replace("_", " ")
            yield CLOSED.finding(
                "http", f"{where}: {error}.", evidence=evidence, resource=_where(group, obs),
                fix=Fix(summary="The server requires a client certificate (its TLS alert says "
                        "so): give one with --cert FILE --key FILE.") if wants_cert else
                Fix(summary="Something on the path drops HTTP requests: check the proxy's "
                    "logs for this request (an upstream that crashes, a limit such as "
                    "limit-connections, or a WAF), and whether the port expects TLS."),
            )
        else:
            yield BAD_RESPONSE.finding(
                "http", f"{where}: {error}.", evidence=evidence, resource=_where(group, obs),
                fix=Fix(summary="What listens here is not an HTTP server (or sends an oversized "
                        "head): check which process owns the port and the Service's "
                        "targetPort; proxies reject heads over their buffer size "
                        "(ingress-nginx large-client-header-buffers)."),
            )


def _redirect_findings(group: Sequence[HttpExchange], obs: HttpObservation,
                       facts: Facts) -> Iterator[Finding]:
    first = group[0]
    location = first.location or ""
    verdict = analyse_redirect(first.url, location, obs.host)
    evidence: dict[str, EvidenceValue] = {
        "addresses": [e.endpoint for e in group], "status": first.status_line,
        "location": location, "resolved": verdict.resolved,
    }
    seen = f"GET {first.url} answers '{first.status_line}' with Location: {location}"
    if verdict.broken is not None:
        yield REDIRECT_BROKEN.finding(
            "http", f"{seen}; the Location is malformed: {verdict.broken}.",
            evidence=evidence, resource=_where(group, obs),
            fix=Fix(summary="Fix the redirect rule that builds this Location. Traefik 2.7.2's "
                    "RedirectScheme produced https://wss://… for WebSocket requests "
                    "(traefik#9155): upgrade Traefik, or redirect with an explicit "
                    "scheme and port."),
        )
        return
    if verdict.loop:
        yield REDIRECT_LOOP.finding(
            "http", f"{seen}: the same URL, so every client loops. Typical: TLS ends at a "
            "load balancer in front of the ingress controller, which sees plain HTTP and "
            "redirects to HTTPS again (ssl-redirect / force-ssl-redirect).",
            evidence=evidence, resource=_where(group, obs),
            fix=Fix(summary="Let the controller trust the load balancer's X-Forwarded-Proto "
                    "(ingress-nginx ConfigMap use-forwarded-headers: \"true\"), or stop "
                    "redirecting at the controller when the load balancer already does.",
                    snippet='data:\n  use-forwarded-headers: "true"\n', language="yaml"),
        )
        return
    if first.purpose == "plain_http":
        if not verdict.to_https:
            yield from _no_https(first, f"{seen}, which is not HTTPS", evidence)
        return
    notes = []
    scheme = urlsplit(first.url).scheme
    if scheme == "http" and verdict.to_https:
        notes.append("plain HTTP is redirected to HTTPS: connect with wss:// instead of ws://")
    if verdict.other_host:
        notes.append(f"it sends clients to another host, {verdict.other_host}")
    if verdict.new_path and verdict.new_path.rstrip("/") == urlsplit(first.url).path.rstrip("/"):
        notes.append(f"only the trailing slash differs: connect to {verdict.new_path} or make "
                     "the route match the path without it")
    elif verdict.new_path:
        notes.append(f"the path changes to {verdict.new_path}")
    yield REDIRECT.finding(
        "http",
        f"{seen}. WebSocket clients do not follow redirects (browsers fail the connection), so "
        "the upgrade will fail the same way" + (f"; {'; '.join(notes)}" if notes else "") + ".",
        title=("ws:// is redirected to HTTPS: use wss://" if scheme == "http"
               and verdict.to_https else None),
        evidence=evidence, resource=_where(group, obs),
        fix=Fix(summary=f"Connect to the final URL {_as_websocket(verdict.resolved)} directly, "
                "or remove the redirect for the WebSocket path."),
    )


def _as_websocket(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return {"https": "wss", "http": "ws"}.get(scheme, scheme) + sep + rest


def _no_https(exchange: HttpExchange, seen: str,
              evidence: dict[str, EvidenceValue]) -> Iterator[Finding]:
    yield NO_HTTPS_REDIRECT.finding(
        "http",
        f"{seen}. ws:// clients would talk in the clear; browsers on an https:// page "
        "cannot use ws:// at all.",
        evidence=evidence,
        resource=Resource(kind="Address", name=exchange.endpoint),
        fix=Fix(summary="Redirect plain HTTP to HTTPS (ingress-nginx does so by default for "
                "hosts in spec.tls: annotation nginx.ingress.kubernetes.io/ssl-redirect; "
                "force-ssl-redirect when TLS ends at a load balancer).",
                snippet='metadata:\n  annotations:\n    nginx.ingress.kubernetes.io/'
                'force-ssl-redirect: "true"\n', language="yaml"),
    )


def judge_redirects(facts: Facts) -> Iterator[Finding]:
    """Redirects of the WebSocket URL, and whether port 80 sends clients to HTTPS."""
    obs = facts.get(HttpObservation)
    if obs is None:
        return
    groups: dict[tuple[int | None, str | None], list[HttpExchange]] = {}
    for exchange in obs.target_exchanges:
        if exchange.location is not None:
            groups.setdefault((exchange.status, exchange.location), []).append(exchange)
    for group in groups.values():
        yield from _redirect_findings(group, obs, facts)
    plain = obs.plain_exchange
    if plain is None or plain.outcome != "response":
        return
    if plain.location is not None:
        yield from _redirect_findings([plain], obs, facts)
    else:
        yield from _no_https(plain, f"GET {plain.url} answers '{plain.status_line}' without "
                             "redirecting to HTTPS", {"status": plain.status_line})


def _identity(exchange: HttpExchange) -> tuple[str, ...]:
    pairs = [(h.name, h.value) for h in exchange.headers]
    return tuple(identify(pairs, exchange.body_start or ""))


def _identifying(exchange: HttpExchange) -> list[str]:
    from wsdoctor.fingerprints import HEADER_TELLS

    shown = []
    for h in exchange.headers:
        lowered = h.name.lower()
        if lowered in IDENTIFYING_HEADERS or any(t.matches(h.name, h.value) for t in HEADER_TELLS):
            shown.append(f"{h.name}: {h.value}")
    return shown


def judge_servers(facts: Facts) -> Iterator[Finding]:
    """Name the proxy that answered (info), and flag addresses that answer differently."""
    obs = facts.get(HttpObservation)
    if obs is None:
        return
    answered = [e for e in obs.target_exchanges if e.outcome == "response"]
    by_identity: dict[tuple[str, ...], list[HttpExchange]] = {}
    for exchange in answered:
        by_identity.setdefault(_identity(exchange), []).append(exchange)
    for identity, group in by_identity.items():
        if not identity:
            continue
        first = group[0]
        headers = _identifying(first)
        body = body_text(first.body_start or "", 60)
        yield SERVER.finding(
            "http",
            f"{_endpoints(group)} answered '{first.status_line}': {', '.join(identity)}"
            + (f" ({'; '.join(headers)})" if headers else "")
            + (f"; body starts '{body}'" if body else "") + ".",
            title=f"Answered by {identity[0]}",
            evidence={"components": list(identity), "headers": [*headers],
                      "addresses": [e.endpoint for e in group], "status": first.status},
            resource=_where(group, obs),
        )
    kinds = {(e.status, _identity(e)) for e in answered}
    if len(kinds) > 1:
        parts = [f"{e.endpoint} → {e.status} {'/'.join(_identity(e)) or 'unidentified'}"
                 for e in answered]
        yield INCONSISTENT.finding(
            "http",
            f"GET {answered[0].url} gets different answers: {'; '.join(parts)}. Clients that "
            "land on different addresses see different behaviour.",
            evidence={"answers": [*parts]},
            resource=Resource(kind="URL", name=answered[0].url),
            fix=Fix(summary="Compare the proxies behind each address (wsdoctor --resolve "
                    "HOST:PORT:ADDR tests one): a stale replica, another cluster or a load "
                    "balancer pointing at the wrong target."),
        )
