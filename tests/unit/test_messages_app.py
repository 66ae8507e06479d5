"""The bisection of the largest message and the quoting of received messages."""

import asyncio

from wsdoctor.checks.messages_app import BISECT_STEPS, bisect_max_message, quote
from wsdoctor.wsconn import Message


def limit_of(limit: int) -> tuple[list[int], object]:
    tried: list[int] = []

    async def try_size(size: int) -> tuple[bool, str]:
        tried.append(size)
        return size <= limit, "close 1009"

    return tried, try_size


def test_bisection_from_a_refused_default_closes_in_on_the_limit() -> None:
    """Known: 512 KiB refused. The answer brackets a 100 kB limit within 2 %."""
    tried, try_size = limit_of(100_000)
    found = asyncio.run(bisect_max_message(try_size, None, 512 * 1024))  # type: ignore[arg-type]
    assert found.largest_ok is not None and found.smallest_refused is not None
    assert found.largest_ok <= 100_000 < found.smallest_refused
    assert found.smallest_refused - found.largest_ok <= 2_000
    assert len(tried) <= BISECT_STEPS


def test_bisection_grows_past_a_passing_default_up_to_the_cap() -> None:
    """Known: 512 KiB passed, no limit: it grows by 4x and reports no refusal."""
    _, try_size = limit_of(10**12)
    found = asyncio.run(bisect_max_message(try_size, 512 * 1024, None))  # type: ignore[arg-type]
    assert found.smallest_refused is None and found.largest_ok == 32 * 1024 * 1024


def test_quote_escapes_and_cuts() -> None:
    """Control characters escaped, binary as \\x, long messages cut with their size."""
    assert quote(Message(True, b"a\x07b\n", 0.0)) == "a\\x07b\\n"
    assert quote(Message(False, b"\x00A", 0.0)) == "binary: \\x00A"
    assert quote(Message(True, b"x" * 500, 0.0)).endswith("… (500 bytes)")
