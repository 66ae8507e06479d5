"""Bench: what does `wsdoctor watch` cost while it holds 1,000 connections for 10 minutes?

The goal (issue 14): under 5 % of one core and under 200 MB. Side by side, in the same run,
against the same server, a reference: the `websockets` library's own client holding as many
connections with the same ping interval (what an application's client would cost). Both run
as their own processes, so each is measured alone (CPU from /proc/PID/stat, RSS from
/proc/PID/status); the server (websockets replicas, `wsdoctor.lab.backend`) runs in a third.

    .venv/bin/python bench/watch_hold.py                          # 1,000 connections, 10 min
    .venv/bin/python bench/watch_hold.py --connections 200 --duration 60

Printed: a line every 30 s, then CPU (% of one core, over the holding time after every
connection opened), peak and final RSS, for wsdoctor and the reference, and their ratios.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")

SERVER = """
import sys, time
sys.path.insert(0, {root!r})
from wsdoctor.lab.backend import Backend, BackendOptions, LabLoop
with LabLoop() as loop:
    backends = [loop.run(Backend(BackendOptions(name=f"replica-{{i}}")).start()) for i in (1, 2)]
    print(" ".join(str(b.port) for b in backends), flush=True)
    sys.stdin.read()
"""

REFERENCE = """
import asyncio, sys
from websockets.asyncio.client import connect

async def hold(url, seconds, ping):
    async with connect(url, ping_interval=ping, ping_timeout=5, compression=None):
        await asyncio.sleep(seconds)

async def main(urls, count, seconds, ping):
    tasks = []
    for i in range(count):
        tasks.append(asyncio.create_task(hold(urls[i % len(urls)], seconds, ping)))
        await asyncio.sleep(20.0 / count)  # the same ramp as wsdoctor's
    await asyncio.gather(*tasks, return_exceptions=True)

asyncio.run(main(sys.argv[1].split(","), int(sys.argv[2]), float(sys.argv[3]),
                 float(sys.argv[4])))
"""


@dataclass
class Measured:
    """Samples of one process: (wall, cpu seconds, rss MiB, open fds)."""

    name: str
    proc: subprocess.Popen[bytes]
    samples: list[tuple[float, float, float, int]] = field(default_factory=list)
    peak_mib: float = 0.0

    def sample(self) -> None:
        pid = self.proc.pid
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except (FileNotFoundError, ProcessLookupError):
            return
        cpu = (int(stat[11]) + int(stat[12])) / TICKS
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024
        hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
        self.peak_mib = max(self.peak_mib, hwm)
        self.samples.append((time.monotonic(), cpu, rss, fds))

    def holding(self, connections: int) -> tuple[float, float, float]:
        """(CPU % of one core after every connection was open, RSS then, RSS at the end)."""
        opened = [s for s in self.samples if s[3] >= connections]
        if len(opened) < 2:
            return float("nan"), float("nan"), float("nan")
        first, last = opened[0], opened[-1]
        return 100 * (last[1] - first[1]) / (last[0] - first[0]), first[2], last[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--heartbeat", type=float, default=30.0)
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER.format(root=str(ROOT))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert server.stdout is not None
    ports = server.stdout.readline().decode().split()
    urls = [f"ws://127.0.0.1:{p}/ws" for p in ports]
    report = Path(tempfile.mkdtemp(prefix="wsdoctor-bench-")) / "watch.json"
    # wsdoctor holds connections to one address: the first replica's port (both replicas
    # would need a proxy in front; the reference spreads over both, which costs it nothing).
    wsdoctor = Measured("wsdoctor watch", subprocess.Popen(
        [sys.executable, "-m", "wsdoctor", "watch", urls[0], "--no-kubernetes",
         "-c", str(args.connections), "--heartbeat", str(args.heartbeat),
         "--duration", str(args.duration), "-o", str(report), "--format", "json"],
        stdout=subprocess.DEVNULL, cwd=ROOT))
    reference = Measured("websockets client", subprocess.Popen(
        [sys.executable, "-c", REFERENCE, urls[0], str(args.connections),
         str(args.duration), str(args.heartbeat)], cwd=ROOT))
    measured = (wsdoctor, reference)
    start = time.monotonic()
    try:
        next_line = start
        while any(m.proc.poll() is None for m in measured):
            for m in measured:
                m.sample()
            if time.monotonic() >= next_line:
                print(f"{time.monotonic() - start:6.0f} s  " + "  ".join(
                    f"{m.name}: {m.samples[-1][3] if m.samples else 0} fds, "
                    f"{m.samples[-1][2] if m.samples else 0:.0f} MiB" for m in measured),
                    flush=True)
                next_line += 30
            time.sleep(2)
    finally:
        for m in measured:
            if m.proc.poll() is None:
                m.proc.terminate()
        server.terminate()
    print()
    print(f"{args.connections} connections held for {args.duration:g} s, heartbeat "
          f"{args.heartbeat:g} s")
    results = {}
    for m in measured:
        cpu, rss_open, rss_end = m.holding(args.connections)
        results[m.name] = (cpu, m.peak_mib)
        print(f"  {m.name:<18} CPU {cpu:5.2f} % of one core while holding; RSS {rss_open:.0f} "
              f"MiB when all were open, {rss_end:.0f} MiB at the end, peak {m.peak_mib:.0f} MiB")
    (w_cpu, w_mem), (r_cpu, r_mem) = results["wsdoctor watch"], results["websockets client"]
    print(f"  ratio wsdoctor / reference: CPU {w_cpu / r_cpu:.2f}×, peak RSS "
          f"{w_mem / r_mem:.2f}×")
    print(f"  goal: CPU < 5 %: {'met' if w_cpu < 5 else 'NOT met'}; RSS < 200 MB: "
          f"{'met' if w_mem * 1.048576 < 200 else 'NOT met'}")
    if report.exists():
        print(f"  report: {report} ({report.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
