"""The hostile echoing server of :mod:`wsdoctor.lab.echoing`, over TLS with ALPN ``h2`` and
``http/1.1``: the HTTP/1.1 side is that server (it upgrades); the HTTP/2 side advertises
SETTINGS_ENABLE_CONNECT_PROTOCOL and answers the RFC 8441 extended CONNECT in one hostile way
(:class:`H2Hostility`), echoing the request's ``authorization``, ``cookie`` and other header
values and terminal escape sequences in everything it sends: response headers, a refusal's
body, WebSocket messages and the close reason, GOAWAY debug data, and header values that the
client's h2 library refuses (so the error it raises quotes them).

Used by the HTTP/2 hostile-output tests: no secret and no raw escape may reach any output.
"""

from __future__ import annotations

import asyncio
import enum
import json
import ssl
import struct
import tempfile
from pathlib import Path
from typing import Self

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ConnectionTerminated, DataReceived, RequestReceived, StreamEnded
from h2.settings import SettingCodes, Settings
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from wsdoctor.lab.certs import CertPair
from wsdoctor.lab.echoing import CLOSE_ESCAPES, CLOSE_ROOM, HOSTILE, EchoingServer, _frame

#: Escapes as an HTTP/2 header value may carry them (no NUL, CR or LF: the client's h2
#: library refuses those), an OSC 8 hyperlink and BEL included.
HEADER_ESCAPES = ("\x1b[2J\x1b]0;pwned\x07\x1b]8;;http://evil.test/\x1b\\click\x1b]8;;\x1b\\"
                  "\x9b31m\x85\u202eevil\u202c\u2066x\u2069\x07")


class H2Hostility(enum.StrEnum):
    """How the HTTP/2 side answers the extended CONNECT."""

    ACCEPT = "accept"
    """``:status 200`` with echoing headers; a greeting quoting the secrets, echoes of every
    message with escapes, pongs, and a close reason quoting a secret."""
    REFUSE = "refuse"
    """``:status 403`` with echoing headers and a body echoing every header, escapes too."""
    RESET = "reset"
    """RST_STREAM with an error code no RFC defines."""
    GOAWAY = "goaway"
    """GOAWAY whose debug data quotes the secrets and escapes."""
    BAD_HEADER = "bad_header"
    """``:status 403`` with a header value holding a NUL next to the secrets: the client's h2
    library refuses the response in an error that quotes the value."""


