"""The first step of a WebSocket over HTTP/2: TLS with ALPN offering h2. Only when the
server chooses h2 is :mod:`wsdoctor.h2ws` (and the ``h2`` library) imported."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import field
from typing import TYPE_CHECKING

from wsdoctor.models import Target
from wsdoctor.records import dataclass
from wsdoctor.settings import Settings
from wsdoctor.tlsctx import client_context
from wsdoctor.tunnel import open_path
from wsdoctor.untrusted import header_text

if TYPE_CHECKING:
    from wsdoctor.h2ws import H2WebSocket


@dataclass
class H2Attempt:
    """What the HTTP/2 path showed, step by step."""

    alpn: str | None = None
    """The protocol the server chose in ALPN (``h2`` for HTTP/2)."""
    connect_protocol: bool | None = None
    """The server's SETTINGS_ENABLE_CONNECT_PROTOCOL (None: no SETTINGS seen)."""
    settings: dict[str, int] = field(default_factory=dict)
    status: int | None = None
    """``:status`` of the extended CONNECT (200 is the HTTP/2 form of 101)."""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body_start: bytes = b""
    error: str | None = None
    reset: str | None = None
    """The stream or connection was reset: the HTTP/2 error code's name."""
    tls_s: float | None = None
    connect_s: float | None = None
    """From sending the extended CONNECT to its response headers."""


def text(value: bytes | str) -> str:
    """A header name or value as text (HTTP/2 headers arrive as bytes): UTF-8 when it is,
    else latin-1, as the HTTP/1.1 path reads a head (:func:`wsdoctor.untrusted.header_text`),
    so a server's U+202E is one character, escaped as such, not three of mojibake."""
    return header_text(value) if isinstance(value, bytes) else value


async def open_h2_websocket(target: Target, address: str, settings: Settings,
                            verify: bool) -> tuple[H2Attempt, H2WebSocket | None]:
    """Negotiate h2, read the server's SETTINGS and, when it advertises extended CONNECT,
    open a WebSocket on a stream. The caller closes the returned WebSocket."""
    attempt = H2Attempt()
    timeout = settings.timeout
    reader, writer = await open_path(address, target.port, settings, timeout=timeout)
    try:
        context = client_context(settings, verify=verify, alpn=["h2", "http/1.1"])
        start = time.perf_counter()
        async with asyncio.timeout(timeout):
            await writer.start_tls(context, server_hostname=target.host)
        attempt.tls_s = round(time.perf_counter() - start, 6)
        ssl_object = writer.get_extra_info("ssl_object")
        attempt.alpn = ssl_object.selected_alpn_protocol() if ssl_object else None
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        attempt.error = (f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError)
                         else f"{type(exc).__name__}: {exc}")
        writer.close()
        return attempt, None
    except BaseException:
        writer.close()
        raise
    if attempt.alpn != "h2":
        writer.close()
        return attempt, None
    from wsdoctor.h2ws import h2_session

    return await h2_session(attempt, target, settings, reader, writer)
