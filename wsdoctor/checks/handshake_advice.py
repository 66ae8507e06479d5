"""What a refused or broken upgrade means: the finding codes of the handshake check, how an
answer is classified, and the likely cause and fix of each class (KNOWLEDGE.md §2).

Pure functions of recorded answers, so every classification is unit-tested on plain data.
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urljoin, urlsplit

from wsdoctor.checks.base import Code
from wsdoctor.checks.handshake_access import (
    PROXY_REJECTED,
    forbidden,
    proxy_rejected,
    proxy_rejected_cause,
    rate_limited,
    unauthorized,
)
from wsdoctor.checks.handshake_model import HandshakeAttempt, HandshakeObservation
from wsdoctor.checks.handshake_refusals import (
    BAD_REQUEST,
    CLIENT_CERT,
    HEADERS_TOO_LARGE,
    HTTP_VERSION,
    bad_request,
    classify_by_body,
    client_cert,
    client_cert_refused,
    client_cert_title,
    downgraded_to_http10,
    headers_too_large,
    http_version,
    nginx_upgrade_snippet,
    not_forwarded,
    refused,
)
from wsdoctor.httpbody import body_text
from wsdoctor.models import EvidenceValue, Fix, Status, Target
from wsdoctor.records import dataclass

F = Status.FAIL
UPGRADE_NOT_FORWARDED = Code("WSD-HANDSHAKE-UPGRADE-NOT-FORWARDED", F,
                             "A proxy did not forward the Upgrade/Connection headers")
UNAUTHORIZED = Code("WSD-HANDSHAKE-UNAUTHORIZED", F, "The upgrade needs credentials (401)")
FORBIDDEN = Code("WSD-HANDSHAKE-FORBIDDEN", F, "The upgrade is forbidden (403)")
NOT_FOUND = Code("WSD-HANDSHAKE-NOT-FOUND", F, "No route for this host and path (404)")
REDIRECT = Code("WSD-HANDSHAKE-REDIRECT", F,
                "The upgrade is redirected (WebSocket clients do not follow redirects)")
RATE_LIMITED = Code("WSD-HANDSHAKE-RATE-LIMITED", F, "The upgrade is rate-limited (429)")
UNAVAILABLE = Code("WSD-HANDSHAKE-UNAVAILABLE", F,
                   "Service unavailable (503): no ready endpoints or a connection limit")
BAD_GATEWAY = Code("WSD-HANDSHAKE-BAD-GATEWAY", F,
                   "Bad gateway (502): the proxy found no working backend")
GATEWAY_TIMEOUT = Code("WSD-HANDSHAKE-GATEWAY-TIMEOUT", F,
                       "Gateway timeout (504): the backend did not answer the proxy in time")
UPGRADE_IGNORED = Code("WSD-HANDSHAKE-UPGRADE-IGNORED", F,
                       "The upgrade was answered like a plain HTTP request")
WRONG_SCHEME = Code("WSD-HANDSHAKE-WRONG-SCHEME", F,
                    "The URL's scheme does not match the port (ws:// vs wss://)")
REFUSED = Code("WSD-HANDSHAKE-REFUSED", F, "The upgrade was refused")
NO_RESPONSE = Code("WSD-HANDSHAKE-NO-RESPONSE", F, "The connection closed without a response")
TIMEOUT = Code("WSD-HANDSHAKE-TIMEOUT", F, "No response to the upgrade within the time limit")
NOT_HTTP = Code("WSD-HANDSHAKE-NOT-HTTP", F, "The server answered with bytes that are not HTTP")
MALFORMED_RESPONSE = Code("WSD-HANDSHAKE-MALFORMED-RESPONSE", F,
                          "The response to the upgrade is not valid HTTP")
INVALID_101 = Code("WSD-HANDSHAKE-INVALID-101", F, "The 101 response breaks the WebSocket protocol")
CONNECT_FAILED = Code("WSD-HANDSHAKE-CONNECT-FAILED", F,
                      "No connection could be opened for the upgrade")
CERT_UNTRUSTED = Code("WSD-HANDSHAKE-CERT-UNTRUSTED", F,
                      "The certificate is not trusted (the upgrade was tested past it)")
NO_SUBPROTOCOL = Code("WSD-HANDSHAKE-NO-SUBPROTOCOL", Status.WARN,
                      "None of the offered subprotocols was accepted")

ALL_CODES = (UPGRADE_NOT_FORWARDED, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, REDIRECT, RATE_LIMITED,
             UNAVAILABLE, BAD_GATEWAY, GATEWAY_TIMEOUT, UPGRADE_IGNORED, WRONG_SCHEME, REFUSED,
             NO_RESPONSE, TIMEOUT, NOT_HTTP, MALFORMED_RESPONSE, INVALID_101, CONNECT_FAILED,
             CERT_UNTRUSTED, NO_SUBPROTOCOL, HEADERS_TOO_LARGE, BAD_REQUEST, HTTP_VERSION,
             CLIENT_CERT, PROXY_REJECTED)

_BY_STATUS = {400: UPGRADE_NOT_FORWARDED, 426: UPGRADE_NOT_FORWARDED, 401: UNAUTHORIZED,
              403: FORBIDDEN, 404: NOT_FOUND, 429: RATE_LIMITED, 503: UNAVAILABLE,
              502: BAD_GATEWAY, 504: GATEWAY_TIMEOUT}
_BY_OUTCOME = {"closed": NO_RESPONSE, "timeout": TIMEOUT, "garbage": NOT_HTTP,
               "connect_failed": CONNECT_FAILED}
#: Headers worth quoting from a refusal: who answered, where it points, what it wants.
QUOTED_HEADERS = ("Server", "Location", "WWW-Authenticate", "Retry-After", "Content-Type",
                  "Upgrade", "Connection", "Sec-WebSocket-Accept", "Via", "X-Served-By",
                  "X-Retry-In")
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PLAIN_TO_TLS = "plain http request was sent to https port"


def expected_accept(key: str) -> str:
    """The Sec-WebSocket-Accept a server must answer to ``key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1((key + WEBSOCKET_GUID).encode(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def classify(attempt: HandshakeAttempt) -> Code | None:
    """The code for an answer, or None when the upgrade succeeded."""
    if attempt.outcome == "upgraded":
        return None
    if client_cert_refused(attempt):  # a 400 page or a TLS alert: both name the certificate
        return CLIENT_CERT
    if downgraded_to_http10(attempt):
        return HTTP_VERSION
    if proxy_rejected(attempt):
        return PROXY_REJECTED
    if attempt.outcome == "garbage":
        return WRONG_SCHEME if _looks_like_tls(attempt) else NOT_HTTP
    if attempt.outcome == "connect_failed" and attempt.plain_http_answer:
        return WRONG_SCHEME
    if attempt.outcome in _BY_OUTCOME:
        return _BY_OUTCOME[attempt.outcome]
    code = attempt.status_code
    if code is None:
        return MALFORMED_RESPONSE
    if code == 101:
        return INVALID_101
    if code == 400 and PLAIN_TO_TLS in attempt.body_start.lower():
        return WRONG_SCHEME
    if code in (400, 431) and (by_body := classify_by_body(code, attempt.body_start)):
        return by_body
    if 300 <= code < 400:
        return REDIRECT
    if 200 <= code < 300:
        return UPGRADE_IGNORED
    return _BY_STATUS.get(code, REFUSED)


def _looks_like_tls(attempt: HandshakeAttempt) -> bool:
    """A TLS alert record (0x15 0x03) where HTTP was expected."""
    return (attempt.status_line or "").startswith("\\x15\\x03")


@dataclass(frozen=True)
class Advice:
    """The words of one finding: what was seen, why, and what to change."""

    title: str
    seen: str
    cause: str
    fix: Fix
    evidence: dict[str, EvidenceValue]


def _seen(attempt: HandshakeAttempt) -> str:
    if attempt.outcome == "connect_failed":
        step = "TLS handshake" if attempt.failed_step == "tls" else "TCP connect"
        kind = f" ({attempt.error_type})" if attempt.error_type not in (None, attempt.error) else ""
        return f"{step} failed: {attempt.error}{kind}"
    if attempt.status_line is None or attempt.outcome in ("closed", "timeout"):
        text = attempt.error or attempt.outcome
        if attempt.status_line:
            text += f"; it began '{attempt.status_line}'"
        return text
    quoted = [f"{n}: {v}" for n in ("Server", "Location", "WWW-Authenticate", "Retry-After")
              if (v := attempt.header(n))]
    text = f"answered '{attempt.status_line}'" + (f" ({'; '.join(quoted)})" if quoted else "")
    body = body_text(attempt.body_start)
    if body:
        text += f", body: '{body}'"
    if attempt.outcome == "invalid" and attempt.error:
        text += f"; {attempt.error}"
    return text


def _evidence(attempt: HandshakeAttempt) -> dict[str, EvidenceValue]:
    evidence: dict[str, EvidenceValue] = {
        "outcome": attempt.outcome,
        "status_code": attempt.status_code,
        "status_line": attempt.status_line,
        "body_start": attempt.body_start or None,
        "error": attempt.error,
    }
    for name in QUOTED_HEADERS:
        value = attempt.header(name)
        if value is not None:
            evidence[f"header {name}"] = value
    if attempt.upgrade_s is not None:
        evidence["response_s"] = attempt.upgrade_s
    return {k: v for k, v in evidence.items() if v is not None}


def advise(code: Code, attempt: HandshakeAttempt, obs: HandshakeObservation,
           target: Target) -> Advice:
    """Cause and fix for one classified answer, specialised with what it quoted."""
    from wsdoctor.checks.handshake_traefik import traefik_advice

    title = client_cert_title(attempt) if code is CLIENT_CERT else code.title
    if (traefik := traefik_advice(attempt, target)) is not None:
        title, cause, fix = traefik
    else:
        cause, fix = _CAUSES.get(code.code, refused)(attempt, obs, target)
    return Advice(title=title, seen=_seen(attempt), cause=cause, fix=fix,
                  evidence=_evidence(attempt))


def _server(attempt: HandshakeAttempt) -> str:
    return (attempt.header("Server") or "").lower()


def _not_found(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    if "default backend" in a.body_start.lower():
        cause = (f"ingress-nginx's default backend answered: no Ingress rule matches host "
                 f"{t.host} and path {t.path}.")
    else:
        cause = (f"Nothing is routed at {t.path} for host {t.host}: the Ingress/HTTPRoute path "
                 "or pathType does not match (Exact vs Prefix, a missing trailing /socket.io/, a "
                 "rewrite-target), or the application serves its socket on another path.")
    snippet = f"""spec:
  rules:
  - host: {t.host}
    http:
      paths:
      - path: {t.path}
        pathType: Prefix
        backend:
          service: {{name: SERVICE, port: {{number: PORT}}}}"""
    return cause, Fix(summary=f"Route {t.path} on {t.host} to the WebSocket Service.",
                      snippet=snippet, language="yaml")


def _redirect(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    location = a.header("Location")
    if not location:
        return (f"A {a.status_code} without a Location header.",
                Fix(summary="Serve the WebSocket path without a redirect."))
    http_url = ("https:" if t.secure else "http:") + t.url.split(":", 1)[1]
    resolved = urljoin(http_url, location)
    cause = f"It points to {resolved}. Browsers and most WebSocket clients do not follow " \
            "redirects on an upgrade, so the connection fails."
    if "://wss://" in resolved or "://ws://" in resolved:
        cause += (" The Location nests two schemes: Traefik 2.7.2's RedirectScheme does this "
                  "for WebSocket requests (traefik#9155).")
        return cause, Fix(summary="Upgrade Traefik past 2.7.2, or exclude the WebSocket router "
                          "from the RedirectScheme middleware.")
    if resolved.rstrip("/") == http_url.rstrip("/"):
        cause += " It redirects to the very URL requested: a redirect loop."
        return cause, Fix(summary="Break the loop: a proxy redirects to its own URL, often an "
                          "HTTP→HTTPS redirect behind a TLS-terminating load balancer that "
                          "forwards plain HTTP (trust X-Forwarded-Proto / use-forwarded-headers).")
    parts = urlsplit(resolved)
    if not t.secure and parts.scheme == "https" and parts.hostname == t.host:
        return cause + " The plain endpoint redirects to HTTPS.", Fix(
            summary=f"Use wss://{t.host_header if parts.port is None else parts.netloc}"
                    f"{parts.path or '/'} directly.")
    return cause, Fix(summary=f"Point clients at the final URL ({resolved}, with ws/wss), or "
                      "stop redirecting the WebSocket path.")


def _unavailable(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    cause = ("ingress-nginx answers 503 when the Service has no ready endpoints (pods not "
             "ready, selector matches nothing) and when limit-connections is exceeded; Envoy "
             "answers 503 on circuit-breaker overflow (every WebSocket holds one connection).")
    return cause, Fix(summary="Check that the Service has ready endpoints and that the pods "
                      "pass their readiness probe.", language="shell",
                      snippet="kubectl get endpointslices -A -l kubernetes.io/service-name=SERVICE"
                      "\nkubectl get pods -l APP_SELECTOR -o wide")


def _bad_gateway(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    cause = ("The proxy could not get an answer from any backend: no ready pod, the Service "
             "port points at a port nothing listens on (targetPort), the backend speaks TLS "
             "while the proxy sends plain HTTP (backend-protocol), or a NetworkPolicy blocks "
             "the ingress controller.")
    return cause, Fix(summary="Check the Service's endpoints and targetPort, and the proxy's "
                      "error log for the upstream error.", language="shell",
                      snippet="kubectl get endpointslices -A -l kubernetes.io/service-name=SERVICE"
                      "\nkubectl -n ingress-nginx logs deploy/ingress-nginx-controller | "
                      "grep -i upstream")


def _gateway_timeout(a: HandshakeAttempt, o: HandshakeObservation,
                     t: Target) -> tuple[str, Fix]:
    cause = ("The proxy connected (or tried to) but the backend did not answer within its "
             "connect/read timeout: an overloaded or stuck application, or packets dropped by a "
             "NetworkPolicy or security group between the proxy and the pods.")
    return cause, Fix(summary="Check the application's health and the path from the proxy to "
                      "the pods; ingress-nginx: proxy-connect-timeout covers only the connect.")


def _ignored(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    kind = a.header("Content-Type") or "no content type"
    cause = (f"A {a.status_code} ({kind}) instead of 101: the request reached a plain HTTP "
             "server — a single-page-app fallback serving index.html, a route pointing at the "
             "wrong Service or port — or a proxy stripped Upgrade and the app served a page.")
    return cause, Fix(summary=f"Route {t.path} to the WebSocket server, and check that every "
                      "proxy forwards Upgrade/Connection.", snippet=nginx_upgrade_snippet(t.path),
                      language="nginx")


def _wrong_scheme(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    host = f"[{t.host}]" if ":" in t.host else t.host
    if a.plain_http_answer:
        port = "" if t.port == 80 else f":{t.port}"
        return (f"The TLS handshake failed, and a plain HTTP request to the same port got "
                f"'{a.plain_http_answer}': this port speaks plain HTTP, not TLS.",
                Fix(summary=f"Use ws://{host}{port}{t.path}, or the port where TLS is served "
                    "(usually 443)."))
    port = "" if t.port == 443 else f":{t.port}"
    return ("This port speaks TLS, but the request was sent in the clear.",
            Fix(summary=f"Use wss://{host}{port}{t.path}."))


def _no_response(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    partial = " after part of a response" if a.status_line else ""
    cause = (f"The connection was closed{partial} before a complete answer: the proxy or "
             "application crashed or rejected the request without an error page (request "
             "headers too large, a connection limit, a TCP proxy whose backend closed).")
    return cause, Fix(summary="Read the error log of the component at this address at the "
                      "time of the request (kubectl logs of the ingress controller).")


def _timeout(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    cause = ("The server accepted the connection and the request but never answered: a proxy "
             "waiting on a backend that does not respond, a TCP pass-through to something that "
             "does not speak HTTP, or a path that drops large packets (MTU).")
    return cause, Fix(summary="Retry with a longer --timeout to see whether an answer comes "
                      "late; then follow the request through each proxy's log.")


def _not_http(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    return (f"The port speaks another protocol (it began '{a.status_line or ''}'): the "
            "address or port is not the HTTP(S) entry point.",
            Fix(summary="Check the port: the ingress's LoadBalancer Service exposes 80/443; a "
                "NodePort or a TCP service may serve something else."))


def _malformed(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    what = "A header line is longer than 8 KB" if "8192 bytes" in (a.error or "") \
        else "The response head could not be parsed"
    return (f"{what}. Clients (browsers, websockets) reject such a response the same way; "
            "oversized headers (huge cookies, debug headers) or a broken proxy cause this.",
            Fix(summary="Find the component that writes this response (quoted above) and fix "
                "its headers."))


def _invalid_101(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    cause = ("A wrong Sec-WebSocket-Accept means the answer was computed for another key — a "
             "caching or replaying proxy, or a broken server; a missing Upgrade/Connection means "
             "a proxy rewrote the response.")
    key = next((h.value for h in a.request_headers if h.name.lower() == "sec-websocket-key"),
               None)
    if key and a.header("Sec-WebSocket-Accept"):
        cause += f" For the key sent, the accept value must be {expected_accept(key)}."
    return cause, Fix(summary="Do not cache or rewrite upgrade responses; let the application's "
                      "WebSocket library write the 101.")


def _connect_failed(a: HandshakeAttempt, o: HandshakeObservation,
                    t: Target) -> tuple[str, Fix]:
    if a.failed_step == "tls":
        cause = ("The TLS handshake failed after TCP connected"
                 + (": the server reset it. No certificate is served for this name — an Istio "
                    "gateway whose credentialName secret is missing or in another namespace, "
                    "or SNI routing with no match." if a.error_type == "ConnectionResetError"
                    else "."))
        return cause, Fix(summary="Check that a TLS secret serves this host on this address "
                          "(see the tls check); Istio: the Gateway's credentialName secret must "
                          "be in the gateway's namespace.")
    return ("TCP connected in the tcp check but not for the upgrade: the address is flapping "
            "or a connection limit was hit.",
            Fix(summary="Retry; if it persists, check the load balancer's health and limits."))


_CAUSES = {
    UPGRADE_NOT_FORWARDED.code: not_forwarded, UNAUTHORIZED.code: unauthorized,
    FORBIDDEN.code: forbidden, NOT_FOUND.code: _not_found, REDIRECT.code: _redirect,
    RATE_LIMITED.code: rate_limited, UNAVAILABLE.code: _unavailable,
    BAD_GATEWAY.code: _bad_gateway, GATEWAY_TIMEOUT.code: _gateway_timeout,
    UPGRADE_IGNORED.code: _ignored, WRONG_SCHEME.code: _wrong_scheme,
    NO_RESPONSE.code: _no_response, TIMEOUT.code: _timeout, NOT_HTTP.code: _not_http,
    MALFORMED_RESPONSE.code: _malformed, INVALID_101.code: _invalid_101,
    CONNECT_FAILED.code: _connect_failed, HEADERS_TOO_LARGE.code: headers_too_large,
    BAD_REQUEST.code: bad_request, HTTP_VERSION.code: http_version,
    CLIENT_CERT.code: client_cert, PROXY_REJECTED.code: proxy_rejected_cause,
}
