"""A hostile echoing server on loopback: it reflects every request header back (in its body,
in response headers such as ``WWW-Authenticate``, ``Location``, ``X-Echo-*`` and a replica
name, in its status reason, its greeting and its close reason), raw and in the encodings a
server may use (percent-encoding, base64, JSON, a decoded Basic credential), and it sends
terminal escape sequences (CSI, OSC 52, C1, bidi overrides), Textual/Rich markup and
XML-invalid characters in the same places.

With ``upgrade=True`` it completes WebSocket upgrades (the 101 carries the echoes that a
client accepts in a 101: no C0 bytes), sends a greeting naming a "replica", echoes messages
and answers the first ping with a close frame whose reason quotes a secret; every plain
request gets ``401`` with the hostile head and body. With ``upgrade=False`` the upgrade gets
that ``401`` too. Used by the hostile-output tests: no secret and no raw escape may reach any
output of wsdoctor.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import struct
from urllib.parse import quote

from websockets.utils import accept_key

from wsdoctor.lab.hostile import LoopbackServer, _read_head

#: Terminal attacks: clear screen, set the title, write the clipboard (OSC 52; ended by BEL
#: and by ST, which survives renderers that drop BEL), a C1 CSI, bidi overrides.
ESCAPES = ("\x1b[2J\x1b]0;pwned\x07\x1b]52;c;cHduZWQ=\x07\x1b]2;pwned\x1b\\"
           "\x1b]52;c;cHduZWQ=\x1b\\\x9b31m\u202eevil\u202c")
#: Characters XML 1.0 cannot carry, and a DEL.
XML_INVALID = "\x00\x01\x0b\x0c\x7f\ufffe\uffff"
#: Markup that Textual/Rich would interpret if it were not treated as data.
MARKUP = "[bold red]MARKUP[/bold red][link=file:///etc/passwd]x[/link]"
#: What every hostile text carries.
HOSTILE = ESCAPES + XML_INVALID + MARKUP
#: The escapes of the close reason (123 bytes at most, the secret included).
CLOSE_ESCAPES = "\x1b]52;c;cHduZWQ=\x07\x1b[2J\x9b31m\u202e\x00"
CLOSE_ROOM = 123 - len(CLOSE_ESCAPES.encode())
#: Offset in the body at which the X-Api-Key value starts, so that a 512-byte quote of the
#: body cuts it after 10 characters (a truncated secret must not leak either).
SPLIT_AT = 502


def encodings(value: str) -> list[str]:
    """The forms in which this server echoes a value: raw, percent-encoded, base64, JSON, and
    the decoded credential of a Basic Authorization."""
    forms = [value, quote(value, safe=""), base64.b64encode(value.encode()).decode(),
             json.dumps(value)[1:-1]]
    scheme, _, credential = value.partition(" ")
    if scheme.lower() == "basic" and credential:
        with contextlib.suppress(ValueError):
            forms.append(base64.b64decode(credential, validate=True).decode())
    return forms


def _headers_of(head: bytes) -> list[tuple[str, str]]:
    lines = head.decode("utf-8", "replace").split("\r\n")[1:]
    return [(n.strip(), v.strip()) for n, sep, v in (ln.partition(":") for ln in lines) if sep]


def _value(headers: list[tuple[str, str]], name: str) -> str:
    return next((v for n, v in headers if n.lower() == name), "")


class EchoingServer(LoopbackServer):
    """The echoing server on ``host`` and a free port."""

    def __init__(self, *, upgrade: bool = True, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.upgrade = upgrade

    async def _behave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _read_head(reader)
        if not head:
            return
        headers = _headers_of(head.split(b"\r\n\r\n", 1)[0])
        key = _value(headers, "sec-websocket-key")
        if self.upgrade and key:
            writer.write(self._switching(headers, key))
            await writer.drain()
            await self._frames(reader, writer, headers)
        else:
            writer.write(self._refusal(headers))
            await writer.drain()

    def _echo_headers(self, headers: list[tuple[str, str]], *, c0: bool) -> list[str]:
        """Response header lines echoing the request: a 101 may not carry C0 bytes (the
        client would refuse it), a refusal carries everything."""
        hostile = HOSTILE if c0 else "\x9b31m\u202eevil\u202c" + MARKUP
        auth = _value(headers, "authorization")
        cookie = _value(headers, "cookie")
        api_key = _value(headers, "x-api-key")
        lines = [f"X-Echo-{name}: {value}" for name, value in headers]
        lines += [
            f"Server: nginx {hostile}",
            f'WWW-Authenticate: Basic realm="{auth}", error="{hostile}"',
            f"Location: http://{self.host}:{self.port}/login?next={quote(cookie, safe='')}"
            f"&token={api_key}",
            f"X-Served-By: {api_key or 'replica-1'}",
            f"Set-Cookie: echo={cookie}; Path=/",
            f"Authentication-Info: rspauth={api_key}",
            f"X-Hostile: {hostile}",
        ]
        return lines

    def _body(self, headers: list[tuple[str, str]]) -> bytes:
        """The hostile text, then the secret that a 512-byte quote cuts in half, then every
        header in every encoding (twice, so the body is long)."""
        cut = _value(headers, "x-api-key") or _value(headers, "authorization")
        lines = [f"{name}: {form}" for name, value in headers for form in encodings(value)]
        echo = (HOSTILE + "\n" + json.dumps(dict(headers)) + "\n" + "\n".join(lines)) * 2
        head = HOSTILE.encode() + b"\n"
        pad = b"-" * (SPLIT_AT - len(head) - 1) + b"\n"
        return head + pad + cut.encode() + b"\n" + echo.encode()

    def _refusal(self, headers: list[tuple[str, str]]) -> bytes:
        body = self._body(headers)
        auth = _value(headers, "authorization")
        head = [f"HTTP/1.1 401 Unauthorized {auth} {HOSTILE}",
                *self._echo_headers(headers, c0=True),
                "Content-Type: text/plain", f"Content-Length: {len(body)}", "Connection: close"]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body

    def _switching(self, headers: list[tuple[str, str]], key: str) -> bytes:
        accept = accept_key(key)
        head = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
                f"Sec-WebSocket-Accept: {accept}", *self._echo_headers(headers, c0=False)]
        return ("\r\n".join(head) + "\r\n\r\n").encode()

    async def _frames(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      headers: list[tuple[str, str]]) -> None:
        """Greet, echo data messages, answer the first ping (or a close) with a close frame
        whose reason quotes a secret."""
        secret = _value(headers, "x-api-key") or _value(headers, "authorization")
        greeting = json.dumps({"replica": secret or "replica-1", "motd": HOSTILE})
        writer.write(_frame(0x1, greeting.encode()))
        while True:
            first, second = await reader.readexactly(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await reader.readexactly(8))
            mask = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(length)))
            if opcode in (0x1, 0x2):
                writer.write(_frame(opcode, data))
            elif opcode in (0x8, 0x9):
                # A close reason carries at most 123 bytes.
                reason = (CLOSE_ESCAPES + secret[:CLOSE_ROOM]).encode()
                writer.write(_frame(0x8, struct.pack("!H", 4000) + reason))
                await writer.drain()
                return
            await writer.drain()


def _frame(opcode: int, data: bytes) -> bytes:
    """An unmasked server frame."""
    size = len(data)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + data


async def start_echoing(*, upgrade: bool = True, host: str = "127.0.0.1") -> EchoingServer:
    """Start one echoing server and return it (``stop()`` it when done)."""
    return await EchoingServer(upgrade=upgrade, host=host).start()


