"""The life of one HTTP request to the exporter, bounded at every step:

- the request head must arrive within :data:`HEAD_TIMEOUT` of its first byte (a slowloris
  client is disconnected), and an idle connection is closed after :data:`IDLE_TIMEOUT`;
- a malformed request is answered 400 by aiohttp and logged as one line, never a traceback;
- a handler whose client went away is cancelled, and its probe with it (aiohttp's
  ``handler_cancellation``);
- waiting for a probe slot ends at the scrape's deadline (:func:`acquire_by`);
- answers are rendered one per event-loop turn (:class:`Turns`), so a burst of them (a
  storm of scrapes timing out together) never holds up ``/healthz``.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from wsdoctor.exporter.scheduler import Pool
from wsdoctor.redact import mask_credentials
from wsdoctor.untrusted import printable

#: Seconds a client has to send a whole request head once it sent its first byte.
HEAD_TIMEOUT = 5.0
#: Seconds an idle keep-alive connection (or one that never sends a byte) stays open.
IDLE_TIMEOUT = 30.0
#: Longest log line about a bad request (the request's bytes are quoted, escaped).
LOG_LINE_LIMIT = 300
#: Longest piece of a malformed request quoted back in the 400 answer and the log.
QUOTE_LIMIT = 120


class HeadDeadline(asyncio.Protocol):
    """Wraps aiohttp's protocol for one connection: bytes that do not become a request (its
    handler starting, as :func:`track_requests` reports) within HEAD_TIMEOUT close it."""

    def __init__(self, inner: asyncio.Protocol, limit: float = HEAD_TIMEOUT) -> None:
        self.inner = inner
        self.limit = limit
        self.transport: asyncio.Transport | None = None
        self.busy = 0
        """Requests of this connection being handled."""
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._arm()  # the first request's head is due as soon as the client connects
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and not self.busy and data:
            self._arm()
        self.inner.data_received(data)

    def _arm(self) -> None:
        self._deadline = asyncio.get_running_loop().call_later(self.limit, self._expired)

    def request_started(self) -> None:
        """A request head arrived whole: its handler runs."""
        self.busy += 1
        self._disarm()

    def request_ended(self) -> None:
        """The handler returned."""
        self.busy -= 1

    def _expired(self) -> None:
        self._deadline = None
        if not self.busy and self.transport is not None:
            self.transport.abort()

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


@web.middleware
async def track_requests(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                         ) -> web.StreamResponse:
    """Tell the connection's :class:`HeadDeadline` that a request is being handled."""
    transport = request.transport
    guard = transport.get_protocol() if transport is not None else None
    if not isinstance(guard, HeadDeadline):
        return await handler(request)
    guard.request_started()
    try:
        return await handler(request)
    finally:
        guard.request_ended()


async def listen(runner: web.AppRunner, host: str | None, port: int,
                 head_timeout: float = HEAD_TIMEOUT) -> asyncio.Server:
    """Serve ``runner``'s application on ``host:port``, every connection wrapped in a
    :class:`HeadDeadline` (aiohttp's server is a protocol factory, as its low-level API
    documents)."""
    server = runner.server
    assert server is not None, "runner.setup() first"
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: HeadDeadline(_protocol(server), head_timeout),
                                    host, port, reuse_address=True)


#: A bytes literal as aiohttp's parser quotes the offending line: ``b'GET /\x01 HTTP/1.1'``,
#: ``bytearray(b'...')``.
_BYTES_LITERAL = re.compile(r"""^(?:bytearray\()?b(['"])(.*)\1\)?$""")


