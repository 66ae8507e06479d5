"""The tls probe: one TLS handshake per reachable address over asyncio streams, driven through
memory BIOs so that every byte the server sends is seen (the chain exactly as presented; the
first bytes of an answer that is not TLS), and the certificates parsed into plain data."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import field
from typing import Literal

from wsdoctor.checks.base import Observation, ProbeContext, Skip
from wsdoctor.checks.dns import is_address
from wsdoctor.checks.tcp import TcpObservation
from wsdoctor.checks.tls_certificate import CertificateInfo as CertificateInfo  # re-exported
from wsdoctor.checks.tls_certificate import parse_certificate as parse_certificate  # re-exported
from wsdoctor.models import Model, endpoint
from wsdoctor.records import dataclass
from wsdoctor.settings import Settings
from wsdoctor.tlsctx import TlsWatch, client_context
from wsdoctor.tunnel import ProxyError, open_path

HandshakeOutcome = Literal[
    "completed", "reset", "closed", "timeout", "not_tls", "alert", "connect_failed", "error"
]
READ_SIZE = 65536
QUOTE_BYTES = 64


def presented_chain(obj: ssl.SSLObject) -> list[bytes]:
    """DER certificates the server sent, leaf first.

    Python 3.13 has ``get_unverified_chain()``; 3.10-3.12 have it on the private ``_sslobj``;
    otherwise only the leaf is available.
    """
    public = getattr(obj, "get_unverified_chain", None)
    if public is not None:
        return [bytes(c) for c in public() or []]
    private = getattr(getattr(obj, "_sslobj", None), "get_unverified_chain", None)
    if private is not None:
        chain = private() or []
        return [c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain]  # type: ignore[attr-defined]
    leaf = obj.getpeercert(binary_form=True)
    return [leaf] if leaf else []


@dataclass
class HandshakeResult:
    """What one handshake saw."""

    outcome: HandshakeOutcome
    error: str | None = None
    connect_s: float | None = None
    handshake_s: float | None = None
    version: str | None = None
    cipher: str | None = None
    cipher_bits: int | None = None
    alpn: str | None = None
    chain: list[bytes] = field(default_factory=list)
    verify_error: ssl.SSLCertVerificationError | None = None
    first_bytes: bytes = b""
    """The start of what the server sent (quoted when it is not TLS)."""
    watch: TlsWatch = field(default_factory=TlsWatch)


def _classify_ssl_error(exc: ssl.SSLError, first: bytes) -> tuple[HandshakeOutcome, str]:
    reason = exc.reason or ""
    text = str(exc)
    if reason in ("WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST",
                  "RECORD_LAYER_FAILURE", "UNKNOWN_PROTOCOL") or first.startswith(b"HTTP/"):
        quoted = first[:QUOTE_BYTES].decode("latin-1").split("\r\n")[0]
        return "not_tls", f"the server answered with bytes that are not TLS: {quoted!r}"
    if "ALERT" in reason:
        return "alert", f"the server sent a TLS alert: {reason.lower().replace('_', ' ')}"
    return "error", text


async def _pump(
    obj: ssl.SSLObject,
    incoming: ssl.MemoryBIO,
    outgoing: ssl.MemoryBIO,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    result: HandshakeResult,
) -> None:
    """Drive ``do_handshake`` to completion, feeding it what the socket delivers."""
    while True:
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pending = outgoing.read()
            if pending:
                writer.write(pending)
                await writer.drain()
            data = await reader.read(READ_SIZE)
            if not data:
                raise ConnectionAbortedError("the server closed the connection") from None
            if len(result.first_bytes) < QUOTE_BYTES:
                result.first_bytes += data[: QUOTE_BYTES - len(result.first_bytes)]
            incoming.write(data)
            continue
        pending = outgoing.read()
        if pending:
            writer.write(pending)
        return


async def tls_handshake(
    address: str, port: int, server_name: str | None, settings: Settings, verify: bool,
    alpn: list[str], timeout: float,
) -> HandshakeResult:
    """Connect to ``address:port`` (through the proxy, if any) and complete one TLS handshake
    with SNI ``server_name``, presenting the client certificate if one is configured.

    ``timeout`` bounds the TCP connect and the handshake, each. A certificate that fails
    verification ends as ``completed`` with ``verify_error`` set, the chain when Python can
    give it, and no version or cipher (the handshake was aborted by the client).
    """
    watch = TlsWatch()
    context = client_context(settings, verify=verify, alpn=alpn, watch=watch)
    start = time.perf_counter()
    try:
        reader, writer = await open_path(address, port, settings, timeout=timeout)
    except ProxyError as exc:
        return HandshakeResult("connect_failed", str(exc))
    except (OSError, TimeoutError) as exc:
        return HandshakeResult("connect_failed", f"TCP connect failed: {exc or 'timeout'}")
    result = HandshakeResult("completed", connect_s=time.perf_counter() - start, watch=watch)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = context.wrap_bio(incoming, outgoing, server_side=False, server_hostname=server_name)
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            await _pump(obj, incoming, outgoing, reader, writer, result)
    except ssl.SSLCertVerificationError as exc:
        result.verify_error = exc
        result.error = exc.verify_message or str(exc)
        result.chain = presented_chain(obj)
    except ssl.SSLError as exc:
        result.outcome, result.error = _classify_ssl_error(exc, result.first_bytes)
    except TimeoutError:
        result.outcome = "timeout"
        result.error = f"no TLS handshake within {timeout:g} s"
    except ConnectionResetError:
        result.outcome = "reset"
        result.error = "the server reset the connection (TCP RST) during the handshake"
    except (ConnectionAbortedError, BrokenPipeError, EOFError):
        result.outcome = "closed"
        result.error = "the server closed the connection during the handshake"
    except OSError as exc:
        result.outcome, result.error = "error", f"{type(exc).__name__}: {exc}"
    else:
        result.handshake_s = time.perf_counter() - start
        result.version = obj.version()
        cipher = obj.cipher()
        if cipher is not None:
            result.cipher, _, result.cipher_bits = cipher
        result.alpn = obj.selected_alpn_protocol()
        result.chain = presented_chain(obj)
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            async with asyncio.timeout(min(timeout, 0.5)):
                await writer.wait_closed()
    return result


#: What the probe offers in ALPN: what a browser offers, so the answer shows whether h2 is on.
ALPN_OFFERED = ["h2", "http/1.1"]


class TlsAttempt(Model):
    """The TLS handshake with one address."""

    address: str
    port: int
    outcome: HandshakeOutcome
    error: str | None = None
    handshake_s: float | None = None
    version: str | None = None
    cipher: str | None = None
    cipher_bits: int | None = None
    alpn: str | None = None
    chain: list[CertificateInfo] = []
    """Certificates as the server presented them, leaf first."""
    verified: bool | None = None
    """Whether the chain and name verified against the trust store (None: no handshake)."""
    verify_code: int | None = None
    """OpenSSL's X509_V_ERR code when verification failed (10 expired, 18 self-signed, ...)."""
    verify_message: str | None = None
    client_cert_requested: bool = False
    """The server sent a CertificateRequest: it asks for a client certificate (mTLS)."""
    acceptable_cas: list[str] = []
    """The CAs whose client certificates the server accepts, as it named them."""
    client_cert_sent: bool | None = None
    """Whether a client certificate (``--cert``) was sent in answer."""
    alerts: list[str] = []
    """TLS alerts the server sent during the handshake."""

    @property
    def endpoint(self) -> str:
        """``addr:port`` with IPv6 brackets."""
        return endpoint(self.address, self.port)

    @property
    def leaf(self) -> CertificateInfo | None:
        """The server's own certificate, if the handshake got that far."""
        return self.chain[0] if self.chain else None


