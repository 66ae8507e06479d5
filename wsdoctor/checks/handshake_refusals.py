"""400-class refusals whose body names the real cause: request headers too large for a proxy,
or a WebSocket server that rejected the handshake headers it was sent.

Read before the status alone is trusted: a bare 400/426 to an upgrade usually means a proxy
dropped Upgrade/Connection, but nginx's "Request Header Or Cookie Too Large" page and the
WebSocket libraries' "invalid Sec-WebSocket-Protocol header" are 400s too.
"""

from __future__ import annotations

import re

from wsdoctor.checks.base import Code
from wsdoctor.checks.handshake_model import HandshakeAttempt, HandshakeObservation
from wsdoctor.models import Fix, Status, Target

HEADERS_TOO_LARGE = Code("WSD-HANDSHAKE-HEADERS-TOO-LARGE", Status.FAIL,
                         "The request headers are too large for a proxy")
BAD_REQUEST = Code("WSD-HANDSHAKE-BAD-REQUEST", Status.FAIL,
                   "The server rejected the WebSocket handshake headers it was sent")
CODES = (HEADERS_TOO_LARGE, BAD_REQUEST)

#: Bodies of "headers too large" pages: nginx, RFC 6585 reason phrase, and short forms.
_TOO_LARGE = ("request header or cookie too large", "header fields too large",
              "header too large", "headers too large")
#: A WebSocket server's complaint about the handshake fields themselves (websockets, ws,
#: gorilla, Jetty...). Upgrade/Connection complaints are left out: they mean a proxy dropped
#: those headers, which is UPGRADE-NOT-FORWARDED.
_HANDSHAKE_FIELD = re.compile(
    r"(invalid|missing|unsupported|bad)[^.\n]{0,40}sec-websocket-(key|version|protocol|extensions)"
    r"|sec-websocket-(key|version|protocol|extensions)[^.\n]{0,40}(invalid|missing|unsupported)"
    r"|invalid subprotocol|unsupported subprotocol|invalid origin|unsupported version"
    r"|unsupported protocol version"
)
#: socket.io's refusal of the engine.io protocol the URL asks for (``EIO=3`` is socket.io 2's):
#: python-engineio's 400 body, and Node engine.io's ``{"code":5,"message":"Unsupported
#: protocol version"}``.
_ENGINEIO_VERSION = re.compile(r"unsupported version of the socket\.io or engine\.io"
                               r"|\"code\":\s*5\b.*unsupported protocol version")
_EIO = re.compile(r"[?&]EIO=(\d+)")


def classify_by_body(status: int, body: str) -> Code | None:
    """The code a 400/431's body points to, or None when it points nowhere in particular."""
    text = body.lower()
    if status == 431 or any(marker in text for marker in _TOO_LARGE):
        return HEADERS_TOO_LARGE
    if status == 400 and _HANDSHAKE_FIELD.search(text):
        return BAD_REQUEST
    return None


def _sent_names(a: HandshakeAttempt, *names: str) -> list[str]:
    wanted = {n.lower() for n in names}
    return [h.name for h in a.request_headers if h.name.lower() in wanted]


def headers_too_large(a: HandshakeAttempt, o: HandshakeObservation,
                      t: Target) -> tuple[str, Fix]:
    """Cause and fix of HEADERS-TOO-LARGE: grow the proxy's header buffers or send less."""
    heavy = _sent_names(a, "Cookie", "Authorization") or [
        h.name for h in a.request_headers if h.name.lower().startswith("x-")]
    cause = (f"The answer is {a.status_code} and its page says the request headers are too "
             "large: the proxy refused the request before it reached the application, so the "
             "upgrade headers are not the problem. nginx (and ingress-nginx) reads headers into "
             "4 buffers of 8k by default; one header line longer than a buffer, usually a big "
             "cookie or token, is refused with this page.")
    if heavy:
        cause += f" This request carried {', '.join(dict.fromkeys(heavy))}."
    if "envoy" in (a.header("Server") or "").lower():
        cause += " Envoy (Istio) answers 431 above max_request_headers_kb (60 KB by default)."
    snippet = ("# ingress-nginx: the controller's ConfigMap\n"
               "data:\n"
               '  client-header-buffer-size: "16k"\n'
               '  large-client-header-buffers: "4 16k"\n'
               "# plain nginx (http or server block):\n"
               "#   large_client_header_buffers 4 16k;")
    return cause, Fix(summary="Raise the proxy's header buffers (ingress-nginx ConfigMap "
                      "large-client-header-buffers, e.g. \"4 16k\", and client-header-buffer-size; "
                      "nginx large_client_header_buffers), or send smaller cookies and tokens.",
                      snippet=snippet, language="yaml")


