"""The I/O half of the affinity check: a plain GET and N handshakes, cookies and replica names.

Cookie values can be session tokens: they are kept only as a short hash in observations.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import ssl
from dataclasses import field
from typing import Any

from websockets.frames import Frame

from wsdoctor.knowledge import REPLICA_HEADERS
from wsdoctor.models import Model, Target
from wsdoctor.records import dataclass
from wsdoctor.route import host_header
from wsdoctor.settings import Settings
from wsdoctor.untrusted import header_text
from wsdoctor.wsconn import Closed, Message, UpgradeAttempt, WsConnection, open_stream

HEAD_LIMIT = 64 * 1024
GREETING_WAIT_S = 0.5
_MESSAGE_KEYS = ("replica", "pod", "podName", "pod_name", "hostname", "host", "server",
                 "instance", "node")
_TEXT_NAME = re.compile(r"^\s*(?:replica|pod|server|host(?:name)?|instance)\s*[=:]\s*(\S{1,80})",
                        re.IGNORECASE)


def fingerprint(value: str) -> str:
    """A cookie value as it may appear in a report: ``sha256:1a2b3c4d (32 chars)``."""
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return f"sha256:{digest} ({len(value)} chars)"


class CookieSeen(Model):
    """One Set-Cookie, its value replaced by a fingerprint."""

    name: str
    value: str
    """``sha256:<8 hex> (<length> chars)``, never the value itself."""
    secure: bool = False
    http_only: bool = False
    same_site: str | None = None
    path: str | None = None
    domain: str | None = None
    max_age: int | None = None
    expires: str | None = None


@dataclass
class SetCookie:
    """A parsed Set-Cookie with its real value (kept in memory only, for the replay)."""

    name: str
    value: str
    seen: CookieSeen


def parse_set_cookie(header: str) -> SetCookie | None:
    """Parse one Set-Cookie header value (RFC 6265 §5.2, lenient)."""
    first, *attributes = header.split(";")
    name, sep, value = first.partition("=")
    name, value = name.strip(), value.strip().strip('"')
    if not sep or not name:
        return None
    attrs: dict[str, Any] = {}
    for attribute in attributes:
        key, _, val = attribute.partition("=")
        key, val = key.strip().lower(), val.strip()
        if key == "secure":
            attrs["secure"] = True
        elif key == "httponly":
            attrs["http_only"] = True
        elif key == "samesite":
            attrs["same_site"] = val or None
        elif key == "path":
            attrs["path"] = val or None
        elif key == "domain":
            attrs["domain"] = val or None
        elif key == "max-age":
            try:
                attrs["max_age"] = int(val)
            except ValueError:
                pass
        elif key == "expires":
            attrs["expires"] = val or None
    seen = CookieSeen(name=name, value=fingerprint(value), **attrs)
    return SetCookie(name=name, value=value, seen=seen)


def cookies_in(headers: list[tuple[str, str]]) -> list[SetCookie]:
    """Every parseable Set-Cookie of a response."""
    found = [parse_set_cookie(v) for k, v in headers if k.lower() == "set-cookie"]
    return [c for c in found if c is not None]


@dataclass
class PlainResponse:
    """The head of a plain HTTP response."""

    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None


async def plain_get(target: Target, address: str, settings: Settings) -> PlainResponse:
    """GET the WebSocket URL as plain HTTP(S) (no upgrade), to see the cookies a page gets."""
    try:
        reader, writer, _, _ = await open_stream(target, address, settings)
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        return PlainResponse(error=f"{type(exc).__name__}: {exc}")
    lines = [f"GET {target.path} HTTP/1.1", f"Host: {host_header(target)}",
             *(f"{n}: {v}" for n, v in settings.identity_headers()), "Accept: */*",
             "Connection: close"]
    lines += [f"{name}: {value}" for name, value in settings.request_headers()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    head = bytearray()
    try:
        async with asyncio.timeout(settings.timeout):
            while b"\r\n\r\n" not in head and len(head) < HEAD_LIMIT:
                chunk = await reader.read(4096)
                if not chunk:
                    break
                head.extend(chunk)
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        return PlainResponse(error=f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()
    text = header_text(bytes(head).split(b"\r\n\r\n", 1)[0])
    status_line, *header_lines = text.split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return PlainResponse(error=f"not an HTTP response: {status_line[:80]!r}")
    headers = []
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    return PlainResponse(status=int(parts[1]), headers=headers)


def replica_header(attempt: UpgradeAttempt, wanted: str | None) -> tuple[str, str] | None:
    """(header name, value) naming the replica: ``--backend-header`` or a common one."""
    for name in ([wanted] if wanted else list(REPLICA_HEADERS)):
        value = attempt.header(name)
        if value:
            return name, value
    return None


def replica_in_message(data: bytes) -> str | None:
    """The replica a first message names: JSON ``{"replica": ...}`` (or pod, hostname...), or
    text such as ``pod=chat-7d9f``."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return None
    try:
        decoded = json.loads(text)
    except ValueError:
        match = _TEXT_NAME.match(text)
        return match.group(1) if match else None
    if isinstance(decoded, dict):
        for key in _MESSAGE_KEYS:
            value = decoded.get(key)
            if isinstance(value, str) and value:
                return value[:80]
    return None


async def first_message(conn: WsConnection, wait: float) -> bytes | None:
    """The first data message within ``wait`` seconds (server pings are skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while (remaining := deadline - loop.time()) > 0:
        event = await conn.next_event(remaining)
        if event is None or isinstance(event, Closed):
            return None
        if isinstance(event, Message):
            return event.data
        assert isinstance(event, Frame)
    return None
