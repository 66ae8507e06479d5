"""Where a connection goes. Normally to the address a check names, direct or through the
user's proxy (:func:`wsdoctor.tunnel.open_path`). A bisected run measures hops (a pod, an
ingress controller pod) with the public checks: it runs them under a :class:`Route`
(:func:`routed`), and every connection they open then goes where the route dials (a
port-forward tunnel, a pod IP) while requests keep the public Host.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar

from wsdoctor.models import Target
from wsdoctor.records import dataclass
from wsdoctor.settings import Settings
from wsdoctor.tunnel import HEAD_LIMIT, open_path

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(frozen=True)
class Route:
    """Where the connections of one hop's checks go: ``dial(limit)`` opens a byte stream to
    the hop (whatever address and port a check names), and requests keep the public Host
    header (what the hop in front would forward)."""

    dial: Callable[[int], Awaitable[Streams]]
    host_header: str


_ROUTE: ContextVar[Route | None] = ContextVar("wsdoctor_route", default=None)


@contextlib.contextmanager
def routed(route: Route) -> Iterator[None]:
    """Within the block (and the tasks it starts), connections go through ``route``."""
    token = _ROUTE.set(route)
    try:
        yield
    finally:
        _ROUTE.reset(token)


def host_header(target: Target) -> str:
    """The Host header of a request to ``target``: the route's public Host on a hop."""
    route = _ROUTE.get()
    return route.host_header if route is not None else target.host_header


async def connect_tcp(address: str, port: int, settings: Settings, *, timeout: float,
                      limit: int = HEAD_LIMIT) -> Streams:
    """A TCP stream to ``address:port`` within ``timeout`` seconds: where the current route
    dials when there is one (a hop is reached by its route, never through the user's
    proxy), else :func:`~wsdoctor.tunnel.open_path` (direct or through the proxy)."""
    route = _ROUTE.get()
    if route is None:
        return await open_path(address, port, settings, timeout=timeout, limit=limit)
    async with asyncio.timeout(timeout):
        return await route.dial(limit)
