"""400-class refusals whose body names the real cause: request headers too large for a proxy,
or a WebSocket server that rejected the handshake headers it was sent.

Read before the status alone is trusted: a bare 400/426 to an upgrade usually means a proxy
dropped Upgrade/Connection, but nginx's "Request Header Or Cookie Too Large" page and the
WebSocket libraries' "invalid Sec-WebSocket-Protocol header" are 400s too.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from wsdoctor.checks.base import Code
from wsdoctor.models import Fix, Status, Target

if TYPE_CHECKING:
    from wsdoctor.checks.handshake import HandshakeAttempt, HandshakeObservation

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
)


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
