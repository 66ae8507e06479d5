"""The opening of the messages check's connection: a fresh upgrade to the first address that
upgraded in the handshake check, then a brief listen before anything is sent (a greeting, or a
server that closes at once). The connection is started as soon as TCP has answered, so that
the listen overlaps the handshake check."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from wsdoctor import engineio
from wsdoctor.checks.base import ProbeContext, Skip
from wsdoctor.checks.handshake import HandshakeAttempt, HandshakeObservation
from wsdoctor.checks.messages_app import Ended
from wsdoctor.checks.past_certificate import upgrade_past_certificate
from wsdoctor.checks.tcp import TcpObservation
from wsdoctor.records import dataclass
from wsdoctor.wsconn import Closed, Event, Message, UpgradeAttempt, WsConnection
from wsdoctor.wsconnection import AT_ONCE_S

#: How long the check listens before sending: a server that accepts and closes at once is
#: told apart from one that closes in answer to the first message.
SETTLE_S = AT_ONCE_S


async def wait_for_event(conn: WsConnection, wanted: Callable[[Event], bool],
                         timeout: float) -> tuple[Event | None, int]:
    """The first event ``wanted`` accepts within ``timeout``, and how many other messages
    arrived meanwhile. Raises :class:`Ended` when the connection ends."""
    deadline = time.monotonic() + timeout
    others = 0
    while (remaining := deadline - time.monotonic()) > 0:
        event = await conn.next_event(remaining)
        if event is None:
            break
        if isinstance(event, Closed):
            raise Ended(event)
        if wanted(event):
            return event, others
        others += isinstance(event, Message)
    return None, others


def _settle(ctx: ProbeContext) -> float:
    """How long to wait for the server's first message before sending anything: briefly, or
    up to a second for a socket.io URL (its open packet decides what is sent)."""
    if engineio.looks_like_engineio(ctx.target.path):
        return max(SETTLE_S, min(ctx.settings.timeout, 1.0))
    return SETTLE_S


@dataclass
class Opening:
    """A fresh upgrade and what the server said before anything was sent to it."""

    address: str
    attempt: UpgradeAttempt
    conn: WsConnection | None
    first: Event | None = None
    """The server's first message (a greeting), if one came while the client listened."""
    greetings: int = 0
    ended: Ended | None = None
    """The server ended the connection while the client listened."""


async def open_and_listen(ctx: ProbeContext, address: str) -> Opening:
    """Upgrade to ``address`` (past an untrusted certificate), then listen briefly before
    sending anything: a greeting, or a server that closes at once."""
    attempt, conn, _ = await upgrade_past_certificate(ctx, address)
    opening = Opening(address, attempt, conn)
    if conn is None:
        return opening
    try:
        first, _ = await wait_for_event(conn, lambda e: isinstance(e, Message), _settle(ctx))
        _, more = await wait_for_event(conn, lambda _: False, SETTLE_S) if first else (None, 0)
    except Ended as ended:
        opening.ended = ended
    except BaseException:  # cancelled: never leave the socket open
        conn.abort()
        raise
    else:
        opening.first, opening.greetings = first, int(first is not None) + more
    return opening


async def discard_opening(early: asyncio.Future[Opening]) -> None:
    """Cancel an early opening that is not used, and close its connection."""
    early.cancel()
    done = await asyncio.gather(early, return_exceptions=True)
    if isinstance(done[0], Opening) and done[0].conn is not None:
        done[0].conn.abort()


async def opening_on_first_upgraded(ctx: ProbeContext) -> tuple[Opening, HandshakeAttempt]:
    """The opening on the first address that upgraded in the handshake check. Its connection
    is started as soon as TCP has answered, on the first reachable address (the handshake
    check's first too), so that listening for a greeting overlaps the handshake check; it is
    used when that address is the first that upgraded, else a fresh one is opened."""
    tcp = ctx.get(TcpObservation)
    guess = tcp.reachable[0].address if tcp is not None and tcp.reachable else None
    early = asyncio.ensure_future(open_and_listen(ctx, guess)) if guess is not None else None
    try:
        await ctx.wait_for_needs()
        handshake = ctx.get(HandshakeObservation)
        upgraded = handshake.upgraded if handshake else []
        if not upgraded:
            raise Skip("no address upgraded to WebSocket (see the handshake check)")
        if early is not None and upgraded[0].address == guess:
            return await early, upgraded[0]
    except BaseException:
        if early is not None:
            await discard_opening(early)
        raise
    if early is not None:
        await discard_opening(early)
    return await open_and_listen(ctx, upgraded[0].address), upgraded[0]
