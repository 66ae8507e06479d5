"""Client TLS contexts built from the run's settings, shared by every probe that speaks TLS,
and a watch on the handshake's messages (did the server ask for a client certificate, from
which CAs; which alerts came back)."""

from __future__ import annotations

import ssl
import weakref
from contextvars import ContextVar
from dataclasses import field
from typing import Any

from wsdoctor.der import oid as _oid
from wsdoctor.der import tlv as _tlv
from wsdoctor.records import dataclass
from wsdoctor.settings import Settings

#: ALPN a WebSocket client offers: the upgrade is an HTTP/1.1 request (RFC 6455).
WEBSOCKET_ALPN = ["http/1.1"]

_HANDSHAKE = 22
_ALERT = 21
_CERTIFICATE = 11
_CERTIFICATE_REQUEST = 13
_CERTIFICATE_AUTHORITIES = 47  # TLS 1.3 extension (RFC 8446 §4.2.4)


@dataclass
class TlsWatch:
    """What one TLS connection's handshake messages showed, beyond what ``ssl`` reports."""

    certificate_requested: bool = False
    """The server sent a CertificateRequest: it asks for a client certificate (mTLS)."""
    acceptable_cas: list[str] = field(default_factory=list)
    """Distinguished names of the CAs whose client certificates the server accepts."""
    client_certificate_sent: bool | None = None
    """Whether the client's Certificate message carried a certificate (None: not sent)."""
    alerts_received: list[str] = field(default_factory=list)
    """TLS alerts from the server, in OpenSSL's words (``certificate required``)."""

    def on_message(self, conn: Any, direction: str, version: Any, content_type: Any,
                   msg_type: Any, data: bytes) -> None:
        """``SSLContext._msg_callback``: called for every TLS message, decrypted."""
        try:
            if content_type == _HANDSHAKE and direction == "read" and msg_type == \
                    _CERTIFICATE_REQUEST:
                self.certificate_requested = True
                tls13 = version == ssl.TLSVersion.TLSv1_3
                self.acceptable_cas = parse_certificate_request(bytes(data), tls13)
            elif content_type == _HANDSHAKE and direction == "write" and msg_type == \
                    _CERTIFICATE:
                self.client_certificate_sent = _carries_certificate(
                    bytes(data), version == ssl.TLSVersion.TLSv1_3)
            elif content_type == _ALERT and direction == "read" and len(data) >= 2 \
                    and data[1] != 0:  # close_notify is a goodbye, not a complaint
                self.alerts_received.append(alert_name(data[1]))
        except (ValueError, IndexError):  # a message we cannot parse is not a reason to fail
            pass


def alert_name(code: int) -> str:
    """``certificate required`` for 116: the TLS alert description in words."""
    try:
        name: str = ssl._TLSAlertType(code).name  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return f"alert {code}"
    return name.lower().replace("_", " ")


def _read(data: bytes, at: int, size: int) -> tuple[int, int]:
    if at + size > len(data):
        raise ValueError("truncated")
    return int.from_bytes(data[at:at + size], "big"), at + size


def _names(data: bytes) -> list[str]:
    """A ``DistinguishedName certificate_authorities<3..2^16-1>`` list, decoded."""
    total, at = _read(data, 0, 2)
    end = min(at + total, len(data))
    names = []
    while at < end:
        size, at = _read(data, at, 2)
        names.append(describe_name(data[at:at + size]))
        at += size
    return names


def parse_certificate_request(message: bytes, tls13: bool) -> list[str]:
    """The CA names of a CertificateRequest handshake message (RFC 8446 §4.3.2 for TLS 1.3,
    RFC 5246 §7.4.4 for TLS 1.2), header included."""
    body = message[4:]
    if tls13:
        context, at = _read(body, 0, 1)
        at += context
        total, at = _read(body, at, 2)
        end = at + total
        while at < end:
            kind, at = _read(body, at, 2)
            size, at = _read(body, at, 2)
            if kind == _CERTIFICATE_AUTHORITIES:
                return _names(body[at:at + size])
            at += size
        return []
    types, at = _read(body, 0, 1)
    at += types
    algorithms, at = _read(body, at, 2)  # TLS 1.2's supported_signature_algorithms
    at += algorithms
    return _names(body[at:])


def _carries_certificate(message: bytes, tls13: bool) -> bool:
    body = message[4:]
    at = 0
    if tls13:
        context, at = _read(body, 0, 1)
        at += context
    size, _ = _read(body, at, 3)
    return size > 0


