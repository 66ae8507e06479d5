"""``pods/NAME/portforward`` as kube-apiserver (1.35) and the kubelet serve it, forwarding
to lab servers that stand for the pods (``FakeKubeAPI.forward_pod``).

Three ways in, the ones real clients use:

- ``GET`` + WebSocket with ``v4.channel.k8s.io`` (or ``v4.base64.channel.k8s.io``, or no
  subprotocol): ports in the ``ports`` query; per port a data channel ``2i`` and an error
  channel ``2i+1``; the first message of each carries the port, little-endian uint16; every
  message starts with its channel byte. When the pod closes, the WebSocket closes (1000).
  (kubelet ``cri/streaming/portforward/websocket.go``, apiserver ``wsstream/conn.go``)
- ``GET`` + WebSocket with ``SPDY/3.1+portforward.k8s.io``: SPDY tunnelled in binary
  messages, what kubectl ≥ 1.31 tries first (KEP-4006, feature ``PortForwardWebsockets``).
- ``POST`` + ``Upgrade: SPDY/3.1``, ``X-Stream-Protocol-Version: portforward.k8s.io``: the
  SPDY fallback. Per connection kubectl opens an error stream, then a data stream, with
  headers ``streamType``, ``port`` and ``requestID``; a failure is written on the error
  stream; the end of the pod connection half-closes both.

Authorization: the handler authorized the request's own verb (``create`` for POST, ``get``
for GET) before routing; a WebSocket GET must also be allowed ``create`` on
``pods/portforward`` (feature ``AuthorizePodWebsocketUpgradeCreatePermission``, beta and on
in 1.35; kubernetes/kubernetes#134577).

Each upgraded connection is served by its handler thread alone: one ``select`` loop over the
client's socket and the pod connections, so the TLS socket is never used by two threads.
"""

from __future__ import annotations

import base64
import selectors
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from wsdoctor.lab.kubeapi.resources import ApiStatus, bad_request, not_found
from wsdoctor.lab.kubeapi.spdy import ServerSession, SpdyError, Stream
from wsdoctor.lab.kubeapi.websocket import WebSocketServer, accept_key

if TYPE_CHECKING:
    from wsdoctor.lab.kubeapi.handler import Handler, RequestInfo
    from wsdoctor.lab.kubeapi.resources import ResourceType

TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
SPDY_PROTOCOL = "portforward.k8s.io"
CHANNEL_PROTOCOLS = ("v4.channel.k8s.io", "v4.base64.channel.k8s.io")


def _has_token(value: str | None, token: str) -> bool:
    return token.lower() in (v.strip().lower() for v in (value or "").split(","))


def serve_portforward(
    handler: Handler, rt: ResourceType, info: RequestInfo, query: dict[str, str]
) -> None:
    """The ``portforward`` subresource: check, upgrade, then forward until either end stops."""
    api = handler.server.api
    if rt.plural != "pods" or info.name is None or info.namespace is None:
        raise not_found()
    headers = handler.headers
    websocket = handler.command == "GET" and _has_token(headers.get("Upgrade"), "websocket") \
        and _has_token(headers.get("Connection"), "upgrade")
    if handler.command == "GET":
        if not websocket:
            raise bad_request("Upgrade request required")
        token = handler._token() or ""
        handler._authorize(replace(info, verb="create"), api.tokens[token], token)
    elif handler.command == "POST":
        if not (_has_token(headers.get("Connection"), "upgrade")
                and (headers.get("Upgrade") or "").lower().startswith("spdy/3")):
            raise bad_request("Upgrade request required")
    else:
        raise ApiStatus(405, "MethodNotAllowed", f"{handler.command} is not allowed on "
                        "pods/portforward")
    pod = api.get(rt, info.namespace, info.name)
    if pod is None:
        raise ApiStatus(404, "NotFound", f'pods "{info.name}" not found',
                        {"name": info.name, "kind": "pods"})
    uid = str((pod.get("metadata") or {}).get("uid") or "")
    session = Forward(handler, info.namespace, info.name, uid)
    if websocket:
        offered = [p.strip() for p in (headers.get("Sec-WebSocket-Protocol") or "").split(",")
                   if p.strip()]
        if TUNNEL_PROTOCOL in offered:
            session.serve_tunnel()
            return
        chosen = next((p for p in offered if p in CHANNEL_PROTOCOLS), None)
        if offered and chosen is None:
            raise bad_request(f"requested protocol(s) are not supported: {offered}; supports "
                              f"{['', *CHANNEL_PROTOCOLS]}")
        session.serve_channels(chosen or "", _ports(query))
        return
    versions = [v.strip() for v in (headers.get("X-Stream-Protocol-Version") or "").split(",")]
    if SPDY_PROTOCOL not in versions:
        raise bad_request(f"unable to upgrade: unable to negotiate protocol: client supports "
                          f"{versions}, server supports [{SPDY_PROTOCOL}]")
    session.serve_spdy()


