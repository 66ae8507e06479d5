"""How fast the TUI handles a key while a long probe streams progress (goal: < 100 ms).

Run from the repository root: .venv/bin/python -m bench.tui_key_latency [PRESSES]
Prints the latency from a key event arriving to its action running, for PRESSES presses of
`f` (failures only) during an idle-like fake probe that reports progress every 10 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from textual import events

from tests.tui.scenarios import TARGET, fake_checks
from wsdoctor.reports.tui import LiveRun, make_app
from wsdoctor.settings import Settings


async def measure(presses: int) -> list[float]:
    """Latencies in seconds of ``presses`` key presses during a long probe."""
    app = make_app(LiveRun(TARGET, Settings(), checks=fake_checks(idle_steps=100_000, step_s=0.01)))
    handled: list[float] = []
    toggle = app.action_toggle_failures

    def timed() -> None:
        handled.append(time.perf_counter())
        toggle()

    app.action_toggle_failures = timed  # type: ignore[method-assign]
    latencies: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        while app.checklist.rows["idle"].progress_fraction is None:
            await pilot.pause(0.01)
        for _ in range(presses):
            count = len(handled)
            pressed = time.perf_counter()
            app.post_message(events.Key("f", "f"))
            while len(handled) == count:  # noqa: ASYNC110 - polled on purpose
                await asyncio.sleep(0.001)
            latencies.append(handled[-1] - pressed)
            await pilot.pause(0.02)
    return latencies


def main() -> None:
    presses = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    latencies = sorted(asyncio.run(measure(presses)))
    ms = [x * 1000 for x in latencies]
    print(
        f"{presses} presses during a streaming probe: median {statistics.median(ms):.2f} ms, "
        f"p99 {ms[int(len(ms) * 0.99) - 1]:.2f} ms, max {ms[-1]:.2f} ms (goal < 100 ms)"
    )


if __name__ == "__main__":
    main()
