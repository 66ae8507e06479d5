"""The http probe: a plain HTTP GET of the target path on every reachable address (over TLS
for wss, with the target's SNI and Host), and for a wss target on the default port one plain
``http://`` request on port 80, to see whether it redirects to HTTPS and where to.

The raw response head is kept (redacted) so the rules can say which proxy answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import Any, Literal

from wsdoctor.checks.base import Observation, ProbeContext, Skip
from wsdoctor.checks.tcp import TcpObservation
from wsdoctor.httpbody import decode_chunked
from wsdoctor.models import Model, Target, endpoint
from wsdoctor.redact import redact_header
from wsdoctor.settings import Settings
from wsdoctor.tlsctx import client_context
from wsdoctor.tunnel import ProxyError, open_path
from wsdoctor.untrusted import header_text

HttpOutcome = Literal[
    "response", "connect_failed", "tls_failed", "timeout", "closed", "reset", "bad_response",
    "too_large", "error",
]
HEAD_LIMIT = 64 * 1024
BODY_QUOTE = 512
READ_SIZE = 65536
#: Port 80 is a side question: give it less time than the target itself.
PLAIN_HTTP_TIMEOUT = 1.0
#: The body is only quoted: do not wait long for a body that trickles or never ends.
BODY_WAIT = 0.5


class HttpHeader(Model):
    """One header line as sent or received (secret values redacted)."""

    name: str
    value: str


class HttpExchange(Model):
    """One GET request and what came back."""

    purpose: Literal["target", "plain_http"]
    """``target``: the WebSocket URL as plain GET; ``plain_http``: ``http://`` on port 80."""
    url: str
    address: str
    port: int
    outcome: HttpOutcome
    error: str | None = None
    status: int | None = None
    status_line: str | None = None
    headers: list[HttpHeader] = []
    body_start: str | None = None
    """At most 512 bytes of the body, decoded leniently."""
    response_s: float | None = None
    """From sending the request to the complete response head."""

    @property
    def endpoint(self) -> str:
        """``addr:port`` with IPv6 brackets."""
        return endpoint(self.address, self.port)

    def header(self, name: str) -> str | None:
        """The first response header of that name (case-insensitive)."""
        lowered = name.lower()
        return next((h.value for h in self.headers if h.name.lower() == lowered), None)

    @property
    def location(self) -> str | None:
        """The Location header of a redirect."""
        return self.header("location") if self.status and 300 <= self.status < 400 else None


class HttpObservation(Observation):
    """Plain HTTP requests to the target path, and to port 80 for a wss target."""

    check: Literal["http"] = "http"
    host: str
    request_headers: list[HttpHeader]
    exchanges: list[HttpExchange]
    plain_http: str | None = None
    """Why there is no port-80 request (None when there is one)."""

    @property
    def target_exchanges(self) -> list[HttpExchange]:
        """The requests for the target URL itself."""
        return [e for e in self.exchanges if e.purpose == "target"]

    @property
    def plain_exchange(self) -> HttpExchange | None:
        """The port-80 request, if one was made."""
        return next((e for e in self.exchanges if e.purpose == "plain_http"), None)


def build_request(target: Target, settings: Settings, host_header: str) -> list[tuple[str, str]]:
    """Request headers in order: Host, identity, then the user's (which may replace Host)."""
    user = settings.request_headers()
    user_names = {n.lower() for n, _ in user}
    base = [("Host", host_header), ("User-Agent", settings.user_agent),
            ("Accept", "*/*"), ("Connection", "close")]
    return [(n, v) for n, v in base if n.lower() not in user_names] + user


def _parse_head(head: bytes) -> tuple[str, int, list[tuple[str, str]]]:
    """Status line, status code and headers of a response head; ValueError if not HTTP."""
    lines = header_text(head).split("\r\n")
    status_line = lines[0]
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP status line: {status_line[:80]!r}")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    return status_line, int(parts[1]), headers


async def _read_body_start(reader: asyncio.StreamReader, rest: bytes,
                           headers: list[tuple[str, str]], status: int, timeout: float) -> bytes:
    if status < 200 or status in (204, 304):
        return b""
    lookup = {n.lower(): v for n, v in headers}
    chunked = "chunked" in lookup.get("transfer-encoding", "").lower()
    want = BODY_QUOTE * 2 if chunked else BODY_QUOTE
    length = lookup.get("content-length", "")
    if not chunked and length.isdigit():
        want = min(int(length), BODY_QUOTE)
    data = rest
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(timeout):
            while len(data) < want:
                chunk = await reader.read(READ_SIZE)
                if not chunk:
                    break
                data += chunk
    return (decode_chunked(data) if chunked else data)[:BODY_QUOTE]


