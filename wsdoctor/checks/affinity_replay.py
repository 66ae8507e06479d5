"""Recognise an affinity cookie by what it does: when no cookie has a known affinity name,
replay the cookies that were set and see whether reconnects stay on the replica that set them.

HAProxy's ``cookie SRV insert``, Traefik's ``sticky.cookie.name`` and Istio's
``consistentHash.httpCookie`` let operators choose any name; a replay that pins the replica is
the evidence that one of them is the affinity cookie.
"""

from __future__ import annotations

from wsdoctor.checks.affinity_probe import (
    GREETING_WAIT_S,
    SetCookie,
    first_message,
    replica_header,
    replica_in_message,
)
from wsdoctor.models import Target
from wsdoctor.records import dataclass
from wsdoctor.settings import Settings
from wsdoctor.wsconn import upgrade

#: Cookies tried one by one when replaying all of them together pinned the replica.
MAX_SINGLE_TRIES = 4


@dataclass(frozen=True)
class Reached:
    """One reconnect that sent cookies: its status and the replica that answered."""

    status_code: int | None
    upgraded: bool
    replica: str | None


@dataclass(frozen=True)
class Replay:
    """The outcome of replaying unknown cookies."""

    cookie: SetCookie | None
    """The cookie whose replay alone pinned the replica; None: no cookie did."""
    reached: list[Reached]
    """The reconnects that show it (or, with no cookie, those that sent all cookies)."""
    pinned_together: bool = False
    """All cookies together pinned the replica (though maybe no single one did)."""


def unknown_cookies(upgrade_cookies: list[SetCookie],
                    http_cookies: list[SetCookie]) -> list[SetCookie]:
    """Every cookie set on the 101 or the plain GET, one per name, the 101's first."""
    by_name: dict[str, SetCookie] = {}
    for cookie in (*upgrade_cookies, *http_cookies):
        by_name.setdefault(cookie.name, cookie)
    return list(by_name.values())


async def reach(target: Target, address: str, settings: Settings, cookies: list[SetCookie],
                source: str, header: str | None) -> Reached:
    """One handshake sending ``cookies``; the replica is read the way the first one was."""
    value = "; ".join(f"{c.name}={c.value}" for c in cookies)
    attempt, conn = await upgrade(target, address, settings, extra_headers=[("Cookie", value)])
    replica: str | None = None
    if source == "header":
        found = replica_header(attempt, header)
        replica = found[1] if found is not None else None
    elif conn is not None:
        try:
            data = await first_message(conn, GREETING_WAIT_S)
        except BaseException:  # cancelled by a time limit: never leave the socket open
            conn.abort()
            raise
        replica = replica_in_message(data) if data is not None else None
    if conn is not None:
        await conn.close(wait=1.0)
    return Reached(status_code=attempt.status_code, upgraded=conn is not None, replica=replica)


def _pins(reached: list[Reached], issuer: str | None) -> bool:
    expected = issuer if issuer is not None else reached[0].replica
    return expected is not None and all(r.replica == expected for r in reached)


async def replay_unknown(target: Target, address: str, settings: Settings,
                         cookies: list[SetCookie], issuers: dict[str, str | None],
                         source: str, header: str | None, count: int) -> Replay:
    """Replay all ``cookies`` on ``count`` reconnects; if they stay on the replica that set
    them (``issuers``: cookie name to replica, None when unknown), find the one cookie that
    does it alone."""

    async def run(sent: list[SetCookie]) -> list[Reached]:
        return [await reach(target, address, settings, sent, source, header)
                for _ in range(count)]

    together = await run(cookies)
    first_issuer = next((issuers.get(c.name) for c in cookies if issuers.get(c.name)), None)
    if not _pins(together, first_issuer):
        return Replay(cookie=None, reached=together)
    if len(cookies) == 1:
        return Replay(cookie=cookies[0], reached=together, pinned_together=True)
    for cookie in cookies[:MAX_SINGLE_TRIES]:
        alone = await run([cookie])
        if _pins(alone, issuers.get(cookie.name)):
            return Replay(cookie=cookie, reached=alone, pinned_together=True)
    return Replay(cookie=None, reached=together, pinned_together=True)
