"""The load run's bookkeeping on plain events: the streak of refusals that stops the ramp,
whether the run ended capped, intermittent refusals, causes and shares."""

from __future__ import annotations

from wsdoctor.load.model import LoadCause
from wsdoctor.load.tally import MAX_CAUSES, OTHER, Tally


def _open(tally: Tally, replica: str = "r1") -> int:
    number = tally.started()
    tally.opened(number, "127.0.0.1:80", replica)
    tally.confirmed(number)
    return number


def _refuse(tally: Tally) -> int:
    number = tally.started()
    tally.failed(number, "127.0.0.1:80", None)
    return number


def test_steady_after_k_refusals_in_a_row() -> None:
    """Given 20 taken and then 5 refused, with K=5, the ramp is told to stop and the run ended
    capped, with refusals starting at 20 held."""
    tally = Tally(100, steady_refusals=5)
    for _ in range(20):
        _open(tally)
    for i in range(5):
        assert not tally.steady, i
        _refuse(tally)
    assert tally.steady and tally.capped()
    assert tally.first_refusal_open == 20 and tally.open == 20 and tally.refused == 5


def test_a_success_breaks_the_streak_and_makes_it_intermittent() -> None:
    """Given refusals interleaved with attempts that are taken, nothing is steady, the run
    did not end capped, and the refusals are intermittent."""
    tally = Tally(100, steady_refusals=3)
    for _ in range(10):
        _open(tally)
        _refuse(tally)
        _refuse(tally)
    _open(tally)
    assert not tally.steady and not tally.capped() and tally.intermittent()


def test_attempts_in_flight_neither_break_nor_extend_the_streak() -> None:
    """Given a refusal, then an attempt still in flight (or upgraded but not yet past the
    refusal window), then more refusals, the streak counts the refusals only."""
    tally = Tally(10, steady_refusals=3)
    _open(tally)
    _refuse(tally)
    in_flight = tally.started()
    upgraded = tally.started()
    tally.opened(upgraded, "a", "r1")
    _refuse(tally)
    assert not tally.steady
    _refuse(tally)
    assert tally.steady and tally.streak_start == 1
    tally.failed(in_flight, "a", None)
    assert tally.capped()


def test_a_connection_closed_at_once_is_a_refusal_of_its_replica() -> None:
    """Given an upgrade the target closes within the window, it counts as refused (not
    upgraded, not open) against the replica that sent the close."""
    tally = Tally(10, steady_refusals=5)
    _open(tally, "r1")
    number = tally.started()
    tally.opened(number, "a", "r2")
    tally.closed_at_once(number, "a", "r2")
    assert tally.upgraded == 1 and tally.open == 1 and tally.refused == 1
    shares = {s.name: s for s in tally.shares("replica", tally.held_now("replica"))}
    assert shares["r2"].refused == 1 and shares["r2"].upgraded == 0 and shares["r2"].held == 0
    assert shares["r1"].held == 1


def _cause(name: str) -> LoadCause:
    return LoadCause(cause=name, kind="refusal", count=0, first_attempt=1, open_at_first=0,
                     first_at_s=0.0, address="a")


def test_causes_past_the_bound_are_counted_as_other() -> None:
    """Given a server inventing a new close reason for every connection, at most MAX_CAUSES
    distinct causes are kept; the rest count under (other)."""
    tally = Tally(10, steady_refusals=0)
    for i in range(MAX_CAUSES + 10):
        tally.cause(f"closed: reason {i}", _cause)
    found = tally.causes_found()
    assert len(found) == MAX_CAUSES + 1
    assert next(c for c in found if c.cause == OTHER).count == 10


def test_no_streak_when_steady_refusals_is_zero() -> None:
    """Given K=0 (never stop early), refusals never make the run steady, yet it ends capped."""
    tally = Tally(30, steady_refusals=0)
    _open(tally)
    for _ in range(20):
        _refuse(tally)
    assert not tally.steady and tally.capped()
