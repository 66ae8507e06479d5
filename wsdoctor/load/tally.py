"""The bookkeeping of a load run, apart from its I/O: what became of every attempt, the
causes counted with their first instance, connections per replica and address, the streak
of refusals that stops the ramp, and the cap it found."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from wsdoctor.load.model import CauseKind, LoadCause, Share

#: Distinct causes and names kept (a server inventing new ones cannot grow memory).
MAX_CAUSES = 24
MAX_NAMES = 256
OTHER = "(other)"

# What became of each attempt (a bytearray: one byte per attempt).
PENDING, SUCCESS, REFUSED, UPGRADED, CLIENT = 0, 1, 2, 3, 4
KINDS = ("replica", "address")


class CauseCount:
    """Running count of one cause, with its first instance."""

    __slots__ = ("count", "first")

    def __init__(self, first: LoadCause) -> None:
        self.count = 0
        self.first = first


class Tally:
    """Counts for one run of ``connections`` attempts."""

    def __init__(self, connections: int, steady_refusals: int) -> None:
        self.outcomes = bytearray(connections)
        self.steady_refusals = steady_refusals
        self.attempted = self.upgraded = self.refused = self.dropped = self.client_failed = 0
        self.open = self.peak_open = 0
        self.open_by: dict[str, Counter[str]] = {k: Counter() for k in KINDS}
        self.upgraded_by: dict[str, Counter[str]] = {k: Counter() for k in KINDS}
        self.refused_by: dict[str, Counter[str]] = {k: Counter() for k in KINDS}
        self.causes: dict[str, CauseCount] = {}
        self.names: dict[str, str] = {}
        self.first_refusal_open: int | None = None
        self.streak_start: int | None = None
        self.steady = False
        """``steady_refusals`` attempts in a row were refused: the ramp should stop."""

    def name(self, name: str) -> str:
        """One shared string per replica or address name (at most :data:`MAX_NAMES`)."""
        found = self.names.get(name)
        if found is None:
            found = name if len(self.names) < MAX_NAMES else OTHER
            self.names.setdefault(found, found)
        return found

    # -- events ---------------------------------------------------------------------------

    def started(self) -> int:
        """An attempt begins; its number."""
        self.attempted += 1
        return self.attempted - 1

    def opened(self, number: int, address: str, replica: str | None) -> None:
        """An attempt upgraded (not yet past the refusal window)."""
        self.upgraded += 1
        self.outcomes[number] = UPGRADED
        self.open += 1
        self.peak_open = max(self.peak_open, self.open)
        self._move(address, replica, upgraded=1, open_=1)

    def named(self, replica: str, still_open: bool) -> None:
        """A connection's first message named its replica."""
        self.upgraded_by["replica"][replica] += 1
        if still_open:
            self.open_by["replica"][replica] += 1

    def confirmed(self, number: int) -> None:
        """An upgrade lasted the refusal window: the target took it."""
        self.outcomes[number] = SUCCESS

    def failed(self, number: int, address: str, replica: str | None) -> None:
        """An attempt gave no connection (the target's doing)."""
        self.outcomes[number] = REFUSED
        self._move(address, replica, refused=1)
        self._refused(number)

    def client_failure(self, number: int) -> None:
        """An attempt failed on this machine's own limit."""
        self.client_failed += 1
        self.outcomes[number] = CLIENT

    def closed_at_once(self, number: int, address: str, replica: str | None) -> None:
        """The target closed a connection within the refusal window: refused after all."""
        self.upgraded -= 1
        self.open -= 1
        self.outcomes[number] = REFUSED
        self._move(address, replica, upgraded=-1, open_=-1, refused=1)
        self._refused(number)

    def ended(self, address: str, replica: str | None, dropped: bool) -> None:
        """A held connection ended: dropped by the target, or closed by wsdoctor."""
        self.open -= 1
        self.dropped += dropped
        self._move(address, replica, open_=-1)

    def cause(self, cause: str, first: Callable[[str], LoadCause]) -> str:
        """Count ``cause`` (past :data:`MAX_CAUSES` distinct ones, as :data:`OTHER`);
        ``first(cause)`` describes its first instance (called once). The name counted."""
        if cause not in self.causes and len(self.causes) >= MAX_CAUSES:
            cause = OTHER
        entry = self.causes.get(cause)
        if entry is None:
            entry = self.causes[cause] = CauseCount(first(cause))
        entry.count += 1
        return cause

    def _move(self, address: str, replica: str | None, *, upgraded: int = 0, open_: int = 0,
              refused: int = 0) -> None:
        for kind, name in (("address", address), ("replica", replica)):
            if name is not None:
                self.upgraded_by[kind][name] += upgraded
                self.open_by[kind][name] += open_
                self.refused_by[kind][name] += refused

    def _refused(self, number: int) -> None:
        self.refused += 1
        if self.first_refusal_open is None:
            self.first_refusal_open = self.open
        self.streak_start, streak = self._streak()
        if self.steady_refusals and streak >= self.steady_refusals:
            self.steady = True

    def _streak(self) -> tuple[int | None, int]:
        """(first attempt, length) of the refusals after the last attempt the target took;
        attempts still in flight, or upgraded but not yet past the refusal window, neither
        break nor extend it."""
        streak, first = 0, None
        for number in range(self.attempted - 1, -1, -1):
            outcome = self.outcomes[number]
            if outcome == SUCCESS:
                break
            if outcome == REFUSED:
                streak, first = streak + 1, number
        return first, streak

    # -- results --------------------------------------------------------------------------

    def capped(self) -> bool:
        """Whether the run ended on a streak of refusals: every attempt decided after the
        last one the target took was refused."""
        if self.streak_start is None:
            return False
        last = next((n for n in range(self.attempted - 1, -1, -1)
                     if self.outcomes[n] in (SUCCESS, REFUSED)), None)
        return last is not None and self.outcomes[last] == REFUSED

    def intermittent(self) -> bool:
        """Whether an attempt after the first refusal was taken again."""
        first = next((n for n in range(self.attempted) if self.outcomes[n] == REFUSED), None)
        return first is not None and SUCCESS in self.outcomes[first + 1:self.attempted]

    def causes_found(self) -> list[LoadCause]:
        """Every cause with its count: refusals, then the client's, then drops; each in the
        order they first happened."""
        order: dict[CauseKind, int] = {"refusal": 0, "client": 1, "drop": 2}
        found = [c.first.model_copy(update={"count": c.count}) for c in self.causes.values()]
        return sorted(found, key=lambda c: (order[c.kind], c.first_attempt))

    def shares(self, kind: str, held: dict[str, int]) -> list[Share]:
        """Upgrades, connections ``held`` at the end, and refusals per replica or address."""
        names = {n for n, v in self.upgraded_by[kind].items() if v} | \
            {n for n, v in self.refused_by[kind].items() if v} | set(held)
        return sorted((Share(name=name, upgraded=self.upgraded_by[kind][name],
                             held=held.get(name, 0), refused=self.refused_by[kind][name])
                       for name in names), key=lambda s: (-s.upgraded, s.name))

    def held_now(self, kind: str) -> dict[str, int]:
        """Connections open right now per replica or address."""
        return {k: v for k, v in self.open_by[kind].items() if v}
