"""Client TLS contexts built from the run's settings, shared by every probe that speaks TLS."""

from __future__ import annotations

import ssl

from wsdoctor.settings import Settings

#: ALPN a WebSocket client offers: the upgrade is an HTTP/1.1 request (RFC 6455).
WEBSOCKET_ALPN = ["http/1.1"]


def client_context(
    settings: Settings, *, verify: bool, alpn: list[str] | None = None
) -> ssl.SSLContext:
    """A client context trusting ``settings.cafile`` (or the system store).

    ``verify`` is authoritative: True checks the chain and the host name, False accepts any
    certificate. Callers that connect on the user's behalf pass ``verify=not settings.insecure``;
    the tls check always verifies, so certificate errors are reported even with ``--insecure``.
    ``alpn`` lists the protocols offered (None: no ALPN extension). A missing or unreadable
    ``cafile`` raises ``OSError``/``ssl.SSLError``.
    """
    if verify:
        # With a cafile the user's bundle replaces the system store, like curl's --cacert.
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.cafile)
    else:
        # No trust store to load (that costs ~20 ms): nothing will be verified.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(alpn)
    return context
