"""The evidence that a route carries WebSockets, and the heartbeat its protocol sends: path
words, names, ``appProtocol``, controller settings made for long-lived connections, and
applications known to run over WebSocket, each with where the fact comes from."""

from __future__ import annotations

import re
from collections.abc import Iterator

from wsdoctor.kube import backends
from wsdoctor.kube.discover import RouteRule
from wsdoctor.kube.rulebase import parse_haproxy_time, parse_unitless_seconds
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject
from wsdoctor.records import dataclass

#: Path words that name a WebSocket endpoint in the common frameworks: raw ``/ws``,
#: socket.io and SockJS, Rails ActionCable ``/cable``, SignalR ``/hub(s)``, Phoenix
#: LiveView and Grafana Live ``/live``, Home Assistant ``/api/websocket``.
PATH_WORDS = frozenset(
    {
        "ws",
        "wss",
        "websocket",
        "websockets",
        "socket",
        "sockets",
        "sockjs",
        "cable",
        "hub",
        "hubs",
        "signalr",
        "live",
        "realtime",
    }
)
#: Words in a route, Service or port name that say WebSocket.
NAME_WORDS = frozenset(
    {"ws", "wss", "websocket", "websockets", "socketio", "sockjs", "realtime", "signalr"}
)
#: ``appProtocol`` values for WebSocket (Kubernetes' standard names, KEP-3726).
APP_PROTOCOLS = frozenset({"kubernetes.io/ws", "kubernetes.io/wss", "ws", "wss", "websocket"})
#: Images of applications whose UI runs over WebSocket (each project's documentation):
#: code-server and openvscode-server (the editor's channel), Home Assistant (its frontend
#: API is /api/websocket), Jupyter (kernel channels), Grafana (Grafana Live, on by default
#: since v8), n8n (push connection), Uptime Kuma (socket.io), Mattermost and Rocket.Chat
#: (real-time events), Guacamole (the WebSocket tunnel), Etherpad (socket.io), Outline
#: (socket.io on /realtime, outline/outline server/services/websockets.ts).
APPLICATION_IMAGES = (
    "code-server",
    "openvscode-server",
    "home-assistant",
    "jupyter",
    "grafana/grafana",
    "n8nio/n8n",
    "uptime-kuma",
    "mattermost",
    "rocket.chat",
    "guacamole/guacamole",
    "etherpad",
    "outlinewiki/outline",
)


@dataclass(frozen=True)
class Heartbeat:
    """A protocol that sends traffic on an otherwise idle WebSocket, and how often."""

    protocol: str
    seconds: float
    source: str


#: Heartbeats by protocol: an idle timeout longer than the interval never fires.
HEARTBEATS = {
    "socket.io": Heartbeat(
        "socket.io", 25, "socket.io server option pingInterval, default 25000 ms"
    ),
    "signalr": Heartbeat(
        "SignalR", 15, "ASP.NET Core SignalR HubOptions.KeepAliveInterval, default 15 s"
    ),
    "actioncable": Heartbeat(
        "Action Cable", 3, "Rails ActionCable::Server::Connections::BEAT_INTERVAL, 3 s"
    ),
    "centrifuge": Heartbeat(
        "Grafana Live (Centrifuge)",
        25,
        "centrifuge pings an idle connection every 25 s (centrifugal/documentation mixed/ping.md)",
    ),
    "home-assistant": Heartbeat(
        "Home Assistant's WebSocket API",
        55,
        "home-assistant/core homeassistant/components/websocket_api/http.py: "
        "web.WebSocketResponse(heartbeat=55)",
    ),
    "vscode": Heartbeat(
        "the VS Code remote protocol",
        5,
        "vscode src/vs/base/parts/ipc/common/ipc.net.ts ProtocolConstants.KeepAliveSendTime",
    ),
}
#: Path words and application images that tell the protocol.
PATH_PROTOCOLS = (("socket.io", "socket.io"), ("signalr", "signalr"), ("cable", "actioncable"))
IMAGE_PROTOCOLS = (
    ("uptime-kuma", "socket.io"),
    ("etherpad", "socket.io"),
    ("outlinewiki/outline", "socket.io"),  # websockets.ts sets no pingInterval: the default
    ("grafana/grafana", "centrifuge"),
    ("home-assistant", "home-assistant"),
    ("code-server", "vscode"),
    ("openvscode-server", "vscode"),
)

#: A timeout raised this high on a route is set to hold long-lived connections open.
LONG_TIMEOUT = 3600
_NGINX = "nginx.ingress.kubernetes.io/"
_TUNNEL_ANNOTATIONS = (
    "haproxy.org/timeout-tunnel",
    "haproxy.com/timeout-tunnel",
    "ingress.kubernetes.io/timeout-tunnel",
    "haproxy-ingress.github.io/timeout-tunnel",
)
_UPGRADE_SNIPPET = re.compile(r"upgrade", re.IGNORECASE)


