"""Which Traefik timeouts end a WebSocket, measured on the real binary: each setting at 1 s is
shown to be in force (it cuts what it is meant to cut, within 0.1 s) and an idle WebSocket
through it is measured by wsdoctor's idle check past three times that. The one setting that
does end WebSockets, the shutdown grace period, is timed within 0.1 s. Every measurement here
is a fact of ``wsdoctor.knowledge_traefik.TRAEFIK_TIMEOUTS``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.helpers import LAB_HOST, pinned_args, run_cli
from tests.integration.rawservers import raw_server
from wsdoctor.knowledge_traefik import TRAEFIK_TIMEOUTS, timeout_named
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.traefik import EntryPointTimeouts, Traefik, TraefikRoute, TraefikSite

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SETTING_S = 1.0
IDLE_WAIT_S = 3 * SETTING_S


@contextlib.contextmanager
def slow_http_server(delay: float) -> Iterator[int]:
    """An HTTP server that answers 200 ``delay`` seconds after each request."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            if not stop.wait(delay):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def tls_socket(port: int, ca_file: Path) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(ca_file))
    return context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                               server_hostname=LAB_HOST)


def seconds_until_closed(sock: ssl.SSLSocket, cap: float = 5.0) -> float | None:
    """Seconds until the server closes ``sock`` (None: still open after ``cap``)."""
    start = time.monotonic()
    sock.settimeout(cap)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return None
    except OSError:
        pass
    return time.monotonic() - start


def idle(url: str, port: int, ca_file: Path) -> dict[str, Any]:
    """wsdoctor's idle observation of one silent WebSocket."""
    result = run_cli(url, *pinned_args(port, ca_file), "--only", "idle", "--idle",
                     "--idle-max", f"{IDLE_WAIT_S:g}", "--format", "json")
    report = json.loads(result.stdout)
    found: dict[str, Any] = next(c for c in report["checks"] if c["id"] == "idle")
    return found


def test_no_responding_keepalive_or_forwarding_timeout_cuts_an_upgraded_websocket(
    start_traefik: Callable[[TraefikSite], Traefik], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path,
) -> None:
    """Given one Traefik whose entry points set readTimeout, writeTimeout, idleTimeout and the
    keep-alive limits to 1 s, and a serversTransport with 1 s forwardingTimeouts: each setting
    cuts what it governs at 1 s, yet a silent WebSocket through every entry point stays open
    for 3 s and answers a ping."""
    s = f"{SETTING_S:g}s"
    extra = {"read": EntryPointTimeouts(read=s), "write": EntryPointTimeouts(write=s),
             "idle": EntryPointTimeouts(idle=s),
             "keepalive": EntryPointTimeouts(keep_alive_max_time=s, keep_alive_max_requests=1)}
    forwarding = {"dialTimeout": s, "responseHeaderTimeout": s, "idleConnTimeout": s}
    with slow_http_server(SETTING_S + 0.5) as slow_port, raw_server("silent") as silent_port:
        traefik = start_traefik(TraefikSite(
            tls=lab_ca.issue([LAB_HOST]), extra_entry_points=extra, routes=[
                TraefikRoute(replicas=[r.port for r in replicas], weighted=False,
                             forwarding_timeouts=forwarding),
                TraefikRoute(name="slow", path="/slow", replicas=[slow_port], weighted=False),
                TraefikRoute(name="silent", path="/silent", replicas=[silent_port],
                             weighted=False, forwarding_timeouts=forwarding)]))
        with ThreadPoolExecutor(len(extra) + 7) as pool:
            in_force = [pool.submit(f, traefik, lab_ca_file) for f in IN_FORCE]
            measured = dict(zip(["websecure", *extra], pool.map(
                lambda ep: idle(traefik.url(entry_point=None if ep == "websecure" else ep),
                                traefik.port if ep == "websecure" else traefik.ports[ep],
                                lab_ca_file), ["websecure", *extra]), strict=True))
            read_cut, keepalive_cut, slow_status, default_status, header_wait, \
                keepalive_close = (f.result() for f in in_force)
    for entry_point, check in measured.items():
        obs = check["observation"]
        assert (obs["timeout_s"], obs["cap_ping"]) == (None, "pong"), (entry_point, obs)
        assert check["status"] == "ok", (entry_point, check)
    assert read_cut is not None and abs(read_cut - SETTING_S) < 0.1, read_cut
    assert keepalive_cut is not None and abs(keepalive_cut - SETTING_S) < 0.1, keepalive_cut
    assert (slow_status, default_status) == (None, 200)
    assert abs(header_wait - SETTING_S) < 0.1, header_wait
    assert keepalive_close == "close"
    measured_settings = {"readTimeout", "writeTimeout", "idleTimeout", "keepAliveMaxTime",
                         "responseHeaderTimeout", "idleConnTimeout"}
    for name in measured_settings:
        entry = timeout_named(name)
        assert entry is not None and not entry.cuts_websocket, name


