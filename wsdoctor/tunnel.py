"""Every TCP connection wsdoctor makes, direct or through a proxy: an HTTP ``CONNECT`` tunnel
(over TLS for an ``https://`` proxy) or SOCKS5 (RFC 1928, with RFC 1929 credentials).

What the proxy answered is kept (status line, headers, the start of its error page, the
SOCKS reply) so that a refused tunnel is diagnosed as the proxy's doing, with the proxy
named. Credentials are sent, never recorded.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import ssl
from dataclasses import field
from typing import Literal

from wsdoctor.records import dataclass
from wsdoctor.settings import ProxyConfig, Settings
from wsdoctor.untrusted import header_text

HEAD_LIMIT = 64 * 1024
BODY_QUOTE = 512
#: The proxy's error page is only quoted: do not wait long for it.
BODY_WAIT = 0.3
ProxyStage = Literal["connect", "tls", "auth", "tunnel"]

#: RFC 1928 §6 reply codes.
SOCKS_REPLIES = {
    1: "general SOCKS server failure", 2: "connection not allowed by ruleset",
    3: "network unreachable", 4: "host unreachable", 5: "connection refused",
    6: "TTL expired", 7: "command not supported", 8: "address type not supported",
}


@dataclass
class ProxyAnswer:
    """What the proxy said to the tunnel request."""

    status: int | None = None
    status_line: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body_start: bytes = b""
    socks_reply: int | None = None

    def header(self, name: str) -> str | None:
        """First header of that name (case-insensitive)."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


class ProxyError(ConnectionError):
    """The proxy could not be reached, or did not open the tunnel; the message names it."""

    def __init__(self, proxy: ProxyConfig, stage: ProxyStage, message: str,
                 answer: ProxyAnswer | None = None) -> None:
        super().__init__(f"proxy {proxy.url}: {message}")
        self.proxy = proxy
        self.stage = stage
        self.answer = answer


