"""One WebSocket connection, instrumented: websockets' sans-I/O client protocol over asyncio
streams, so that every byte and every end of the connection is seen.

It connects to a chosen address (the DNS answer or a ``--resolve`` pin) with the target's
SNI and Host, records the raw response head of the upgrade (for quoting a refused upgrade),
and reports how the connection ended: a close frame (with code and reason), a bare TCP FIN,
or a reset. Used by the handshake, messages, idle, keepalive and affinity checks. The
upgraded connection itself is :class:`wsdoctor.wsconnection.WsConnection`.

Every connection opens with :func:`wsdoctor.route.connect_tcp`: where a bisected run's
hop route dials, else direct or through the user's proxy.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import time
from collections.abc import Callable, Sequence

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHandshake
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Origin, Subprotocol
from websockets.uri import parse_uri

from wsdoctor.httpbody import decode_chunked, is_chunked
from wsdoctor.models import Target
from wsdoctor.route import connect_tcp, host_header
from wsdoctor.settings import Settings
from wsdoctor.tlsctx import TlsWatch, client_context
from wsdoctor.tunnel import ProxyError
from wsdoctor.untrusted import header_text, rewrap_latin1
from wsdoctor.wsattempt import HandshakeOutcome as HandshakeOutcome  # re-exported
from wsdoctor.wsattempt import UpgradeAttempt as UpgradeAttempt  # re-exported
from wsdoctor.wsconnection import READ_SIZE, Closed, Ending, Event, Message, WsConnection

HEAD_LIMIT = 64 * 1024
BODY_QUOTE = 512
#: Largest message (after inflating) a connection accepts, unless twice --message-size is
#: more (the echo of the large message, with room for framing and compression overhead).
DEFAULT_MAX_SIZE = 1024 * 1024


def arrival_time(writer: asyncio.StreamWriter) -> float:
    """``time.monotonic()`` when data last arrived on the connection: now, minus what the
    kernel counts since the last segment with data (Linux ``TCP_INFO``
    ``tcpi_last_data_recv``, in ms). A busy event loop can read a response 100 ms after it
    arrived; an idle timeout is measured from the arrival, not from the read."""
    now = time.monotonic()
    sock = writer.get_extra_info("socket")
    option = getattr(socket, "TCP_INFO", None)
    if sock is None or option is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return now
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, option, 104)
        (since_ms,) = struct.unpack_from("I", info, 52)
    except (OSError, struct.error):
        return now
    return now - since_ms / 1000 if since_ms < 60_000 else now


def _format_headers(headers: Headers) -> list[tuple[str, str]]:
    """websockets decodes values as latin-1; read them as :func:`header_text` does."""
    return [(k, rewrap_latin1(v)) for k, v in headers.raw_items()]


async def open_stream(
    target: Target, address: str, settings: Settings, *, verify: bool | None = None,
    timeout: float | None = None, on_connected: Callable[[float], None] | None = None,
    alpn: list[str] | None = None, watch: TlsWatch | None = None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, float, float | None]:
    """TCP (through the proxy, if any) and TLS for wss to ``address`` with the target's SNI
    and the client certificate, if any; return the streams and the connect and TLS times.
    ``verify`` defaults to ``not settings.insecure``. ``on_connected`` gets the connect time
    as soon as TCP is up (so a TLS failure can be told apart from a TCP one); ``watch``
    records the TLS handshake's messages."""
    limit = settings.timeout if timeout is None else timeout
    start = time.perf_counter()
    reader, writer = await connect_tcp(address, target.port, settings, timeout=limit)
    connect_s = time.perf_counter() - start
    if on_connected is not None:
        on_connected(connect_s)
    tls_s = None
    if target.secure:
        try:
            context = client_context(
                settings, verify=not settings.insecure if verify is None else verify,
                alpn=alpn or ["http/1.1"], watch=watch,
            )
        except BaseException:
            writer.close()
            raise
        server_hostname = None if _is_ip(target.host) else target.host
        start = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                await writer.start_tls(context, server_hostname=server_hostname)
        except BaseException:
            writer.close()
            raise
        tls_s = time.perf_counter() - start
    return reader, writer, connect_s, tls_s


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def build_protocol(target: Target, settings: Settings, max_size: int | None,
                   compress: bool = True) -> ClientProtocol:
    """A client protocol for the target with the user's origin, subprotocols and deflate
    (``compress=False`` offers no deflate: its zlib state costs ~300 KB per connection)."""
    return ClientProtocol(
        parse_uri(target.url),
        origin=Origin(settings.origin) if settings.origin else None,
        extensions=[ClientPerMessageDeflateFactory()] if compress else None,
        subprotocols=[Subprotocol(s) for s in settings.subprotocols] or None,
        max_size=max_size,
    )


