"""The client's own cost during a load run: resident memory, CPU time, how late the event loop
wakes, and TLS read buffers kept small. With the limits of :mod:`wsdoctor.fdlimits`, what
tells a cap that is the target's from one that is this machine's."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from wsdoctor.fdlimits import FdLimits

if TYPE_CHECKING:
    from wsdoctor.load.model import ClientCost

#: Read buffer of a TLS connection during a load run: one TLS record (16 KiB of plaintext).
TLS_READ_BUFFER = 16 * 1024


@contextlib.contextmanager
def lean_tls_buffers(size: int = TLS_READ_BUFFER) -> Iterator[None]:
    """While a load run holds its connections, give each TLS connection a small read buffer.

    asyncio allocates a 256 KiB read buffer for every TLS connection (its ``SSLProtocol``
    class attribute ``max_size``), which is nine tenths of what a held wss:// connection
    costs (bench/load_capacity.py --tls measured 318 KiB per connection). Reads then come
    in records of at most 16 KiB anyway. The previous size is restored afterwards; where
    asyncio has no such attribute this does nothing."""
    from asyncio import sslproto

    protocol = getattr(sslproto, "SSLProtocol", None)
    before = getattr(protocol, "max_size", None)
    if protocol is None or not isinstance(before, int):
        yield
        return
    protocol.max_size = min(before, size)
    try:
        yield
    finally:
        protocol.max_size = before


def rss_kib() -> int | None:
    """This process's resident memory now, in KiB (Linux /proc; else the peak so far)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    except (ImportError, OSError):
        return None


def cpu_seconds() -> float:
    """CPU time this process has used (user and system, every thread)."""
    return time.process_time()


#: Fewer connections than this tell nothing of the memory each costs: the process's own
#: allocations (a cluster read, the report) outweigh them.
MEMORY_MIN_CONNECTIONS = 100


class ClientMeter:
    """What the run costs this process: CPU during the ramp and the hold, resident memory
    from before the first connection to the peak, and how late the event loop wakes."""

    def __init__(self) -> None:
        from wsdoctor.load.stats import Reservoir

        self.cpu_start = cpu_seconds()
        self.cpu_ramp = self.cpu_hold = 0.0
        self.rss_baseline = rss_kib()
        self.rss_peak = self.rss_baseline
        self.rss_at_peak: int | None = None
        """Resident memory when the most connections were open."""
        self.lag = Reservoir(size=5000)

    def sample(self, open_now: int, peak: int) -> None:
        """Read resident memory (with the connections open now and the most so far)."""
        rss = rss_kib()
        if rss is not None:
            self.rss_peak = max(self.rss_peak or 0, rss)
            if open_now and open_now >= peak:
                self.rss_at_peak = rss

    def ramp_ended(self) -> None:
        self.cpu_ramp = cpu_seconds() - self.cpu_start

    def hold_ended(self) -> None:
        self.cpu_hold = cpu_seconds() - self.cpu_start - self.cpu_ramp

    def cost(self, limits: FdLimits, needed: int, peak: int, attempted: int, ramp_s: float,
             hold_s: float) -> ClientCost:
        """The report's view of the cost and the limits."""
        from wsdoctor.fdlimits import local_port_count
        from wsdoctor.load.model import ClientCost

        grown = None
        if self.rss_at_peak is not None and self.rss_baseline is not None and \
                peak >= MEMORY_MIN_CONNECTIONS:
            grown = round(max(0, self.rss_at_peak - self.rss_baseline) / peak, 2)
        lag = self.lag.summary()
        return ClientCost(
            fd_limit=limits.soft, fd_limit_before=limits.before, fd_hard_limit=limits.hard,
            fd_needed=needed, local_ports=local_port_count(),
            rss_baseline_kib=self.rss_baseline, rss_peak_kib=self.rss_peak,
            rss_per_connection_kib=grown, cpu_ramp_s=round(self.cpu_ramp, 3),
            wall_ramp_s=round(ramp_s, 3),
            cpu_per_connection_ms=round(self.cpu_ramp * 1000 / attempted, 3)
            if attempted else None,
            cpu_hold_s=round(self.cpu_hold, 3), wall_hold_s=round(hold_s, 3),
            hold_cpu_percent=round(self.cpu_hold * 100 / hold_s, 1) if hold_s > 0.5 else None,
            loop_lag_max_ms=round(lag.max * 1000, 1) if lag else 0.0,
            loop_lag_p99_ms=round(lag.p99 * 1000, 1) if lag else 0.0,
        )