def _ports(query: dict[str, str]) -> list[int]:
    raw = query.get("ports", "")
    if not raw:
        raise bad_request('query parameter "port" is required')
    ports = []
    for part in raw.split(","):
        if not part.isdigit() or not 0 < int(part) < 65536:
            raise bad_request(f'unable to parse "{raw}" as a port')
        ports.append(int(part))
    return ports


@dataclass
class PodLink:
    """One TCP connection to the lab server standing for a pod's port."""

    port: int
    sock: socket.socket
    on_data: Callable[[bytes], None]
    on_eof: Callable[[], None]
    open: bool = True

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            self.on_eof()

    def close(self) -> None:
        if self.open:
            self.open = False
            self.sock.close()


@dataclass
class _Pair:
    """An SPDY port-forward request: its error and data streams and the pod connection."""

    error: Stream | None = None
    data: Stream | None = None
    link: PodLink | None = None


@dataclass
class Forward:
    """One upgraded port-forward connection: the client socket and its pod connections."""

    handler: Handler
    namespace: str
    pod: str
    uid: str
    links: list[PodLink] = field(default_factory=list)
    done: bool = False
    _selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)

    # -- the upgrade ---------------------------------------------------------------------

    def _accept_websocket(self, protocol: str) -> None:
        accept = accept_key(self.handler.headers.get("Sec-WebSocket-Key", ""))
        handler = self.handler
        handler.send_response(101, "Switching Protocols")
        handler.send_header("Upgrade", "websocket")
        handler.send_header("Connection", "Upgrade")
        handler.send_header("Sec-WebSocket-Accept", accept)
        if protocol:
            handler.send_header("Sec-WebSocket-Protocol", protocol)
        handler.end_headers()
        handler.wfile.flush()

    def _send_raw(self, data: bytes) -> None:
        try:
            self.handler.connection.sendall(data)
        except OSError:
            self.done = True

    # -- the three protocols -------------------------------------------------------------

    def serve_channels(self, protocol: str, ports: list[int]) -> None:
        """v4 channel protocol: per port a data and an error channel."""
        self._accept_websocket(protocol)
        ws = WebSocketServer(self._send_raw)
        text = protocol.startswith("v4.base64")

        def send(channel: int, data: bytes) -> None:
            if text:
                ws.send(bytes([ord("0") + channel]) + base64.b64encode(data), text=True)
            else:
                ws.send(bytes([channel]) + data)

        for index, port in enumerate(ports):
            header = struct.pack("<H", port)
            send(2 * index, header)
            send(2 * index + 1, header)
        pending = set(range(len(ports)))

        def finished(index: int) -> None:
            pending.discard(index)
            if not pending:
                ws.close(1000)
                self.done = True

        links: dict[int, PodLink] = {}
        for index, port in enumerate(ports):
            outcome = self._connect(port, partial(send, 2 * index), partial(finished, index))
            if isinstance(outcome, str):
                send(2 * index + 1, outcome.encode())
                finished(index)
            else:
                links[index] = outcome

        def from_client(data: bytes) -> None:
            for message in ws.feed(data):
                if text:
                    if not message:
                        continue
                    channel, message = message[0] - ord("0"), base64.b64decode(message[1:])
                else:
                    if not message:
                        continue
                    channel, message = message[0], message[1:]
                link = links.get(channel // 2) if channel % 2 == 0 else None
                if link is not None and link.open:
                    link.send(message)
            if ws.closed or not data:
                self.done = True

        self._loop(from_client)

    def serve_tunnel(self) -> None:
        """SPDY in WebSocket binary messages (kubectl's first choice)."""
        self._accept_websocket(TUNNEL_PROTOCOL)
        ws = WebSocketServer(self._send_raw)
        session = self._spdy_session(ws.send)

        def from_client(data: bytes) -> None:
            for message in ws.feed(data):
                session.feed(message)
            if ws.closed or not data or session.ended:
                self.done = True

        self._loop(from_client)

    def serve_spdy(self) -> None:
        """SPDY on the upgraded connection (kubectl's fallback, and every older kubectl)."""
        handler = self.handler
        handler.send_response(101, "Switching Protocols")
        handler.send_header("Connection", "Upgrade")
        handler.send_header("Upgrade", "SPDY/3.1")
        handler.send_header("X-Stream-Protocol-Version", SPDY_PROTOCOL)
        handler.end_headers()
        handler.wfile.flush()
        session = self._spdy_session(self._send_raw)

        def from_client(data: bytes) -> None:
            session.feed(data)
            if not data or session.ended:
                self.done = True

        self._loop(from_client)

    def _spdy_session(self, send: Callable[[bytes], None]) -> ServerSession:
        pairs: dict[str, _Pair] = {}

        def start(pair: _Pair) -> None:
            assert pair.data is not None and pair.error is not None
            data, error = pair.data, pair.error
            port = int(data.headers.get("port", "0") or 0)

            def ended() -> None:
                session.write(data, b"", fin=True)
                session.write(error, b"", fin=True)
                if pair.link is not None:
                    self._drop(pair.link)

            outcome = self._connect(port, lambda chunk: session.write(data, chunk), ended)
            if isinstance(outcome, str):
                session.write(error, outcome.encode(), fin=True)
                session.write(data, b"", fin=True)
            else:
                pair.link = outcome

        def on_stream(stream: Stream) -> None:
            kind = stream.headers.get("streamtype")
            if kind not in ("error", "data") or not stream.headers.get("port", "").isdigit():
                session.write(stream, f"invalid stream: streamType {kind!r}, port "
                              f"{stream.headers.get('port')!r}".encode(), fin=True)
                return
            rid = stream.headers.get("requestid") or str(
                stream.id if kind == "error" else stream.id - 2)
            pair = pairs.setdefault(rid, _Pair())
            setattr(pair, kind, stream)
            if pair.data is not None and pair.error is not None:
                start(pair)

        def on_data(stream: Stream, data: bytes, fin: bool) -> None:
            pair = next((p for p in pairs.values() if p.data is stream), None)
            if pair is None or pair.link is None or not pair.link.open:
                return
            if data:
                pair.link.send(data)
            if fin:
                try:
                    pair.link.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        def on_reset(stream: Stream) -> None:
            for pair in pairs.values():
                if stream in (pair.data, pair.error) and pair.link is not None:
                    self._drop(pair.link)

        session = ServerSession(send, on_stream, on_data, on_reset)
        return session

    # -- pods and the loop ---------------------------------------------------------------

    def _connect(self, port: int, on_data: Callable[[bytes], None],
                 on_eof: Callable[[], None]) -> PodLink | str:
        """A connection to the pod's port, or the kubelet's error message."""
        target = self.handler.server.api.pod_target(self.namespace, self.pod, port)
        prefix = f"error forwarding port {port} to pod {self.pod}, uid {self.uid}: "
        if target is None:
            return prefix + f"failed to connect to localhost:{port} inside namespace of the " \
                "pod: connection refused"
        try:
            sock = socket.create_connection(target, timeout=5)
        except OSError as exc:
            return prefix + f"failed to connect to localhost:{port} inside namespace of the " \
                f"pod: {exc.strerror or exc}"
        sock.settimeout(5)
        link = PodLink(port, sock, on_data, on_eof)
        self.links.append(link)
        self._selector.register(sock, selectors.EVENT_READ, link)
        return link

    def _drop(self, link: PodLink) -> None:
        if link.open:
            self._selector.unregister(link.sock)
            link.close()

    def _loop(self, from_client: Callable[[bytes], None]) -> None:
        conn: Any = self.handler.connection
        conn.settimeout(5)
        self._selector.register(conn, selectors.EVENT_READ, None)
        stopping = self.handler.server.stopping
        try:
            while not self.done and not stopping.is_set():
                ready = [(None, None)] if getattr(conn, "pending", lambda: 0)() else \
                    [(key.data, key.fileobj) for key, _ in self._selector.select(0.5)]
                for link, _ in ready:
                    if link is None:
                        try:
                            data = conn.recv(65536)
                        except (OSError, ValueError):
                            data = b""
                        try:
                            from_client(data)
                        except SpdyError:
                            self.done = True
                    elif link.open:
                        self._from_pod(link)
                    if self.done:
                        break
        finally:
            for link in self.links:
                if link.open:
                    self._drop(link)
            self._selector.close()
            self.handler.close_connection = True

    def _from_pod(self, link: PodLink) -> None:
        try:
            data = link.sock.recv(65536)
        except OSError:
            data = b""
        if data:
            link.on_data(data)
            return
        self._drop(link)
        link.on_eof()
