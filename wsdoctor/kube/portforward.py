"""Reaching a pod's port through kube-apiserver's ``pods/portforward``, over WebSocket as
client libraries do: ``GET /api/v1/namespaces/NS/pods/NAME/portforward?ports=P`` upgraded
with the ``v4.channel.k8s.io`` subprotocol. Every message starts with its channel byte:
data on channel 0, errors (text) on channel 1; the first message of each channel is the
port, a little-endian uint16. The tunnel ends when the pod's connection ends (the kubelet
closes the WebSocket). Each tunnel carries one TCP connection to the pod.

A tunnel is handed to the checks as an ordinary asyncio stream pair (one end of a socket
pair, pumped to the WebSocket), so TLS and every check work through it unchanged.

Needs ``create`` on ``pods/portforward`` in the pod's namespace (kube-apiserver ≥ 1.35 asks
``create`` of WebSocket upgrades as of SPDY ones; older ones ``get``): docs/deploy/
rbac-portforward.yaml. The tunnel's own WebSocket is pinged every 10 s so that nothing
between wsdoctor and the API server closes it while the pod connection inside is silent;
those pings end at the kubelet and never reach the pod.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import ssl
import struct
from dataclasses import field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from wsdoctor import __version__
from wsdoctor.kube.snapshot import PermissionGap
from wsdoctor.records import dataclass

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from wsdoctor.kube.config import ClusterAccess
    from wsdoctor.route import Streams

PROTOCOL = "v4.channel.k8s.io"
TUNNEL_PING_INTERVAL = 10.0
CHUNK = 256 * 1024
"""Bytes read from the local end per WebSocket message (a 1 MiB message: four)."""
LINGER = 1.0
"""Seconds a tunnel stays open for the pod's last bytes after the local side stopped."""
AFFECTS = "the pod and ingress controller hops of the bisected run"


class PortForwardError(ConnectionError):
    """A tunnel could not be opened: one line saying why; ``gap`` when RBAC refused it.
    A connection error, so a check whose connection fails this way records it as such."""

    def __init__(self, message: str, *, status: int = 0, gap: PermissionGap | None = None):
        super().__init__(message)
        self.status = status
        self.gap = gap


@dataclass(frozen=True)
class ApiEndpoint:
    """Where the API server is and how to authenticate to it, for WebSocket requests."""

    url: str
    """``wss://host:port`` (no trailing slash)."""
    ssl: ssl.SSLContext | None
    server_hostname: str | None
    headers: tuple[tuple[str, str], ...]
    proxy: str | None = None

    @classmethod
    def from_access(cls, access: ClusterAccess) -> ApiEndpoint:
        """The same server, CA, client certificate and credentials the cluster read used."""
        cfg: Any = access.api_client.configuration
        base = str(cfg.host).rstrip("/")
        scheme, _, rest = base.partition("://")
        context = None
        if scheme == "https":
            ca_data = getattr(cfg, "ca_cert_data", None)
            if isinstance(ca_data, bytes):
                ca_data = ca_data.decode("ascii", "replace")
            context = ssl.create_default_context(cafile=cfg.ssl_ca_cert or None,
                                                 cadata=ca_data or None)
            if not cfg.verify_ssl:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if cfg.cert_file:
                context.load_cert_chain(cfg.cert_file, cfg.key_file or None)
        headers = [(str(s["key"]), str(s["value"])) for s in cfg.auth_settings().values()
                   if s.get("in") == "header" and s.get("value")]
        if cfg.username and cfg.password and not headers:
            basic = base64.b64encode(f"{cfg.username}:{cfg.password}".encode()).decode()
            headers.append(("Authorization", f"Basic {basic}"))
        headers += list((getattr(access, "headers", None) or {}).items())
        return cls(
            url=("wss://" if scheme == "https" else "ws://") + rest,
            ssl=context,
            server_hostname=getattr(cfg, "tls_server_name", None) or None,
            headers=tuple(headers),
            proxy=getattr(cfg, "proxy", None) or None,
        )


def _status_message(body: bytes | None, fallback: str) -> str:
    """The ``message`` of a ``Status`` body, else the body's first line."""
    text = (body or b"").decode("utf-8", "replace").strip()
    try:
        message = json.loads(text).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or text.splitlines()[0] if text else fallback)[:300]