def request_error_sentence(message: str) -> str:
    """aiohttp's message about a request it could not parse (reasons over several lines, the
    line quoted as a Python bytes literal, a caret under the fault) as one sentence:
    ``Malformed request: invalid char in url path, in the line "GET /\x01 HTTP/1.1".``"""
    reasons: list[str] = []
    quoted = None
    for line in message.splitlines():
        text = line.strip()
        if not text or set(text) <= set("^~ "):
            continue
        literal = _BYTES_LITERAL.match(text)
        if literal is not None:
            try:
                raw = ast.literal_eval(f"b{literal.group(1)}{literal.group(2)}{literal.group(1)}")
            except (ValueError, SyntaxError):
                raw = literal.group(2).encode("latin-1", "replace")
            # A header line quoted whole would carry the client's credential back (and
            # into the log): its value is masked.
            quoted = printable(mask_credentials(bytes(raw).decode("latin-1")),
                               limit=QUOTE_LIMIT)
            continue
        reason = text.removeprefix("400, message:").strip().rstrip(":.").strip()
        if reason:
            reasons.append(reason[0].lower() + reason[1:] if reason[1:2].islower() else reason)
    said = ": ".join(reasons) or "it could not be parsed"
    return f"Malformed request: {printable(said, limit=QUOTE_LIMIT)}" + \
        (f', in the line "{quoted}".' if quoted else ".")


class _SentenceErrors(RequestHandler):
    """aiohttp's request handler, answering a request it cannot parse with one sentence (its
    own body quotes the request line as a Python bytes literal over several lines)."""

    __slots__ = ()

    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None, message: str | None = None,
                     ) -> web.StreamResponse:
        if message is not None:
            message = request_error_sentence(message) + "\n"
        return super().handle_error(request, status, exc, message)


def _protocol(server: web.Server) -> RequestHandler:
    """What ``server()`` makes for a connection, as :class:`_SentenceErrors` (with the same
    settings: the server keeps them for its handlers)."""
    return _SentenceErrors(server, loop=asyncio.get_running_loop(),
                           **getattr(server, "_kwargs", {}))


def bound_port(server: asyncio.Server) -> int | None:
    """The port ``server`` listens on (the one picked for port 0)."""
    for sock in server.sockets:
        return int(sock.getsockname()[1])
    return None


class _OneLine(logging.Handler):
    """A log record as one line on the exporter's log: no traceback, control characters
    escaped, length capped."""

    def __init__(self, write: Callable[[str], None]) -> None:
        super().__init__(logging.DEBUG)
        self.write = write

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and exc.code == 400:
            message = f"{message}: {request_error_sentence(exc.message)}"
        elif exc is not None:
            message = f"{message}: {type(exc).__name__}: {exc}"
        # aiohttp quotes the header line it could not parse: a scraper's credential.
        message = mask_credentials(message)
        text = "".join(c if c.isprintable() else " " if c in "\r\n\t" else f"\\x{ord(c):02x}"
                       for c in " ".join(message.split()))
        if len(text) > LOG_LINE_LIMIT:
            text = text[:LOG_LINE_LIMIT - 1] + "…"
        self.write(text)


def server_logger(write: Callable[[str], None]) -> logging.Logger:
    """aiohttp's server logger for one exporter: every record one line through ``write``."""
    logger = logging.Logger("wsdoctor.exporter.http", logging.DEBUG)
    logger.propagate = False
    logger.addHandler(_OneLine(write))
    return logger


def runner_options(write_log: Callable[[str], None]) -> dict[str, Any]:
    """AppRunner settings for the request lifecycle above."""
    return {"access_log": None, "handle_signals": False, "handler_cancellation": True,
            "keepalive_timeout": IDLE_TIMEOUT, "logger": server_logger(write_log)}


class Turns:
    """``async with turns:`` runs CPU-bound steps of many requests (rendering an answer) one
    per event-loop iteration, in arrival order: the loop serves other connections between
    them."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> None:
        await self._lock.acquire()
        try:
            await asyncio.sleep(0)  # the loop polls its sockets before each turn
        except BaseException:
            self._lock.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._lock.release()


async def acquire_by(pool: Pool, deadline: float) -> bool:
    """Take a slot of ``pool`` before ``deadline`` (loop time); False when none came free."""
    try:
        async with asyncio.timeout_at(deadline):
            await pool.acquire()
    except TimeoutError:
        return False
    return True
