"""A hop's route and the user's proxy: under a bisected run's route every connection goes where
the route dials (never to the proxy), and the same connection outside it takes the proxy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from wsdoctor.lab.backend import Backend
from wsdoctor.route import Route, Streams, routed
from wsdoctor.settings import ProxyConfig, Settings
from wsdoctor.target import parse_target
from wsdoctor.wsconn import UpgradeAttempt, upgrade


async def _upgrade_both_ways(backend_port: int) -> tuple[UpgradeAttempt, UpgradeAttempt, int]:
    proxied: list[int] = []

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        proxied.append(1)  # a proxy that closes every tunnel request unanswered
        writer.close()

    proxy = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    settings = Settings(proxy=ProxyConfig(scheme="http", host="127.0.0.1", port=port))
    target = parse_target("ws://chat.example.test/ws")

    async def dial(limit: int) -> Streams:
        return await asyncio.open_connection("127.0.0.1", backend_port, limit=limit)

    with routed(Route(dial=dial, host_header="chat.example.test")):
        hop, conn = await upgrade(target, "127.0.0.9", settings)  # the pod's address
    if conn is not None:
        await conn.close()
    hop_proxied = len(proxied)
    public, conn = await upgrade(target, "127.0.0.1", settings)
    assert conn is None
    proxy.close()
    await proxy.wait_closed()
    return hop, public, hop_proxied


def test_a_route_dials_its_hop_and_the_rest_takes_the_proxy(
    start_backend: Callable[..., Backend],
) -> None:
    """Given a proxy that refuses every tunnel, when a hop's checks connect under its route
    they upgrade at the hop with the public Host and the proxy sees nothing; when the same
    upgrade runs outside the route it goes to the proxy, whose refusal is the proxy step's."""
    backend = start_backend(name="pod-1")
    hop, public, hop_proxied = asyncio.run(_upgrade_both_ways(backend.port))
    assert hop.outcome == "upgraded"
    assert ("Host", "chat.example.test") in hop.request_headers
    assert hop_proxied == 0
    assert public.failed_step == "proxy"
    assert public.error is not None and "proxy http://127.0.0.1:" in public.error
