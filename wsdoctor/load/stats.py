"""Bounded statistics for a load run: a reservoir of durations summarised as k6 does
(min, avg, median, p90, p95, p99, max), and the ramp timeline, thinned as the run grows so
that memory stays flat however long it holds."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from wsdoctor.load.model import Distribution, RampPoint

#: Durations kept per measure: enough for a stable p99, bounded for long runs.
RESERVOIR = 20_000
#: Ramp points kept: a run longer than this many intervals is thinned (every other point).
MAX_POINTS = 600


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of sorted values, interpolated linearly (k6, numpy)."""
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def distribution(values: Sequence[float], count: int | None = None) -> Distribution | None:
    """k6's summary of ``values`` (seconds); ``count`` is how many there were in all when
    ``values`` is a sample of them."""
    if not values:
        return None
    ordered = sorted(values)

    def r(value: float) -> float:
        return round(value, 6)

    return Distribution(
        count=len(ordered) if count is None else count,
        min=r(ordered[0]), avg=r(sum(ordered) / len(ordered)),
        p50=r(percentile(ordered, 0.5)), p90=r(percentile(ordered, 0.9)),
        p95=r(percentile(ordered, 0.95)), p99=r(percentile(ordered, 0.99)),
        max=r(ordered[-1]),
    )


class Reservoir:
    """A uniform sample of at most :data:`RESERVOIR` values, and the exact count, min and
    max (Vitter's algorithm R)."""

    __slots__ = ("count", "high", "low", "rng", "size", "values")

    def __init__(self, size: int = RESERVOIR, seed: int = 16) -> None:
        self.values: list[float] = []
        self.count = 0
        self.size = size
        self.low = math.inf
        self.high = -math.inf
        self.rng = random.Random(seed)

    def add(self, value: float) -> None:
        """Count ``value`` and keep it with the right probability."""
        self.count += 1
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        if len(self.values) < self.size:
            self.values.append(value)
            return
        slot = self.rng.randrange(self.count)
        if slot < self.size:
            self.values[slot] = value

    def summary(self) -> Distribution | None:
        """The distribution, with the true count, minimum and maximum."""
        found = distribution(self.values, self.count)
        if found is None:
            return None
        return found.model_copy(update={"min": round(self.low, 6), "max": round(self.high, 6)})


class Timeline:
    """Ramp points every ``interval`` seconds; past :data:`MAX_POINTS` every other point is
    dropped and the interval doubles."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.points: list[RampPoint] = []

    def due(self, t: float) -> bool:
        """Whether a point is due at ``t`` (seconds since the start)."""
        return not self.points or t - self.points[-1].t >= self.interval - 1e-9

    def add(self, point: RampPoint) -> None:
        """Keep ``point`` (thinning the older ones when there are too many)."""
        self.points.append(point)
        if len(self.points) > MAX_POINTS:
            last = self.points[-1]
            self.points = self.points[::2]
            if self.points[-1] is not last:
                self.points.append(last)
            self.interval *= 2