class TlsObservation(Observation):
    """TLS handshakes with every address that accepted a TCP connection."""

    check: Literal["tls"] = "tls"
    host: str
    server_name: str | None
    """SNI sent (None when the target is an IP address: no SNI is sent then)."""
    trust: str
    """``system`` or the path of the ``--cacert`` bundle."""
    client_cert: str | None = None
    """The client certificate offered (``--cert``), if any."""
    via_proxy: str | None = None
    """The proxy the handshakes went through: TLS is end to end with the server inside the
    tunnel, so what is reported is the server's own TLS."""
    alpn_offered: list[str]
    attempts: list[TlsAttempt]


def _attempt(address: str, port: int, verdict: HandshakeResult,
             capture: HandshakeResult | None) -> TlsAttempt:
    """Merge the verifying handshake and, when it failed on the certificate, the capturing one."""
    seen = capture if capture is not None and capture.outcome == "completed" else verdict
    chain: list[CertificateInfo] = []
    unparsed = None
    error = verdict.verify_error
    verified = error is None and seen.outcome == "completed"
    for der in seen.chain or verdict.chain:
        try:
            chain.append(parse_certificate(der, verified=verified))
        except Exception as exc:  # a certificate cryptography rejects is evidence, not a bug
            unparsed = f"a certificate of the chain cannot be parsed: {exc}"
            break
    return TlsAttempt(
        address=address,
        port=port,
        outcome=seen.outcome,
        error=seen.error if seen.outcome != "completed" else unparsed,
        handshake_s=round(seen.handshake_s, 6) if seen.handshake_s is not None else None,
        version=seen.version,
        cipher=seen.cipher,
        cipher_bits=seen.cipher_bits,
        alpn=seen.alpn,
        chain=chain,
        verified=(error is None) if seen.outcome == "completed" else None,
        verify_code=error.verify_code if error is not None else None,
        verify_message=(error.verify_message or str(error)) if error is not None else None,
        client_cert_requested=seen.watch.certificate_requested,
        acceptable_cas=list(seen.watch.acceptable_cas),
        client_cert_sent=seen.watch.client_certificate_sent,
        alerts=list(seen.watch.alerts_received),
    )


