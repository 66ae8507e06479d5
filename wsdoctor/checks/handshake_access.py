"""Refusals by an access rule: credentials (401), a forbidden request (403), a rate limit
(429), and a proxy's own 400 for a request it would not parse. Whose page it is decides the
cause: a proxy's built-in error page means the proxy refused, not the application.
"""

from __future__ import annotations

from wsdoctor.checks.base import Code
from wsdoctor.checks.handshake_model import HandshakeAttempt, HandshakeObservation
from wsdoctor.models import Fix, Status, Target

PROXY_REJECTED = Code("WSD-HANDSHAKE-PROXY-REJECTED", Status.FAIL,
                      "A proxy rejected the request as invalid or too large (400)")

#: HAProxy's built-in error pages (src/http_htx.c, http_err_msgs): the proxy itself answered.
HAPROXY_400 = "your browser sent an invalid request"
HAPROXY_403 = "request forbidden by administrative rules"
#: ingress-nginx's answer when auth-tls-match-cn does not match the client certificate
#: (rootfs/etc/nginx/template/nginx.tmpl: return 403 "client certificate unauthorized").
INGRESS_CN_403 = "client certificate unauthorized"


def proxy_rejected(a: HandshakeAttempt) -> bool:
    """HAProxy's own 400 page: it refused the request before any backend saw it."""
    return a.status_code == 400 and HAPROXY_400 in a.body_start.lower()


def proxy_rejected_cause(a: HandshakeAttempt, o: HandshakeObservation,
                         t: Target) -> tuple[str, Fix]:
    """Cause and fix of PROXY-REJECTED: HAProxy's buffer or header syntax."""
    heavy = [h.name for h in a.request_headers
             if h.name.lower() in ("cookie", "authorization") or h.name.lower().startswith("x-")]
    cause = ("The answer is HAProxy's own 400 page ('Your browser sent an invalid request'): "
             "HAProxy refused the request while parsing it, before any backend saw it, so the "
             "Upgrade headers are not the problem. It does this when the request headers do "
             "not fit its buffer (tune.bufsize 16 KiB, less tune.maxrewrite) or a header "
             "breaks HTTP syntax.")
    if heavy:
        cause += f" This request carried {', '.join(dict.fromkeys(heavy))}."
    return cause, Fix(summary="Send smaller headers (cookies, tokens), or raise HAProxy's "
                      "buffer in the global section; the runtime API's 'show errors' shows the "
                      "exact request and offending byte.", language="haproxy",
                      snippet="global\n  tune.bufsize 32768\n"
                      "# runtime API: echo 'show errors' | socat stdio /var/run/haproxy.sock")


def unauthorized(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    """Cause and fix of UNAUTHORIZED: the credentials the endpoint wants."""
    sent = any(h.name.lower() in ("authorization", "cookie") for h in a.request_headers)
    challenge = a.header("WWW-Authenticate")
    cause = ("The credentials sent were refused." if sent else
             "No credentials were sent and the endpoint requires them.")
    if challenge:
        cause += f" The server asks for: {challenge}."
    cause += (" Browsers cannot set an Authorization header on a WebSocket: apps usually take a "
              "token in the query string or a cookie.")
    return cause, Fix(summary="Send the credentials the application expects, e.g. "
                      "wsdoctor URL -H 'Authorization: Bearer TOKEN' or -H 'Cookie: session=…'.")


def forbidden(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    """Cause and fix of FORBIDDEN: a client certificate the server asked for and did not get
    first; then a proxy's access rule when the page is the proxy's own, otherwise the
    application's Origin check."""
    cause, fix = _forbidden(a, o)
    if (a.client_cert_requested and not a.client_cert_sent) or \
            INGRESS_CN_403 in a.body_start.lower():
        cas = f" (it accepts certificates issued by: {'; '.join(a.acceptable_cas)})" \
            if a.acceptable_cas else ""
        cause = ("The server asked for a client certificate during TLS" + cas + " and "
                 + ("none was sent; " if not a.client_cert_sent else "")
                 + "with optional verification (nginx ssl_verify_client optional, "
                 "ingress-nginx auth-tls-verify-client \"optional\" with auth-tls-match-cn, "
                 "HAProxy 'verify optional') a rule that requires a verified certificate "
                 "answers 403 like this. " + cause)
        fix = Fix(summary="Retry with the client certificate the service expects: wsdoctor "
                  "URL --cert client.pem --key client.key — if that passes, the "
                  f"client-certificate rule is the cause. Otherwise: {fix.summary}")
    return cause, fix


def _forbidden(a: HandshakeAttempt, o: HandshakeObservation) -> tuple[str, Fix]:
    body = a.body_start.lower()
    if HAPROXY_403 in body:
        return ("The 403 is HAProxy's own page ('Request forbidden by administrative rules'): "
                "an http-request deny rule refused the request before any backend saw it — an "
                "ACL on the source address, the path or a header (on Kubernetes, the ingress "
                "controller's allow-list/deny-list annotations).",
                Fix(summary="Find the HAProxy deny rule or allow-list that matches this request "
                    "(source address, path, headers) and let the WebSocket path through."))
    if o.origin is None:
        cause = ("wsdoctor sent no Origin header; browsers always send one and many servers "
                 "reject an upgrade whose Origin is missing or not allowed.")
        fix = Fix(summary="Retry with the page's origin: wsdoctor URL --origin https://app.example"
                  " — if that passes, the server's Origin check is the cause.")
    else:
        cause = (f"The server rejected Origin {o.origin}. Its allowed-origins list does not hold "
                 "it, or it compares Origin with a Host/scheme a proxy rewrote. CORS annotations "
                 "do not apply to WebSocket.")
        fix = Fix(summary=f"Add {o.origin} to the application's allowed origins (or keep the "
                  "original Host: proxy_set_header Host $host).")
    if "nginx" in _server(a) and "<center>nginx" in body:
        cause = ("The 403 page is nginx's own, so nginx refused the request, most likely an "
                 "access rule: allow/deny, an IP allow-list (ingress-nginx "
                 "whitelist-source-range) or an auth subrequest. Otherwise: " + cause)
    return cause, fix


def rate_limited(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    """Cause and fix of RATE-LIMITED: per-client limits and reconnect storms."""
    retry = a.header("Retry-After")
    cause = ("A rate limit refused the upgrade" + (f" (Retry-After: {retry})" if retry else "")
             + ". ingress-nginx limit-rps/limit-connections count per client IP per replica; "
             "behind a load balancer without PROXY protocol every client shares its IP, so "
             "reconnect storms hit the limit.")
    return cause, Fix(summary="Raise the limit or key it on the real client IP "
                      "(use-proxy-protocol / use-forwarded-headers), and add jittered back-off "
                      "to client reconnects.", language="yaml",
                      snippet='nginx.ingress.kubernetes.io/limit-connections: "100"')


def _server(attempt: HandshakeAttempt) -> str:
    return (attempt.header("Server") or "").lower()
