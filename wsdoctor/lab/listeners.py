"""Bare TCP endpoints for the exporter's tests and bench: a port that answers, and a port that
swallows every SYN (a dead target that makes connects time out), both on loopback."""

from __future__ import annotations

import socket


class Blackhole:
    """A listening socket whose one-slot accept queue is kept full and never accepted, so the
    kernel drops every further SYN: connecting times out, like a firewalled address."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._listener.bind((host, 0))
        self._listener.listen(0)
        self.port = int(self._listener.getsockname()[1])
        self._filler = socket.create_connection((host, self.port), timeout=2)

    def close(self) -> None:
        """Stop swallowing: close both sockets."""
        self._filler.close()
        self._listener.close()

    def __enter__(self) -> Blackhole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def closed_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` with nothing listening (connecting is refused)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