async def open_path(address: str, port: int, settings: Settings, *, timeout: float,
                    limit: int = HEAD_LIMIT) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP stream to ``address:port``: direct, or a tunnel through ``settings.proxy``
    (``address`` may then be a name the proxy resolves). Raises ``OSError`` (a
    :class:`ProxyError` for the proxy's part) or ``TimeoutError``."""
    proxy = settings.proxy
    if proxy is None:
        async with asyncio.timeout(timeout):
            return await asyncio.open_connection(address, port, limit=limit)
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(proxy.host, proxy.port, limit=limit)
    except TimeoutError:
        raise ProxyError(proxy, "connect", f"no TCP connection within {timeout:g} s") from None
    except OSError as exc:
        raise ProxyError(proxy, "connect", f"cannot connect: {exc.strerror or exc}") from None
    in_tls = False
    try:
        async with asyncio.timeout(timeout):
            if proxy.scheme == "https":
                in_tls = True
                await _proxy_tls(writer, proxy, settings)
                in_tls = False
            if proxy.scheme.startswith("socks5"):
                await _socks5(reader, writer, proxy, address, port)
            else:
                await _connect(reader, writer, proxy, address, port, settings)
    except TimeoutError:
        writer.close()
        if in_tls:  # a plain HTTP proxy named https:// waits for a request, silent
            raise ProxyError(proxy, "tls", f"TLS with the proxy failed: no answer to the "
                             f"TLS ClientHello within {timeout:g} s") from None
        raise ProxyError(proxy, "tunnel", f"no answer to the tunnel request for "
                         f"{_authority(address, port)} within {timeout:g} s") from None
    except ProxyError:
        writer.close()
        raise
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
        writer.close()
        raise ProxyError(proxy, "tunnel", f"the connection to the proxy failed while "
                         f"opening the tunnel: {exc or type(exc).__name__}") from None
    except BaseException:
        writer.close()
        raise
    return reader, writer


async def proxy_certificate_problem(proxy: ProxyConfig, settings: Settings,
                                    timeout: float) -> str | None:
    """Why an ``https://`` proxy's certificate is not trusted here (``--cacert`` or the system
    store), or None: -k goes on past it, and this keeps it from going unsaid. Any other
    failure is None too (the tunnel's own attempt reports it)."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(proxy.host, proxy.port)
    except (OSError, TimeoutError):
        return None
    try:
        async with asyncio.timeout(timeout):
            await writer.start_tls(ssl.create_default_context(cafile=settings.cafile),
                                   server_hostname=proxy.host)
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_message or str(exc)
    except (OSError, TimeoutError, ssl.SSLError):
        return None
    finally:
        writer.close()
    return None


async def _proxy_tls(writer: asyncio.StreamWriter, proxy: ProxyConfig,
                     settings: Settings) -> None:
    context = ssl.create_default_context(cafile=settings.cafile) if not settings.insecure \
        else ssl._create_unverified_context()
    try:
        await writer.start_tls(context, server_hostname=proxy.host)
    except (OSError, ssl.SSLError) as exc:
        raise ProxyError(proxy, "tls", f"TLS with the proxy failed: {exc}") from None


def _authority(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


async def _connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   proxy: ProxyConfig, address: str, port: int, settings: Settings) -> None:
    authority = _authority(address, port)
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}",
             f"User-Agent: {settings.effective_user_agent}", "Proxy-Connection: keep-alive"]
    if proxy.username is not None:
        user = proxy.username.get_secret_value()
        password = proxy.password.get_secret_value() if proxy.password is not None else ""
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        lines.append(f"Proxy-Authorization: Basic {token}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace"))
    await writer.drain()
    try:
        raw = await reader.readuntil(b"\r\n\r\n")  # not a byte past the head: it is the tunnel's
    except asyncio.IncompleteReadError as exc:
        raise ProxyError(proxy, "tunnel", f"the proxy closed the connection without "
                         f"answering CONNECT {authority}"
                         + (f" (it began {exc.partial[:60]!r})" if exc.partial else "")) from None
    except asyncio.LimitOverrunError:
        raise ProxyError(proxy, "tunnel", f"the answer to CONNECT {authority} has a head "
                         "larger than 64 KiB") from None
    raw_head = raw[:-4]
    answer = _parse_answer(raw_head)
    if answer.status is not None and 200 <= answer.status < 300:
        return
    rest = b""
    answer.body_start = rest
    length = answer.header("Content-Length") or ""
    want = min(int(length), BODY_QUOTE) if length.isdigit() else BODY_QUOTE
    try:
        async with asyncio.timeout(BODY_WAIT):
            while len(answer.body_start) < want:
                chunk = await reader.read(4096)
                if not chunk:
                    break
                answer.body_start = (answer.body_start + chunk)[:BODY_QUOTE]
    except (TimeoutError, OSError):
        pass
    stage: ProxyStage = "auth" if answer.status == 407 else "tunnel"
    said = answer.status_line or repr(raw_head[:60])
    raise ProxyError(proxy, stage, f"CONNECT {authority} was answered '{said}'", answer)


def _parse_answer(head: bytes) -> ProxyAnswer:
    lines = header_text(head).split("\r\n")
    answer = ProxyAnswer(status_line=lines[0][:200])
    parts = lines[0].split(" ", 2)
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        answer.status = int(parts[1])
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            answer.headers.append((name.strip(), value.strip()))
    return answer


async def _socks5(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  proxy: ProxyConfig, address: str, port: int) -> None:
    methods = b"\x00\x02" if proxy.username is not None else b"\x00"
    writer.write(b"\x05" + bytes([len(methods)]) + methods)
    await writer.drain()
    version, method = await reader.readexactly(2)
    if version != 5:
        raise ProxyError(proxy, "tunnel", f"not a SOCKS5 server (it answered version {version})")
    if method == 0xFF:
        raise ProxyError(proxy, "auth", "the SOCKS5 server accepts none of the offered "
                         "authentication methods" + ("" if proxy.username is not None else
                                                     " (it may want a user name and password)"),
                         ProxyAnswer(socks_reply=0xFF))
    if method == 2:
        if proxy.username is None:
            raise ProxyError(proxy, "auth", "the SOCKS5 server wants a user name and password")
        user = proxy.username.get_secret_value().encode()
        password = (proxy.password.get_secret_value() if proxy.password else "").encode()
        writer.write(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
        await writer.drain()
        _, status = await reader.readexactly(2)
        if status != 0:
            raise ProxyError(proxy, "auth", "the SOCKS5 server refused the user name and "
                             "password", ProxyAnswer(socks_reply=status))
    try:
        packed = ipaddress.ip_address(address).packed
        target = (b"\x01" if len(packed) == 4 else b"\x04") + packed
    except ValueError:
        name = address.encode("idna")
        target = b"\x03" + bytes([len(name)]) + name
    writer.write(b"\x05\x01\x00" + target + port.to_bytes(2, "big"))
    await writer.drain()
    _, reply, _, kind = await reader.readexactly(4)
    if reply != 0:
        meaning = SOCKS_REPLIES.get(reply, f"reply {reply}")
        raise ProxyError(proxy, "tunnel", f"the SOCKS5 server did not connect to "
                         f"{_authority(address, port)}: {meaning}", ProxyAnswer(socks_reply=reply))
    size = {1: 4, 4: 16}.get(kind)
    if size is None:
        size = (await reader.readexactly(1))[0]
    await reader.readexactly(size + 2)