def words(text: str) -> set[str]:
    """Lower-case words of a path or name: ``/socket.io/`` → socket, io."""
    return {w for w in re.split(r"[^a-z0-9]+", text.lower()) if w}


def route_evidence(obj: KubeObject) -> Iterator[str]:
    """Evidence in the route object itself (annotations its controller reads, its name)."""
    a = obj.annotations
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        seconds = parse_unitless_seconds(a.get(_NGINX + key, ""))
        if seconds is not None and seconds >= LONG_TIMEOUT:
            yield f"{key} raised to {seconds} s"
    for key in ("configuration-snippet", "server-snippet"):
        if _UPGRADE_SNIPPET.search(a.get(_NGINX + key, "")):
            yield f"{key} handles the Upgrade header"
    for key in _TUNNEL_ANNOTATIONS:
        if key in a and parse_haproxy_time(a[key]) is not None:
            yield f"{key} set (HAProxy's timeout for upgraded connections)"
    if NAME_WORDS & words(obj.name):
        yield f"name {obj.name!r}"


def rule_evidence(obj: KubeObject, rule: RouteRule) -> Iterator[str]:
    """Evidence in one rule: its path, or an Istio route that enables upgrades."""
    if PATH_WORDS & words(rule.path):
        yield f"path {rule.path!r}"
    if obj.kind == "VirtualService":
        index = int(rule.field.rsplit("[", 1)[1].rstrip("]"))
        http = (obj.spec.get("http") or [{}])[index]
        if http.get("websocketUpgrade") is True:
            yield "websocketUpgrade: true"
    services = obj.annotations.get("nginx.org/websocket-services", "")
    named = {s.strip() for s in services.split(",") if s.strip()}
    for backend in rule.backends:
        if backend.service in named:
            yield f"nginx.org/websocket-services names {backend.service}"


def backend_evidence(snap: ClusterSnapshot, rule: RouteRule) -> Iterator[str]:
    """Evidence behind the rule: the Service port's appProtocol or name, the application."""
    for backend in rule.backends:
        svc = snap.find("Service", backend.namespace, backend.service)
        if NAME_WORDS & words(backend.service):
            yield f"Service name {backend.service!r}"
        if svc is None:
            continue
        port = backends.service_port(svc, backend.port)
        for entry in [port] if port is not None else svc.spec.get("ports") or []:
            protocol = str(entry.get("appProtocol") or "")
            if protocol.lower() in APP_PROTOCOLS:
                yield f"{svc.ref} port appProtocol {protocol}"
            elif NAME_WORDS & words(str(entry.get("name") or "")):
                yield f"{svc.ref} port name {entry.get('name')!r}"
        for owner, tpl, _ in backends.selected_templates(
            snap, svc.namespace, svc.spec.get("selector") or {}
        ):
            for container in backends.serving_containers(svc, backend.port, tpl):
                image = str(container.get("image") or "")
                repository = image.split("@")[0].rsplit(":", 1)[0].lower()
                if any(app in repository for app in APPLICATION_IMAGES):
                    yield f"{owner.ref} runs {repository} (a WebSocket application)"
                elif NAME_WORDS & words(repository.rsplit("/", 1)[-1]):
                    yield f"{owner.ref} runs image {repository}"
                for port in container.get("ports") or []:
                    if NAME_WORDS & words(str(port.get("name") or "")):
                        yield f"{owner.ref} container port {port.get('name')!r}"


def heartbeat(snap: ClusterSnapshot, rules: list[RouteRule]) -> Heartbeat | None:
    """The heartbeat of the protocol the rules carry, from their paths or applications."""
    found: list[Heartbeat] = []
    for rule in rules:
        path = rule.path.lower()
        found += [HEARTBEATS[p] for word, p in PATH_PROTOCOLS if word in words(path) | {path}]
        if "socket.io" in path:
            found.append(HEARTBEATS["socket.io"])
        for backend in rule.backends:
            svc = snap.find("Service", backend.namespace, backend.service)
            if svc is None:
                continue
            for _, tpl, _ in backends.selected_templates(
                snap, svc.namespace, svc.spec.get("selector") or {}
            ):
                for container in backends.serving_containers(svc, backend.port, tpl):
                    image = str(container.get("image") or "").lower()
                    found += [HEARTBEATS[p] for name, p in IMAGE_PROTOCOLS if name in image]
    return min(found, key=lambda h: h.seconds) if found else None