async def fetch(
    *,
    purpose: Literal["target", "plain_http"],
    url: str,
    address: str,
    port: int,
    path: str,
    request: list[tuple[str, str]],
    tls: ssl.SSLContext | None,
    server_name: str | None,
    timeout: float,
    settings: Settings | None = None,
) -> HttpExchange:
    """GET ``path`` from ``address:port`` (TLS when ``tls`` is given); never raises for I/O."""

    def done(outcome: HttpOutcome, error: str | None = None, **seen: Any) -> HttpExchange:
        return HttpExchange(purpose=purpose, url=url, address=address, port=port,
                            outcome=outcome, error=error, **seen)

    try:
        reader, writer = await open_path(address, port, settings or Settings(),
                                         timeout=timeout, limit=HEAD_LIMIT)
    except ProxyError as exc:
        return done("connect_failed", str(exc))
    except (OSError, TimeoutError) as exc:
        return done("connect_failed", f"TCP connect failed: {exc or 'timeout'}")
    try:
        if tls is not None:
            try:
                async with asyncio.timeout(timeout):
                    await writer.start_tls(tls, server_hostname=server_name)
            except (OSError, TimeoutError) as exc:
                return done("tls_failed", f"TLS handshake failed: {exc or 'timeout'}")
        lines = [f"GET {path} HTTP/1.1", *(f"{n}: {v}" for n, v in request), "", ""]
        writer.write("\r\n".join(lines).encode("latin-1", errors="replace"))
        start = time.perf_counter()
        buffer = b""
        try:
            async with asyncio.timeout(timeout):
                await writer.drain()
                while b"\r\n\r\n" not in buffer:
                    if len(buffer) > HEAD_LIMIT:
                        return done("too_large", f"the response head exceeds {HEAD_LIMIT} bytes")
                    chunk = await reader.read(READ_SIZE)
                    if not chunk:
                        break
                    buffer += chunk
                    if not b"HTTP/".startswith(buffer[:5]):
                        return done("bad_response", "the server answered with non-HTTP "
                                    f"bytes: {buffer[:80]!r}")
        except TimeoutError:
            quoted = f" after {len(buffer)} bytes: {buffer[:80]!r}" if buffer else ""
            return done("timeout", f"no complete response within {timeout:g} s{quoted}")
        except ConnectionResetError:
            return done("reset", "the server reset the connection before a complete response")
        except OSError as exc:
            return done("error", f"{type(exc).__name__}: {exc}")
        response_s = round(time.perf_counter() - start, 6)
        head, sep, rest = buffer.partition(b"\r\n\r\n")
        if len(head) > HEAD_LIMIT:
            return done("too_large", f"the response head exceeds {HEAD_LIMIT} bytes")
        if not sep:
            if buffer and not buffer.startswith(b"HTTP/"):
                return done("bad_response", f"the server answered with non-HTTP bytes: "
                            f"{buffer[:80]!r}")
            quoted = f" after {len(buffer)} bytes: {buffer[:80]!r}" if buffer else ""
            return done("closed", f"the server closed the connection before a complete "
                        f"response{quoted}")
        try:
            status_line, status, headers = _parse_head(head)
        except ValueError as exc:
            return done("bad_response", f"the server answered with non-HTTP bytes: {exc}")
        body = await _read_body_start(reader, rest, headers, status, min(timeout, BODY_WAIT))
        return done(
            "response",
            status=status,
            status_line=status_line,
            headers=[HttpHeader(name=n, value=redact_header(n, v)) for n, v in headers],
            body_start=body.decode("utf-8", errors="replace") if body else None,
            response_s=response_s,
        )
    finally:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            writer.transport.abort()  # cancelled (quit, time limit): do not wait for the peer
        else:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
                async with asyncio.timeout(min(timeout, 0.5)):
                    await writer.wait_closed()


def _authority(host: str, port: int, default: int) -> str:
    bracketed = f"[{host}]" if ":" in host else host
    return bracketed if port == default else f"{bracketed}:{port}"


async def probe_http(ctx: ProbeContext) -> HttpObservation:
    """GET the target path on every reachable address; for wss on 443, also http:// on 80."""
    target, settings = ctx.target, ctx.settings
    tcp = ctx.get(TcpObservation)
    reachable = [a.address for a in tcp.reachable] if tcp is not None else []
    if not reachable:
        raise Skip("no address accepted a TCP connection")
    # TLS problems are the tls check's to judge: here the HTTP layer is observed regardless.
    tls = client_context(settings, verify=False, alpn=["http/1.1"]) if target.secure else None
    scheme = "https" if target.secure else "http"
    url = f"{scheme}://{_authority(target.host, target.port, 443 if target.secure else 80)}"
    request = build_request(target, settings, target.host_header)
    jobs = [
        fetch(purpose="target", url=url + target.path, address=a, port=target.port,
              path=target.path, request=request, tls=tls, server_name=target.host,
              timeout=settings.timeout, settings=settings)
        for a in reachable
    ]
    plain_note: str | None = None
    if not target.secure:
        plain_note = "the target is already plain HTTP (ws://)"
    elif target.port != 443:
        plain_note = f"the target names port {target.port}, so port 80 is not assumed"
    elif settings.proxy is not None:
        plain_note = f"connections go through the proxy {settings.proxy.url}: port 80 is not " \
            "asked about"
    else:
        address = settings.pinned_address(target.host, 80) or reachable[0]
        plain_request = build_request(target, settings, _authority(target.host, 80, 80))
        jobs.append(
            fetch(purpose="plain_http", url=f"http://{_authority(target.host, 80, 80)}"
                  f"{target.path}", address=address, port=80, path=target.path,
                  request=plain_request, tls=None, server_name=None,
                  timeout=min(settings.timeout, PLAIN_HTTP_TIMEOUT))
        )
    exchanges = await asyncio.gather(*jobs)
    secret_names = frozenset(h.name.lower() for h in settings.headers)
    return HttpObservation(
        host=target.host,
        request_headers=[HttpHeader(name=n, value=redact_header(n, v, secret_names))
                         for n, v in request],
        exchanges=list(exchanges),
        plain_http=plain_note,
    )