@dataclass
class PortForward:
    """Opens tunnels to ``namespace/pod:port``; :meth:`close` ends every one still open."""

    endpoint: ApiEndpoint
    namespace: str
    pod: str
    port: int
    errors: list[str] = field(default_factory=list)
    """What the kubelet said on the error channel (a refused pod port...)."""
    _pumps: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def path(self) -> str:
        return (f"/api/v1/namespaces/{quote(self.namespace, safe='')}/pods/"
                f"{quote(self.pod, safe='')}/portforward")

    async def dial(self, limit: int) -> Streams:
        """A byte stream to the pod's port (the caller's time limit applies)."""
        ws = await self._connect()
        early: list[bytes] = []
        try:
            await self._port_headers(ws, early)
        except BaseException:
            await ws.close()
            raise
        local, remote = socket.socketpair()
        remote.setblocking(False)
        try:
            reader, writer = await asyncio.open_connection(sock=local, limit=limit)
        except BaseException:
            local.close()
            remote.close()
            await ws.close()
            raise
        task = asyncio.create_task(self._pump(ws, remote, early), name="wsdoctor:portforward")
        self._pumps.add(task)
        task.add_done_callback(self._pumps.discard)
        return reader, writer

    async def _connect(self) -> ClientConnection:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidStatus
        from websockets.typing import Subprotocol

        url = f"{self.endpoint.url}{self.path}?ports={self.port}"
        where = f"{self.namespace}/{self.pod}"
        try:
            ws = await connect(
                url,
                ssl=self.endpoint.ssl,
                server_hostname=self.endpoint.server_hostname,
                additional_headers=list(self.endpoint.headers),
                subprotocols=[Subprotocol(PROTOCOL)],
                compression=None,
                max_size=None,
                open_timeout=None,
                ping_interval=TUNNEL_PING_INTERVAL,
                ping_timeout=None,
                proxy=self.endpoint.proxy,
                user_agent_header=f"wsdoctor/{__version__}",
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            message = _status_message(bytes(exc.response.body), f"HTTP {status}")
            gap = None
            if status == 403:
                gap = PermissionGap(verb="create", resource="pods/portforward",
                                    namespace=self.namespace, affects=AFFECTS)
            raise PortForwardError(f"port-forward to pod {where}: HTTP {status}: {message}",
                                   status=status, gap=gap) from None
        except (OSError, InvalidHandshake, ValueError, ImportError) as exc:
            # ImportError: a SOCKS proxy-url without python-socks installed
            raise PortForwardError(f"port-forward to pod {where}: cannot reach the API server "
                                   f"at {self.endpoint.url}: {exc}") from None
        if ws.subprotocol != PROTOCOL:
            await ws.close()
            raise PortForwardError(f"port-forward to pod {where}: the API server chose "
                                   f"subprotocol {ws.subprotocol!r}, not {PROTOCOL}")
        return ws

    async def _port_headers(self, ws: ClientConnection, early: list[bytes]) -> None:
        """Read the port header of the data and the error channel."""
        from websockets.exceptions import ConnectionClosed

        seen: set[int] = set()
        try:
            while seen != {0, 1}:
                message = await ws.recv()
                if isinstance(message, str) or not message:
                    continue
                channel, data = message[0], message[1:]
                if channel in seen or channel not in (0, 1):
                    if channel == 1 and data:
                        self.errors.append(data.decode("utf-8", "replace"))
                    elif channel == 0:
                        early.append(data)
                    continue
                if len(data) < 2 or struct.unpack("<H", data[:2])[0] != self.port:
                    raise PortForwardError(f"port-forward to pod {self.namespace}/{self.pod}: "
                                           f"channel {channel} announced another port")
                seen.add(channel)
                if len(data) > 2:
                    (early.append(data[2:]) if channel == 0
                     else self.errors.append(data[2:].decode("utf-8", "replace")))
        except ConnectionClosed:
            said = f": {self.errors[-1]}" if self.errors else ""
            raise PortForwardError(f"port-forward to pod {self.namespace}/{self.pod} closed "
                                   f"before it started{said}") from None

    async def _pump(self, ws: ClientConnection, sock: socket.socket, early: list[bytes]) -> None:
        """Bytes both ways until either end stops; the local end then sees the close."""
        from websockets.exceptions import ConnectionClosed

        loop = asyncio.get_running_loop()

        async def down() -> None:
            with contextlib.suppress(ConnectionClosed, OSError):
                for chunk in early:
                    await loop.sock_sendall(sock, chunk)
                async for message in ws:
                    if isinstance(message, str) or not message:
                        continue
                    if message[0] == 0:
                        await loop.sock_sendall(sock, message[1:])
                    elif message[0] == 1 and len(message) > 1:
                        self.errors.append(message[1:].decode("utf-8", "replace"))

        async def up() -> None:
            with contextlib.suppress(ConnectionClosed, OSError):
                while data := await loop.sock_recv(sock, CHUNK):
                    await ws.send(b"\x00" + data)

        receiving, sending = asyncio.create_task(down()), asyncio.create_task(up())
        tasks = {receiving, sending}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if receiving not in done:
                # The channel protocol cannot half-close: when the local side stops sending,
                # let the pod's last bytes (its close frame) arrive, then end the tunnel.
                await asyncio.wait({receiving}, timeout=LINGER)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            await ws.close()

    async def close(self) -> None:
        """End every tunnel still open (their checks are done)."""
        pumps = list(self._pumps)
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