class H2EchoingServer(EchoingServer):
    """The echoing server behind TLS (``tls``, issued for the name the client asks for)."""

    def __init__(self, tls: CertPair, hostility: H2Hostility, host: str = "127.0.0.1") -> None:
        super().__init__(upgrade=True, host=host)
        self.tls, self.hostility = tls, hostility

    @property
    def scheme(self) -> str:
        """``wss``: the client starts TLS."""
        return "wss"

    async def start(self) -> Self:
        """Listen with TLS offering h2 and http/1.1 in ALPN."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as directory:
            cert, key = self.tls.write(Path(directory), "h2echo")
            context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["h2", "http/1.1"])
        self.server = await asyncio.start_server(self._handle, self.host, 0, ssl=context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _behave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
            await super()._behave(reader, writer)
            return
        config = H2Configuration(client_side=False, header_encoding=None,
                                 validate_outbound_headers=False,
                                 normalize_outbound_headers=False)
        conn = H2Connection(config)
        conn.local_settings = Settings(client=False, initial_values={
            SettingCodes.MAX_CONCURRENT_STREAMS: 100, SettingCodes.ENABLE_CONNECT_PROTOCOL: 1})
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        socket: Protocol | None = None
        stream, secret = 0, ""
        while data := await reader.read(65536):
            for event in conn.receive_data(data):
                if isinstance(event, RequestReceived):
                    stream = event.stream_id
                    headers = [(n.decode("latin-1"), v.decode("latin-1"))
                               for n, v in event.headers or []]
                    secret = next((v for n, v in headers if n == "authorization"), "")
                    socket = self._answer(conn, stream, headers)
                elif isinstance(event, DataReceived) and socket is not None:
                    conn.acknowledge_received_data(event.flow_controlled_length, stream)
                    socket.receive_data(event.data)
                    if self._h2_frames(conn, stream, socket, secret):
                        socket = None
                elif isinstance(event, StreamEnded | ConnectionTerminated):
                    socket = None
            writer.write(conn.data_to_send())
            await writer.drain()

    def _secrets(self, headers: list[tuple[str, str]]) -> str:
        """The values of the request's headers other than pseudo-headers, space-separated."""
        return " ".join(v for n, v in headers if not n.startswith(":") and
                        n != "sec-websocket-version")

    def _h2_headers(self, status: str, headers: list[tuple[str, str]]
                    ) -> list[tuple[bytes, bytes]]:
        """The response head: every request header echoed (``x-echo-NAME``), the secrets in
        headers named like the ones a server sends, escapes in each."""
        secrets = self._secrets(headers)
        echo = [(f"x-echo-{n.lstrip(':')}", f"{v} {HEADER_ESCAPES}") for n, v in headers]
        fields = [(":status", status), *echo,
                  ("server", f"nginx {HEADER_ESCAPES}"),
                  ("www-authenticate", f'Bearer realm="{secrets}", error="{HEADER_ESCAPES}"'),
                  ("location", f"https://{self.host}/login?next={secrets}"),
                  ("x-served-by", secrets), ("set-cookie", f"echo={secrets}; Path=/"),
                  ("content-type", "text/plain")]
        return [(n.encode(), v.encode()) for n, v in fields]

    def _answer(self, conn: H2Connection, stream: int, headers: list[tuple[str, str]]
                ) -> Protocol | None:
        """Answer the extended CONNECT; a WebSocket protocol when it is accepted."""
        kind = self.hostility
        secrets = self._secrets(headers)
        if kind is H2Hostility.RESET:
            conn.reset_stream(stream, error_code=0x1B5B3264)
        elif kind is H2Hostility.GOAWAY:
            conn.close_connection(error_code=0xB, additional_data=(
                f"denied {secrets} {HOSTILE}").encode())
        elif kind is H2Hostility.BAD_HEADER:
            bad = [(b"x-bad", f"{secrets}\x00{HEADER_ESCAPES}".encode())]
            conn.send_headers(stream, self._h2_headers("403", headers) + bad, end_stream=True)
        elif kind is H2Hostility.REFUSE:
            conn.send_headers(stream, self._h2_headers("403", headers))
            conn.send_data(stream, self._body(headers), end_stream=True)
        else:
            conn.send_headers(stream, self._h2_headers("200", headers))
            greeting = json.dumps({"replica": secrets, "motd": HOSTILE}, ensure_ascii=False)
            conn.send_data(stream, _frame(0x1, greeting.encode()))
            return Protocol(Side.SERVER, state=State.OPEN, max_size=None)
        return None

    def _h2_frames(self, conn: H2Connection, stream: int, socket: Protocol, secret: str) -> bool:
        """Answer the client's frames: each message echoed after ``secret`` and escapes, a
        pong for each ping, a close quoting ``secret`` for a close. True once closed."""
        for frame in socket.events_received():
            if not isinstance(frame, Frame):
                continue
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                text = f"{secret} {HOSTILE} {bytes(frame.data).decode('utf-8', 'replace')}"
                conn.send_data(stream, _frame(0x1, text.encode()))
            elif frame.opcode is Opcode.PING:
                conn.send_data(stream, _frame(0xA, bytes(frame.data)))
            elif frame.opcode is Opcode.CLOSE:
                reason = (CLOSE_ESCAPES + secret[:CLOSE_ROOM]).encode()
                conn.send_data(stream, _frame(0x8, struct.pack("!H", 4000) + reason),
                               end_stream=True)
                return True
        return False


async def start_h2_echoing(tls: CertPair, hostility: H2Hostility,
                           host: str = "127.0.0.1") -> H2EchoingServer:
    """Start one HTTP/2 echoing server and return it (``stop()`` it when done)."""
    return await H2EchoingServer(tls, hostility, host).start()