_OIDS = {"2.5.4.3": "CN", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.6": "C", "2.5.4.7": "L",
         "2.5.4.8": "ST", "0.9.2342.19200300.100.1.25": "DC", "1.2.840.113549.1.9.1": "E",
         "2.5.4.5": "serialNumber"}


def describe_name(der: bytes) -> str:
    """A DER X.501 Name as ``CN=client CA,O=Example`` (most specific first, like RFC 4514)."""
    tag, rdns, _ = _tlv(der, 0)
    if tag != 0x30:
        raise ValueError("not a Name")
    parts = []
    at = 0
    while at < len(rdns):
        _, rdn, at = _tlv(rdns, at)
        inner = 0
        while inner < len(rdn):
            _, pair, inner = _tlv(rdn, inner)
            _, oid, rest = _tlv(pair, 0)
            kind, value, _ = _tlv(pair, rest)
            text = value.decode("utf-16-be" if kind == 0x1E else "utf-8", "replace")
            parts.append(f"{_OIDS.get(_oid(oid), _oid(oid))}={text}")
    return ",".join(reversed(parts))


#: The watch of the TLS handshake the current task starts next (see :func:`client_context`).
_NEXT_WATCH: ContextVar[TlsWatch | None] = ContextVar("wsdoctor_next_tls_watch", default=None)
#: Each connection's watch, bound at its first handshake message.
_WATCHES: weakref.WeakKeyDictionary[object, TlsWatch] = weakref.WeakKeyDictionary()
#: The contexts of each run's settings, by what tells them apart: a verifying context loads
#: the trust store (the system's: ~20 ms of CPU), and a diagnosis opens a dozen connections.
_CONTEXTS: dict[int, dict[tuple[bool, tuple[str, ...] | None], ssl.SSLContext]] = {}


def _route(conn: Any, *message: Any) -> None:
    """``_msg_callback`` of every context: the message goes to its connection's watch. A
    connection's first message (its ClientHello, sent as the handshake starts in the task that
    asked for the context) binds it to the watch that task named."""
    watch = _WATCHES.get(conn)
    if watch is None:
        watch = _NEXT_WATCH.get()
        if watch is None:
            return
        _WATCHES[conn] = watch
    watch.on_message(conn, *message)


def client_context(
    settings: Settings, *, verify: bool, alpn: list[str] | None = None,
    watch: TlsWatch | None = None,
) -> ssl.SSLContext:
    """A client context trusting ``settings.cafile`` (or the system store), presenting the
    client certificate of ``--cert``/``--key`` when one is given.

    ``verify`` is authoritative: True checks the chain and the host name, False accepts any
    certificate. Callers that connect on the user's behalf pass ``verify=not settings.insecure``;
    the tls check always verifies, so certificate errors are reported even with ``--insecure``.
    ``alpn`` lists the protocols offered (None: no ALPN extension). ``watch`` records the
    messages of the next handshake the calling task starts (one watch per connection). A
    missing or unreadable ``cafile`` or client certificate raises ``OSError``/``ssl.SSLError``.

    Contexts are shared by the connections of a run (the same ``settings`` object): the trust
    store and the client certificate are loaded once, not once per connection. Sessions are
    not resumed between connections (Python resumes one only when asked to).
    """
    _NEXT_WATCH.set(watch)
    per_run = _CONTEXTS.get(id(settings))
    if per_run is None:
        per_run = _CONTEXTS[id(settings)] = {}
        weakref.finalize(settings, _CONTEXTS.pop, id(settings), None)
    key = (verify, tuple(alpn) if alpn else None)
    context = per_run.get(key)
    if context is None:
        context = per_run[key] = _new_context(settings, verify=verify, alpn=alpn)
    return context


def _new_context(settings: Settings, *, verify: bool, alpn: list[str] | None) -> ssl.SSLContext:
    if verify:
        # With a cafile the user's bundle replaces the system store, like curl's --cacert.
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.cafile)
    else:
        # No trust store to load (that costs ~20 ms): nothing will be verified.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if settings.client_cert:
        password = settings.client_key_password
        context.load_cert_chain(
            settings.client_cert, settings.client_key or None,
            password=password.get_secret_value() if password is not None else None,
        )
    if alpn:
        context.set_alpn_protocols(alpn)
    if hasattr(context, "_msg_callback"):
        context._msg_callback = _route
    return context
