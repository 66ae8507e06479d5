"""Misbehaving TCP servers on loopback for the tls and http tests: each accepts, reads what
the client sends, then answers in one bad way (reset, close, silence, garbage, huge head)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator

BEHAVIOURS = ("rst", "fin", "silent", "garbage", "huge_head", "half_head", "endless_body")


def _serve(conn: socket.socket, behaviour: str, stop: threading.Event) -> None:
    with conn:
        conn.settimeout(5)
        with contextlib.suppress(OSError):
            conn.recv(65536)
            if behaviour == "rst":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif behaviour == "silent":
                stop.wait(10)
            elif behaviour == "garbage":
                conn.sendall(bytes(range(256)) * 4)
                stop.wait(10)
            elif behaviour == "huge_head":
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (1024 * 1024) + b"\r\n\r\n")
            elif behaviour == "half_head":
                conn.sendall(b"HTTP/1.1 200 OK\r\nServer: half")
            elif behaviour == "endless_body":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n")
                stop.wait(10)


@contextlib.contextmanager
def raw_server(behaviour: str, address: str = "127.0.0.1") -> Iterator[int]:
    """Listen on a free port of ``address`` and misbehave on every connection; yield the port."""
    assert behaviour in BEHAVIOURS, behaviour
    listener = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    listener.bind((address, 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=_serve, args=(conn, behaviour, stop), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        listener.close()
