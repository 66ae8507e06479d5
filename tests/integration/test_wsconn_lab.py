"""The instrumented WebSocket connection against real nginx: upgrade, echo, who closed."""

import asyncio
from collections.abc import Callable
from pathlib import Path

from tests.helpers import LAB_HOST
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.proxies import Nginx, NginxLocation, NginxSite
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target
from wsdoctor.wsconn import Closed, Ending, HandshakeOutcome, Message, upgrade


def test_upgrade_echo_and_proxy_fin(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path,
) -> None:
    """Through nginx: 101 with deflate, an echo, then nginx's read timeout ends it with a FIN."""
    nginx = start_nginx(NginxSite(host=LAB_HOST, tls=lab_ca.issue([LAB_HOST]), locations=[
        NginxLocation(path="/ws", upstreams=[replicas[0].port], read_timeout=0.5)]))
    target = parse_target(f"wss://{LAB_HOST}:{nginx.port}/ws")

    async def scenario() -> tuple[object, object, float]:
        attempt, conn = await upgrade(target, "127.0.0.1", Settings(cafile=str(lab_ca_file)))
        assert attempt.outcome is HandshakeOutcome.UPGRADED, attempt.error
        assert attempt.extensions == ["permessage-deflate"]
        assert attempt.header("X-Served-By") == "r1"
        assert conn is not None
        await conn.send_text("hello")
        echo = await conn.next_event(2)
        start = asyncio.get_running_loop().time()
        end = await conn.next_event(5)
        return echo, end, asyncio.get_running_loop().time() - start

    echo, end, waited = asyncio.run(scenario())
    assert isinstance(echo, Message) and echo.data == b"hello"
    assert isinstance(end, Closed) and end.ending is Ending.FIN and end.code is None
    assert 0.4 < waited < 1.0


def test_refused_upgrade_keeps_status_line_and_body(
    start_nginx: Callable[[NginxSite], Nginx], lab_ca: LabCA, lab_ca_file: Path,
) -> None:
    """A 502 from nginx is REFUSED with its status line and the start of the body."""
    nginx = start_nginx(NginxSite(host=LAB_HOST, tls=lab_ca.issue([LAB_HOST]),
                                  locations=[NginxLocation(path="/ws", upstreams=[])]))
    target = parse_target(f"wss://{LAB_HOST}:{nginx.port}/ws")
    attempt, conn = asyncio.run(upgrade(target, "127.0.0.1", Settings(cafile=str(lab_ca_file))))
    assert conn is None
    assert attempt.outcome is HandshakeOutcome.REFUSED
    assert attempt.status_code == 502 and attempt.status_line == "HTTP/1.1 502 Bad Gateway"
    assert b"502 Bad Gateway" in attempt.body_start