def bad_request(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    """Cause and fix of BAD-REQUEST: the application refused the handshake as it was sent."""
    asked = _EIO.search(t.path)
    if asked is not None and _ENGINEIO_VERSION.search(a.body_start.lower()):
        return _engineio_version(asked.group(1))
    cause = ("The body is the WebSocket server's own refusal of the handshake. The Upgrade and "
             "Connection headers did arrive (a proxy dropping them gives a different answer); "
             "the application rejected a header of the request as sent.")
    sent = []
    if o.offered_subprotocols:
        sent.append(f"subprotocols {', '.join(o.offered_subprotocols)}")
    if o.origin:
        sent.append(f"Origin {o.origin}")
    extra = [h.name for h in a.request_headers
             if not h.name.lower().startswith("sec-websocket-")
             and h.name.lower() not in ("host", "upgrade", "connection", "origin", "user-agent")]
    if extra:
        sent.append(f"extra headers {', '.join(dict.fromkeys(extra))}")
    if sent:
        cause += f" wsdoctor sent {'; '.join(sent)}."
    return cause, Fix(summary="Send what the application accepts: offer a subprotocol it "
                      "supports (spelled as on the server), drop extra headers, or set the "
                      "Origin it allows; then retry with the same options.")


def _engineio_version(asked: str) -> tuple[str, Fix]:
    """socket.io refused the engine.io protocol of the URL (EIO=3: socket.io 2 clients)."""
    cause = (f"The body is socket.io's refusal of the engine.io protocol the URL asks for "
             f"(EIO={asked}): EIO=3 is spoken by socket.io 2 clients, EIO=4 by socket.io 3 and "
             f"later. This server does not accept EIO={asked}, so its clients of that version "
             "cannot connect either.")
    return cause, Fix(summary="Test with the protocol the server's clients use "
                      "(?EIO=4&transport=websocket for socket.io 3 and later). To keep "
                      "socket.io 2 clients working, let the server accept engine.io 3 "
                      "(Node socket.io 3/4: new Server({ allowEIO3: true }); python-socketio 5 "
                      "cannot: upgrade those clients).")


HTTP_VERSION = Code("WSD-HANDSHAKE-PROXY-HTTP-VERSION", Status.FAIL,
                    "A proxy forwarded the upgrade as HTTP/1.0 (proxy_http_version)")
CLIENT_CERT = Code("WSD-HANDSHAKE-CLIENT-CERT", Status.FAIL,
                   "The server requires a client certificate (mTLS)")
CLIENT_CODES = (HTTP_VERSION, CLIENT_CERT)

#: nginx's own 400 pages for client certificates (ngx_http_special_response.c: 496
#: NGX_HTTPS_NO_CERT and 495 NGX_HTTPS_CERT_ERROR are sent as 400 with these titles).
NGINX_NO_CERT = "no required ssl certificate was sent"
NGINX_CERT_ERROR = "the ssl certificate error"
#: TLS alerts by which a server refuses a missing or unacceptable client certificate once it
#: has asked for one (RFC 8446 §6.2: certificate_required in TLS 1.3; TLS 1.2 servers send
#: handshake_failure or bad_certificate).
CERT_ALERTS = frozenset({
    "certificate required", "handshake failure", "bad certificate", "unknown ca",
    "certificate unknown", "unsupported certificate", "certificate expired",
    "certificate revoked", "access denied", "decrypt error",
})


def client_cert_refused(a: HandshakeAttempt) -> bool:
    """The answer refuses the connection for want of an acceptable client certificate."""
    body = a.body_start.lower()
    if a.status_code == 400 and (NGINX_NO_CERT in body or NGINX_CERT_ERROR in body):
        return True
    return bool(a.client_cert_requested) and any(x in CERT_ALERTS for x in a.tls_alerts)


def downgraded_to_http10(a: HandshakeAttempt) -> bool:
    """A 505, or a refusal whose body names HTTP/1.0: the request reached the application as
    HTTP/1.0 although wsdoctor sent HTTP/1.1, so a proxy in between downgraded it."""
    if a.status_code == 505:
        return True
    return a.status_code in (400, 426) and "http/1.0" in a.body_start.lower()


def http_version(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    """Cause and fix of PROXY-HTTP-VERSION: nginx's default proxy_http_version is 1.0."""
    cause = (f"wsdoctor sent HTTP/1.1, yet the application answered {a.status_code} about the "
             "HTTP version: a proxy in between forwarded the request as HTTP/1.0, which cannot "
             "carry an upgrade (RFC 6455 §4.1 requires HTTP/1.1). nginx does this by default: "
             "proxy_http_version is 1.0 unless set, the most common mistake in hand-written "
             "nginx configurations. ingress-nginx uses 1.1 unless the Ingress annotation "
             "proxy-http-version says otherwise.")
    snippet = (
        "# nginx: in the location that proxies the WebSocket path\n"
        f"location {t.path} {{\n"
        "    proxy_http_version 1.1;\n"
        "    proxy_set_header Upgrade $http_upgrade;\n"
        "    proxy_set_header Connection $connection_upgrade;  # map $http_upgrade ...\n"
        "}\n"
        "# ingress-nginx: on the Ingress (1.1 is its default; remove a \"1.0\")\n"
        "metadata:\n"
        "  annotations:\n"
        '    nginx.ingress.kubernetes.io/proxy-http-version: "1.1"')
    return cause, Fix(summary="Set proxy_http_version 1.1 on the nginx that proxies the "
                      "WebSocket path (ingress-nginx: annotation proxy-http-version \"1.1\").",
                      snippet=snippet, language="nginx")


def client_cert_title(a: HandshakeAttempt) -> str:
    """The finding's title: none sent, or the one sent refused."""
    if a.client_cert_sent or NGINX_CERT_ERROR in a.body_start.lower():
        return "The server refused the client certificate sent (mTLS)"
    return "The server requires a client certificate (mTLS) and none was sent"


def client_cert(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    """Cause and fix of CLIENT-CERT: send a certificate from a CA the server accepts."""
    body = a.body_start.lower()
    sent = bool(a.client_cert_sent) or NGINX_CERT_ERROR in body
    page = "The SSL certificate error" if NGINX_CERT_ERROR in body \
        else "No required SSL certificate was sent"
    how = f"nginx's page '{page}' (ssl_verify_client on)" if a.status_code else \
        f"the TLS alert '{', '.join(a.tls_alerts)}' after its CertificateRequest"
    cas = (f" It accepts certificates issued by: {'; '.join(a.acceptable_cas)}."
           if a.acceptable_cas else "")
    if sent:
        cause = (f"The server asks for a client certificate and refused the one sent, with "
                 f"{how}: it is not issued by a CA the server trusts, has expired, or lacks "
                 f"the clientAuth key usage.{cas}")
        summary = ("Send a valid client certificate issued by a CA the server trusts (the "
                   "names above), with its key: wsdoctor URL --cert client.pem --key client.key.")
    else:
        cause = (f"The server requires a client certificate (mutual TLS) and wsdoctor sent "
                 f"none; it refused the connection with {how}.{cas} Browsers offer one from "
                 "the user's certificate store; other WebSocket clients must be given one.")
        summary = ("Retry with the client certificate the service expects: wsdoctor URL --cert "
                   "client.pem --key client.key (passphrase in WSDOCTOR_KEY_PASSWORD). If "
                   "clients should not need one, make the check optional.")
    snippet = ("# ingress-nginx: the Ingress's client-certificate annotations\n"
               "nginx.ingress.kubernetes.io/auth-tls-secret: NAMESPACE/CA_SECRET\n"
               'nginx.ingress.kubernetes.io/auth-tls-verify-client: "on"   # or "optional"\n'
               "# nginx: ssl_client_certificate ca.pem; ssl_verify_client on;  # or optional")
    return cause, Fix(summary=summary, snippet=snippet, language="yaml")


#: What a status the other classes do not cover says, when a proxy or server sends it.
_STATUS_MEANING = {
    405: "the route does not accept GET (a proxy or API gateway that allows other methods)",
    408: "the proxy gave up waiting for the request (HAProxy 'timeout http-request', nginx "
         "client_header_timeout), or a rule answers 408 on purpose",
    414: "the URL is too long for a proxy: a token in the query string past its limit "
         "(nginx large_client_header_buffers, HAProxy tune.bufsize)",
    421: "the Host does not match the TLS server name (SNI) this connection was opened for: a "
         "proxy that routes by SNI and Host refuses the mismatch",
    500: "the component that answered failed: the application, or a proxy's own error "
         "(HAProxy's page 'An internal server error occurred': a rule or rewrite failed)",
}


def refused(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    """Cause and fix of REFUSED: a status no other class covers, with what it usually means."""
    meaning = _STATUS_MEANING.get(a.status_code or 0)
    cause = (f"The server refused the upgrade with {a.status_code}: {meaning}." if meaning else
             f"The server refused the upgrade with {a.status_code}; the body usually says why "
             "(5xx: the application or a proxy failed).")
    return cause, Fix(summary="Read the log of the component that answered (the quoted Server "
                      "header and page name it) for this request.")


def nginx_upgrade_snippet(path: str) -> str:
    """The nginx configuration that forwards an upgrade (what ingress-nginx renders)."""
    return (
        "# every nginx between the client and the app (ingress-nginx renders this by default)\n"
        "map $http_upgrade $connection_upgrade { default upgrade; '' close; }\n"
        f"location {path} {{\n"
        "    proxy_http_version 1.1;\n"
        "    proxy_set_header Upgrade $http_upgrade;\n"
        "    proxy_set_header Connection $connection_upgrade;\n"
        "}"
    )


def not_forwarded(a: HandshakeAttempt, o: HandshakeObservation, t: Target) -> tuple[str, Fix]:
    """Cause and fix of UPGRADE-NOT-FORWARDED: a proxy dropped the hop-by-hop headers."""
    likely = "" if a.status_code == 426 else "most likely "
    cause = ("The request carried Upgrade: websocket and Connection: Upgrade, yet the answer is "
             f"{a.status_code}: {likely}a proxy on the path dropped those hop-by-hop headers, so "
             "the application saw a plain GET. ingress-nginx forwards them by default, so look for "
             "another proxy in front of or behind it (a cloud load balancer in HTTP mode, a CDN, "
             "a sidecar, or an nginx of your own).")
    if via := a.header("Via"):  # a proxy that names itself on the answer is the first suspect
        cause += f" The answer passed through '{via}' (Via header): check that proxy first."
        if "squid" in via.lower():  # measured with Debian's squid 5.7: it strips Upgrade
            return cause, Fix(summary="Let squid forward WebSocket upgrades (squid 5+; the "
                              "protocol name as clients send it, in lower case).",
                              snippet="http_upgrade_request_protocols websocket allow all",
                              language="text")
    if "envoy" in (a.header("Server") or "").lower():
        return cause, Fix(summary="Enable WebSocket upgrades on the Envoy route.", language="yaml",
                          snippet="upgrade_configs:\n- upgrade_type: websocket")
    return cause, Fix(summary="Forward Upgrade and Connection at every proxy on the path.",
                      snippet=nginx_upgrade_snippet(t.path), language="nginx")