async def upgrade(
    target: Target,
    address: str,
    settings: Settings,
    *,
    extra_headers: Sequence[tuple[str, str]] = (),
    verify: bool | None = None,
    max_size: int | None = None,
    compress: bool = True,
) -> tuple[UpgradeAttempt, WsConnection | None]:
    """Connect to ``address`` and upgrade. Returns the attempt, and the open connection when
    the outcome is UPGRADED (the caller must close it). A message larger than ``max_size``
    (default: :func:`message_limit`; after inflating) fails the connection with 1009."""
    attempt = UpgradeAttempt(address=address, outcome=HandshakeOutcome.CONNECT_FAILED)
    if target.secure:
        attempt.tls = TlsWatch()

    def connected(seconds: float) -> None:
        attempt.connect_s = seconds

    try:
        reader, writer, attempt.connect_s, attempt.tls_s = await open_stream(
            target, address, settings, verify=verify, on_connected=connected, watch=attempt.tls
        )
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        attempt.failed_step = "tls" if attempt.connect_s is not None else "tcp"
        if isinstance(exc, ProxyError):
            attempt.failed_step, attempt.proxy_error = "proxy", exc
        attempt.error = str(exc) or (
            "connection reset by the server" if isinstance(exc, ConnectionResetError)
            else type(exc).__name__)
        if isinstance(exc, TimeoutError):
            attempt.error = f"no {'TLS handshake' if attempt.connect_s else 'TCP connect'} " \
                f"within {settings.timeout:g} s"
        attempt.error_type = type(exc).__name__
        return attempt, None
    protocol = build_protocol(target, settings, max_size or message_limit(settings), compress)
    request = protocol.connect()
    host = host_header(target)
    if host != request.headers.get("Host"):
        del request.headers["Host"]
        request.headers["Host"] = host
    for name, value in (*settings.identity_headers(), *settings.request_headers(),
                        *extra_headers):
        request.headers[name] = value
    attempt.request_headers = _format_headers(request.headers)
    protocol.send_request(request)
    start = time.perf_counter()
    writer.write(b"".join(protocol.data_to_send()))
    raw = bytearray()
    frames = b""
    response: Response | None = None
    try:
        async with asyncio.timeout(settings.timeout):
            while response is None:
                data = await reader.read(READ_SIZE)
                if not data:
                    protocol.receive_eof()
                    response = _first_response(protocol)
                    if response is None:
                        attempt.outcome = HandshakeOutcome.CLOSED
                        attempt.error = "the server closed the connection before a complete " \
                            "response" + (f" ({len(raw)} bytes received)" if raw else "")
                    break
                data, after_head = _split_at_head(raw, data)
                protocol.receive_data(data)
                response = _first_response(protocol)
                if response is not None and protocol.state is State.OPEN:
                    frames = after_head  # fed to the connection one frame at a time
                elif after_head:
                    protocol.receive_data(after_head)  # the body of a refusal
                    response = response or _first_response(protocol)
                if response is None and protocol.handshake_exc is not None:
                    break
    except TimeoutError:
        attempt.outcome = HandshakeOutcome.TIMEOUT
        attempt.error = f"no complete response within {settings.timeout:g} s" + (
            f" ({len(raw)} bytes received)" if raw else " (nothing received)")
    except (OSError, ssl.SSLError) as exc:
        attempt.outcome = HandshakeOutcome.CLOSED
        attempt.error = f"{type(exc).__name__}: {exc}"
        attempt.error_type = type(exc).__name__
    except BaseException:  # cancelled (a time limit above us): never leave the socket open
        writer.close()
        raise
    attempt.upgrade_s = time.perf_counter() - start
    _record_head(attempt, bytes(raw))
    if response is not None:
        attempt.status_code = response.status_code
        attempt.response_headers = _format_headers(response.headers)
        attempt.body_start = bytes(response.body[:BODY_QUOTE]) if response.body else \
            attempt.body_start
    failure = protocol.handshake_exc
    if attempt.outcome in (HandshakeOutcome.TIMEOUT, HandshakeOutcome.CLOSED) and response is None:
        if failure is not None and not raw.startswith(b"HTTP/"):
            attempt.outcome = HandshakeOutcome.GARBAGE
        elif _complete_head(attempt, bytes(raw)):
            # The head arrived but not the whole body: still a refusal with a status to quote.
            attempt.outcome = HandshakeOutcome.REFUSED if attempt.status_code != 101 \
                else HandshakeOutcome.INVALID
        writer.close()
        return attempt, None
    if response is None:
        if _complete_head(attempt, bytes(raw)) and attempt.status_code != 101:
            attempt.outcome = HandshakeOutcome.REFUSED  # a status, but a body websockets refused
        else:
            attempt.outcome = HandshakeOutcome.GARBAGE if not raw.startswith(b"HTTP/") \
                else HandshakeOutcome.INVALID
        attempt.error = _describe(failure)
        attempt.error_type = type(failure).__name__ if failure else None
        writer.close()
        return attempt, None
    # A server may accept and close at once (101 and a close frame in one segment): that is
    # an upgrade, whose connection has already ended.
    if failure is None and protocol.state is not State.CONNECTING and \
            response.status_code == 101:
        attempt.received_at = arrival_time(writer)
        attempt.outcome = HandshakeOutcome.UPGRADED
        attempt.subprotocol = protocol.subprotocol
        attempt.extensions = [e.name for e in protocol.extensions]
        attempt.body_start = b""  # what followed the 101 is frames, not a body
        return attempt, WsConnection(reader, writer, protocol, attempt, frames)
    attempt.outcome = HandshakeOutcome.REFUSED if response.status_code != 101 \
        else HandshakeOutcome.INVALID
    attempt.error = _describe(failure)
    attempt.error_type = type(failure).__name__ if failure else None
    writer.close()
    return attempt, None