def _read_cut(traefik: Traefik, ca_file: Path) -> float | None:
    """readTimeout: seconds until a half-sent request is cut."""
    half = tls_socket(traefik.ports["read"], ca_file)
    half.sendall(f"GET /ws HTTP/1.1\r\nHost: {LAB_HOST}\r\n".encode())
    return seconds_until_closed(half)


def _keepalive_cut(traefik: Traefik, ca_file: Path) -> float | None:
    """idleTimeout: seconds until an idle keep-alive connection is closed."""
    kept = tls_socket(traefik.ports["idle"], ca_file)
    kept.sendall(f"GET /nothing HTTP/1.1\r\nHost: {LAB_HOST}\r\n\r\n".encode())
    kept.settimeout(5)
    kept.recv(65536)
    return seconds_until_closed(kept)


def _slow_status(port: int, ca_file: Path) -> int | None:
    """The status of a response that takes 1.5 s (None: none came)."""
    conn = tls_socket(port, ca_file)
    conn.sendall(f"GET /slow HTTP/1.1\r\nHost: {LAB_HOST}\r\n\r\n".encode())
    conn.settimeout(5)
    head = b""
    with contextlib.suppress(OSError):
        head = conn.recv(65536)
    return int(head.split()[1]) if head.startswith(b"HTTP/1.1") else None


def _header_wait(traefik: Traefik, ca_file: Path) -> float:
    """responseHeaderTimeout: seconds from the request to Traefik's 504 for a silent backend."""
    conn = tls_socket(traefik.port, ca_file)
    conn.settimeout(5)
    start = time.monotonic()
    conn.sendall(f"GET /silent HTTP/1.1\r\nHost: {LAB_HOST}\r\n\r\n".encode())
    head = conn.recv(65536)
    assert head.startswith(b"HTTP/1.1 504 "), head
    return time.monotonic() - start


def _keepalive_close(traefik: Traefik, ca_file: Path) -> str:
    """keepAliveMaxRequests 1: the first response already says Connection: close."""
    once = tls_socket(traefik.ports["keepalive"], ca_file)
    once.sendall(f"GET /nothing HTTP/1.1\r\nHost: {LAB_HOST}\r\n\r\n".encode())
    once.settimeout(5)
    head = once.recv(65536).decode("latin-1").lower()
    return "close" if "connection: close" in head else "keep-alive"


#: What each 1 s setting does cut (the write entry point's slow response, then the default's).
IN_FORCE: tuple[Callable[[Traefik, Path], Any], ...] = (
    _read_cut, _keepalive_cut, lambda t, ca: _slow_status(t.ports["write"], ca),
    lambda t, ca: _slow_status(t.port, ca), _header_wait, _keepalive_close)


async def _seconds_to_cut_after_sigterm(traefik: Traefik, ca_file: Path) -> tuple[float, Any]:
    context = ssl.create_default_context(cafile=str(ca_file))
    async with connect(traefik.url(), ssl=context, host="127.0.0.1", port=traefik.port,
                       server_hostname=LAB_HOST, ping_interval=None, close_timeout=0.2) as ws:
        assert traefik.proc is not None
        os.kill(traefik.proc.pid, signal.SIGTERM)
        start = time.monotonic()
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        return time.monotonic() - start, ws.close_code


def test_grace_timeout_cuts_open_websockets_when_traefik_stops(
    start_traefik: Callable[[TraefikSite], Traefik], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path,
) -> None:
    """Given lifeCycle.graceTimeOut 1s, an open WebSocket is cut without a close frame (1006)
    1 s after Traefik gets SIGTERM: the one Traefik timeout that ends WebSockets."""
    traefik = start_traefik(TraefikSite(
        tls=lab_ca.issue([LAB_HOST]), timeouts=EntryPointTimeouts(grace=f"{SETTING_S:g}s"),
        routes=[TraefikRoute(replicas=[r.port for r in replicas], weighted=False)]))
    cut, code = asyncio.run(_seconds_to_cut_after_sigterm(traefik, lab_ca_file))
    assert abs(cut - SETTING_S) < 0.1, cut
    assert code == 1006
    grace = timeout_named("graceTimeOut")
    assert grace is not None and grace.cuts_websocket
    assert [t.setting for t in TRAEFIK_TIMEOUTS if t.cuts_websocket] == [grace.setting]
