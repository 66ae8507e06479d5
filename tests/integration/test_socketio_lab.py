"""A real socket.io server (python-socketio on aiohttp, engine.io protocol 4, default options
unless a test says otherwise): it takes an echo probe or a binary frame for a malformed packet
and closes, and cuts a client that does not answer its heartbeat. wsdoctor recognises its open
packet and speaks to it as socket.io clients do."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import socketio
from aiohttp import web

from tests.helpers import run_cli
from wsdoctor.lab.backend import LabLoop
from wsdoctor.lab.socketio2 import SocketIO2Server

pytestmark = pytest.mark.lab

PATH = "/socket.io/?EIO=4&transport=websocket"


async def _cancel_the_rest() -> None:
    """Cancel the tasks socket.io leaves behind (its heartbeats), so the loop closes clean."""
    current = asyncio.current_task()
    rest = [t for t in asyncio.all_tasks() if t is not current]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


@pytest.fixture
def start_socketio() -> Iterator[Callable[..., int]]:
    """Start a socket.io server on a free port: ``start_socketio(refuse=..., **options)``."""
    runners: list[tuple[socketio.AsyncServer, web.AppRunner]] = []
    lab_loop = LabLoop()

    def start(refuse: str | None = None, **options: Any) -> int:
        sio = socketio.AsyncServer(async_mode="aiohttp", **options)

        async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
            if refuse is not None:  # a middleware refusing the client: CONNECT_ERROR
                raise socketio.exceptions.ConnectionRefusedError(refuse)

        sio.on("connect", connect)
        app = web.Application()
        sio.attach(app)

        async def serve() -> int:
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append((sio, runner))
            return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

        return lab_loop.run(serve())

    yield start
    for sio, runner in runners:
        lab_loop.run(sio.shutdown())
        lab_loop.run(runner.cleanup())
    lab_loop.run(_cancel_the_rest())
    lab_loop.close()


def diagnose(port: int, *extra: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(f"ws://127.0.0.1:{port}{PATH}", "--format", "json", "--no-kubernetes",
                     "--timeout", "3", *extra)
    return result.status, json.loads(result.stdout)


def test_a_healthy_socketio_server_with_default_options_passes(
        start_socketio: Callable[..., int]) -> None:
    """Given socket.io with its defaults, the messages check joins the main namespace instead
    of sending an echo probe (which socket.io would answer by closing), the large message
    passes as an event, and nothing is found."""
    status, report = diagnose(start_socketio())
    messages = next(c for c in report["checks"] if c["id"] == "messages")
    found = [f["code"] for f in report["findings"] if f["status"] != "info"]
    assert status == 0 and found == [], found
    observation = messages["observation"]
    assert observation["protocol"] == "socket.io"
    assert observation["app"]["purpose"] == "socket.io connect"
    assert observation["app"]["matched"] is True
    assert observation["large_message"]["outcome"] == "delivered"
    assert messages["summary"].startswith("socket.io namespace joined")


def test_the_largest_message_is_socketios_max_http_buffer_size(
        start_socketio: Callable[..., int]) -> None:
    """Given socket.io's default maxHttpBufferSize (1e6 bytes), --find-max-message finds it
    (each fresh connection joins the namespace first), refused with close 1009."""
    _, report = diagnose(start_socketio(), "--find-max-message")
    found = next(c for c in report["checks"] if c["id"] == "messages")
    largest = found["observation"]["max_message"]
    assert 900_000 <= largest["largest_ok"] <= 1_000_000 < largest["smallest_refused"]
    assert largest["refused_how"] == "close 1009"


def test_a_middleware_refusal_is_quoted_as_socketios(
        start_socketio: Callable[..., int]) -> None:
    """Given a connect handler that refuses every client, the finding says socket.io refused
    the namespace and quotes its CONNECT_ERROR message."""
    status, report = diagnose(start_socketio(refuse="not authorized"))
    refused = next(f for f in report["findings"] if f["code"] == "WSD-MESSAGES-EXPECT-MISMATCH")
    assert status == 1
    assert refused["title"] == "socket.io refused the namespace connection"
    assert "not authorized" in refused["detail"] and "'44" in refused["detail"]


@pytest.mark.slow
async def test_the_watch_answers_socketios_heartbeat_so_it_does_not_cut_the_connections(
        start_socketio: Callable[..., int]) -> None:
    """Given socket.io pinging every 0.5 s and closing clients that do not answer within
    0.5 s, the watch holds its connections for 4 s without a drop, as a socket.io client
    would (before, every connection was cut and blamed on a 'proxy reload')."""
    from wsdoctor.settings import Settings
    from wsdoctor.target import parse_target
    from wsdoctor.watch.model import WatchObservation, WatchOptions
    from wsdoctor.watch.session import WatchSession

    port = start_socketio(ping_interval=0.5, ping_timeout=0.5)
    session = WatchSession(parse_target(f"ws://127.0.0.1:{port}{PATH}"),
                           Settings(kubernetes=False),
                           WatchOptions(connections=2, duration=4.0, open_interval=0.2))
    report = await session.run(asyncio.Event())
    check = report.check("watch")
    assert check is not None and isinstance(check.observation, WatchObservation)
    assert check.observation.drops() == [], [d.how() for d in check.observation.drops()]
    assert len(check.observation.connections) == 2


@pytest.mark.slow
def test_the_idle_checks_answer_socketios_heartbeat_as_its_clients_do(
        start_socketio: Callable[..., int]) -> None:
    """Given socket.io pinging every 0.5 s (closing clients silent for 0.5 s more), --idle
    finds its heartbeat keeps connections alive, not 'the application closes idle
    connections' and a failed keepalive (socket.io cut the silent connections, which no
    socket.io client is)."""
    port = start_socketio(ping_interval=0.5, ping_timeout=0.5)
    status, report = diagnose(port, "--idle", "--idle-max", "3")
    idle = next(c for c in report["checks"] if c["id"] == "idle")
    failed = [f["code"] for f in report["findings"] if f["status"] in ("fail", "warn")]
    assert status == 0 and failed == [], failed
    assert idle["observation"]["timeout_s"] is None
    assert idle["summary"].startswith("kept alive by server pings")


def test_eio3_in_the_url_is_socketios_version_refusal_with_its_fix(
        start_socketio: Callable[..., int]) -> None:
    """Given a URL with EIO=3 (socket.io 2 clients) against socket.io 5, which refuses that
    protocol with 400, the finding names the engine.io version, not a subprotocol or Origin,
    and says how to let such clients in (allowEIO3) or to test with EIO=4."""
    port = start_socketio()
    result = run_cli(f"ws://127.0.0.1:{port}/socket.io/?EIO=3&transport=websocket",
                     "--format", "json", "--no-kubernetes", "--only", "handshake")
    finding = next(f for f in json.loads(result.stdout)["findings"]
                   if f["check"] == "handshake")
    assert finding["code"] == "WSD-HANDSHAKE-BAD-REQUEST"
    assert "engine.io protocol the URL asks for (EIO=3)" in finding["detail"]
    assert "allowEIO3" in finding["fix"]["summary"] and "EIO=4" in finding["fix"]["summary"]
    assert "subprotocol" not in finding["fix"]["summary"]


def test_a_refused_large_message_is_called_a_socketio_event(
        start_socketio: Callable[..., int]) -> None:
    """Given socket.io's 1 MB buffer and a 2 MB --message-size, the finding speaks of the
    socket.io event (a text frame) wsdoctor sent, never of a binary message."""
    _, report = diagnose(start_socketio(), "--message-size", "2000000", "--only", "messages")
    found = [f for f in report["findings"] if f["check"] == "messages"
             and f["code"] in ("WSD-MESSAGES-LARGE-LOST", "WSD-MESSAGES-TOO-BIG")]
    assert found and "socket.io event (one text frame)" in found[0]["detail"], found
    assert "binary" not in found[0]["detail"]


@pytest.fixture
def socketio2(lab_loop: LabLoop) -> Iterator[SocketIO2Server]:
    """A socket.io 2 server (engine.io protocol 3): the client must ping every second, and a
    client silent for a second more is closed (socket.io 2's defaults: 25 s and 5 s)."""
    server = lab_loop.run(SocketIO2Server(ping_interval=1.0, ping_timeout=1.0).start())
    yield server
    lab_loop.run(server.stop())


@pytest.mark.slow
async def test_the_watch_keeps_a_socketio2_heartbeat_as_its_clients_do(
        socketio2: SocketIO2Server) -> None:
    """Given EIO=3, where the client sends the heartbeat, the watch pings as socket.io 2
    clients do and holds its connections for 5 s without a drop (before, the server cut
    each one after 2 s of silence)."""
    from wsdoctor.settings import Settings
    from wsdoctor.target import parse_target
    from wsdoctor.watch.model import WatchObservation, WatchOptions
    from wsdoctor.watch.session import WatchSession

    session = WatchSession(parse_target(socketio2.url()), Settings(kubernetes=False),
                           WatchOptions(connections=2, duration=5.0, open_interval=0.2))
    report = await session.run(asyncio.Event())
    check = report.check("watch")
    assert check is not None and isinstance(check.observation, WatchObservation)
    assert check.observation.drops() == [], [d.how() for d in check.observation.drops()]
    assert len(check.observation.connections) == 2 and socketio2.timed_out == 0


@pytest.mark.slow
def test_the_idle_checks_keep_a_socketio2_heartbeat(socketio2: SocketIO2Server) -> None:
    """Given EIO=3, the idle and keepalive checks send socket.io 2's heartbeat themselves:
    no 'the application closes idle connections after 2 s'."""
    result = run_cli(socketio2.url(), "--format", "json", "--no-kubernetes", "--timeout", "3",
                     "--idle", "--idle-max", "4")
    report = json.loads(result.stdout)
    idle = next(c for c in report["checks"] if c["id"] == "idle")
    failed = [f["code"] for f in report["findings"] if f["status"] in ("fail", "warn")]
    assert failed == [] and result.status == 0, failed
    assert idle["observation"]["timeout_s"] is None
    assert socketio2.timed_out == 0