async def _probe_address(
    address: str, port: int, server_name: str | None, settings: Settings,
) -> TlsAttempt:
    """Handshake verifying; if the certificate is rejected, again without verification to
    see version, cipher and chain as an accepting client would."""
    timeout = settings.timeout
    verdict = await tls_handshake(address, port, server_name, settings, True, ALPN_OFFERED,
                                  timeout)
    capture = None
    if verdict.verify_error is not None:
        capture = await tls_handshake(address, port, server_name, settings, False,
                                      ALPN_OFFERED, timeout)
    return _attempt(address, port, verdict, capture)


async def probe_tls(ctx: ProbeContext) -> TlsObservation:
    """Handshake with every reachable address concurrently (skipped for ws:// targets)."""
    target, settings = ctx.target, ctx.settings
    if not target.secure:
        raise Skip("the target is ws:// (no TLS); use wss:// to check TLS")
    tcp = ctx.get(TcpObservation)
    reachable = [a.address for a in tcp.reachable] if tcp is not None else []
    if not reachable:
        raise Skip("no address accepted a TCP connection")
    try:
        client_context(settings, verify=True, alpn=ALPN_OFFERED)
    except (OSError, ssl.SSLError) as exc:
        what = f"--cacert {settings.cafile}" if settings.cafile else \
            f"--cert {settings.client_cert}"
        raise Skip(f"cannot use {what}: {exc}") from exc
    # Python sends no SNI for an IP address but still checks the IP against the certificate.
    server_name = target.host
    attempts = await asyncio.gather(
        *(
            _probe_address(a, target.port, server_name, settings)
            for a in reachable
        )
    )
    return TlsObservation(
        host=target.host,
        server_name=None if is_address(target.host) else target.host,
        trust=settings.cafile or "system",
        client_cert=settings.client_cert,
        via_proxy=settings.proxy.url if settings.proxy else None,
        alpn_offered=list(ALPN_OFFERED),
        attempts=list(attempts),
    )
