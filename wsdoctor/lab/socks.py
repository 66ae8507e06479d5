"""A SOCKS5 proxy on loopback (RFC 1928: no authentication, CONNECT only), recording where
each client asked to go: the lab's stand-in for the bastion a kubeconfig's ``proxy-url:
socks5://`` points at."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
from collections.abc import Iterator


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.request.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        return data

    def handle(self) -> None:
        try:
            version, count = self._read(2)
            methods = self._read(count)
            if version != 5 or 0 not in methods:
                self.request.sendall(b"\x05\xff")
                return
            self.request.sendall(b"\x05\x00")
            _, command, _, kind = self._read(4)
            if kind == 1:
                host = socket.inet_ntoa(self._read(4))
            elif kind == 3:
                host = self._read(self._read(1)[0]).decode()
            else:
                host = socket.inet_ntop(socket.AF_INET6, self._read(16))
            (port,) = struct.unpack("!H", self._read(2))
            with self.server.lock:
                self.server.connects.append((host, port))
            if command != 1:
                self.request.sendall(b"\x05\x07\x00\x01" + bytes(6))
                return
            try:
                upstream = socket.create_connection((host, port), timeout=5)
            except OSError:
                self.request.sendall(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
                return
            self.request.sendall(b"\x05\x00\x00\x01" + bytes(6))
            self._relay(upstream)
        except (ConnectionError, OSError, ValueError):
            return

    def _relay(self, upstream: socket.socket) -> None:
        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        other = threading.Thread(target=pump, args=(upstream, self.request), daemon=True)
        other.start()
        pump(self.request, upstream)
        other.join(timeout=10)
        upstream.close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    lock: threading.Lock
    connects: list[tuple[str, int]]


@contextlib.contextmanager
def socks5_proxy() -> Iterator[tuple[str, list[tuple[str, int]]]]:
    """A running SOCKS5 proxy: (``socks5://127.0.0.1:PORT``, the CONNECT targets seen)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.lock = threading.Lock()
    server.connects = []
    thread = threading.Thread(target=server.serve_forever, name="socks5", daemon=True)
    thread.start()
    try:
        yield f"socks5://127.0.0.1:{server.server_address[1]}", server.connects
    finally:
        server.shutdown()
        server.server_close()