def message_limit(settings: Settings) -> int:
    """The largest message a connection accepts: 1 MiB (websockets' own default), or twice
    --message-size when that is more."""
    return max(DEFAULT_MAX_SIZE, 2 * settings.message_size)


def _split_at_head(raw: bytearray, data: bytes) -> tuple[bytes, bytes]:
    """Append ``data`` to ``raw`` (up to HEAD_LIMIT); split ``data`` where the response head
    ends, if it ends in ``data``: what follows a 101 is frames, not for the handshake."""
    before = len(raw)
    if before < HEAD_LIMIT:
        raw.extend(data[: HEAD_LIMIT - before])
    if raw.find(b"\r\n\r\n", 0, before) != -1:
        return data, b""  # the head ended in an earlier chunk
    end = raw.find(b"\r\n\r\n", max(0, before - 3))
    if end == -1:
        return data, b""
    cut = end + 4 - before
    return data[:cut], data[cut:]


def _first_response(protocol: ClientProtocol) -> Response | None:
    for event in protocol.events_received():
        if isinstance(event, Response):
            return event
    return None


def _describe(exc: BaseException | None) -> str | None:
    if exc is None:
        return None
    cause = exc.__cause__
    text = str(exc)
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {cause}"
    return text


def printable(data: bytes, limit: int = 200) -> str:
    """Head bytes as text fit to quote (UTF-8 if valid, else latin-1), control characters
    escaped, at most ``limit`` characters."""
    text = header_text(data)[:limit]
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _record_head(attempt: UpgradeAttempt, raw: bytes) -> None:
    head, sep, body = raw.partition(b"\r\n\r\n")
    first = head.split(b"\r\n", 1)[0]
    if first:
        attempt.status_line = printable(first)
    if sep:
        attempt.body_start = (decode_chunked(body) if is_chunked(head) else body)[:BODY_QUOTE]


def _complete_head(attempt: UpgradeAttempt, raw: bytes) -> bool:
    """Parse a complete ``HTTP/x.y CODE`` head by hand (when the body never finished);
    fill the status code and headers. False when there is no complete, sane head."""
    head, sep, _ = raw.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/"):
        return False
    lines = header_text(head).split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not (parts[1].isdigit() and len(parts[1]) == 3):
        return False
    attempt.status_code = int(parts[1])
    attempt.response_headers = [
        (name.strip(), value.strip()) for name, colon, value in
        (line.partition(":") for line in lines[1:]) if colon
    ]
    return True


__all__ = [
    "Closed",
    "Ending",
    "Event",
    "HandshakeOutcome",
    "InvalidHandshake",
    "Message",
    "UpgradeAttempt",
    "WsConnection",
    "open_stream",
    "printable",
    "upgrade",
]
