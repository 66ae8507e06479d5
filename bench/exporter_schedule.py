"""Bench: does `wsdoctor probe` finish every cycle of 200 targets within the interval?

200 targets on loopback — most healthy (nginx configured like ingress-nginx with the lab CA in
front of two websockets replicas, plus the replicas directly), some refused (closed ports),
some dead (SYNs swallowed by a full accept queue, so every connect runs into the time limit)
— probed by the real exporter at a 30 s interval with concurrency 50. For each cycle it prints
how many runs there were, their durations, when the last one finished relative to the cycle's
start (must be < interval), overruns, the time and size of a /metrics scrape, CPU and RSS.

    .venv/bin/python bench/exporter_schedule.py            # 200 targets, 30 s, 4 cycles
    .venv/bin/python bench/exporter_schedule.py --cycles 2 --targets 100

Not part of the test suite (it takes about interval × (cycles + 1)).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wsdoctor.exporter.config import load_config
from wsdoctor.exporter.scheduler import RunRecord
from wsdoctor.exporter.schema import QUICK_CHECKS
from wsdoctor.exporter.server import Exporter, serve
from wsdoctor.lab.backend import Backend, BackendOptions, LabLoop
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.listeners import Blackhole, closed_port
from wsdoctor.lab.proxies import Nginx, NginxLocation, NginxSite

HOST = "ws.lab.test"


def rss_mib() -> float:
    """Resident set size of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def lab(dead: int) -> Iterator[tuple[int, list[int], Path, list[Blackhole]]]:
    """nginx (TLS, lab CA) in front of two replicas, and ``dead`` blackholes on 127.0.0.x."""
    scratch = Path(tempfile.mkdtemp(prefix="wsdoctor-bench-"))
    ca = LabCA()
    ca_file = scratch / "ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    with LabLoop() as loop:
        replicas = [loop.run(Backend(BackendOptions(name=n)).start()) for n in ("r1", "r2")]
        nginx = Nginx(
            NginxSite(
                host=HOST,
                tls=ca.issue([HOST]),
                locations=[NginxLocation(path="/ws", upstreams=[r.port for r in replicas])],
            )
        )
        holes = [Blackhole(f"127.0.{1 + i // 250}.{2 + i % 250}") for i in range(dead)]
        try:
            yield nginx.port, [r.port for r in replicas], ca_file, holes
        finally:
            for hole in holes:
                hole.close()
            nginx.stop()
            for replica in replicas:
                loop.run(replica.stop())


def config_text(
    args: argparse.Namespace, nginx: int, replicas: list[int], ca_file: Path, holes: list[Blackhole]
) -> str:
    """The exporter configuration: 200 targets of the four kinds."""
    lines = [
        f"interval: {args.interval}s",
        "jitter: 0.1",
        f"concurrency: {args.concurrency}",
        "modules:",
        "  quick:",
        f"    checks: [{', '.join(QUICK_CHECKS)}]",
        f"    time_limit: {args.time_limit}s",
        f"    settings: {{timeout: {args.timeout}, cafile: '{ca_file}'}}",
        "targets:",
    ]
    refused = args.refused
    healthy = args.targets - refused - len(holes)
    for i in range(healthy):
        if i % 4 == 3:  # a quarter straight to a replica, without TLS
            lines.append(f"  - {{name: direct-{i}, url: 'ws://127.0.0.1:{replicas[i % 2]}/'}}")
        else:
            lines.append(
                f"  - {{name: nginx-{i}, url: 'wss://{HOST}:{nginx}/ws', address: 127.0.0.1}}"
            )
    for i in range(refused):
        lines.append(f"  - {{name: refused-{i}, url: 'ws://127.0.0.1:{closed_port()}/'}}")
    for i, hole in enumerate(holes):
        lines.append(f"  - {{name: dead-{i}, url: 'ws://{hole.host}:{hole.port}/'}}")
    return "\n".join(lines) + "\n"


async def run(args: argparse.Namespace, config_path: Path) -> int:
    """Run the exporter for the cycles asked for and print one line per cycle."""
    records: list[RunRecord] = []
    config = load_config(config_path, {}, listen="127.0.0.1:0")
    exporter = Exporter(config, listen_override="127.0.0.1:0")
    exporter.scheduler.on_run = records.append
    stop = asyncio.Event()
    t0 = asyncio.get_running_loop().time()  # before any target's first run is scheduled
    port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        serve(exporter, stop=stop, handle_signals=False, ready=lambda _h, p: port.set_result(p))
    )
    metrics_url = f"http://127.0.0.1:{await port}/metrics"
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"{len(config.targets)} targets, interval {args.interval:g} s, concurrency "
        f"{args.concurrency}, {args.refused} refused, {args.dead} dead; cycle = runs due in "
        "[k·interval, (k+1)·interval)"
    )
    print(
        "cycle  runs  ok  fail  median_s  max_s  last_done_s  within  overruns  "
        "scrape_ms  scrape_kB  cpu_%  rss_MiB"
    )
    worst = 0.0
    async with aiohttp.ClientSession() as session:
        for cycle in range(args.cycles):
            await asyncio.sleep(
                t0 + (cycle + 1) * args.interval - asyncio.get_running_loop().time()
            )
            start = time.perf_counter()
            async with session.get(metrics_url) as response:
                body = await response.read()
            scrape_ms = (time.perf_counter() - start) * 1000
            # wait until every run of this cycle finished (or the next cycle's end)
            deadline = t0 + (cycle + 2) * args.interval
            while asyncio.get_running_loop().time() < deadline:
                due = [r for r in records if int((r.due - t0) // args.interval) == cycle]
                if len(due) >= len(config.targets):
                    break
                await asyncio.sleep(0.2)
            due = [r for r in records if int((r.due - t0) // args.interval) == cycle]
            durations = [r.finished - r.started for r in due]
            last_done = max((r.finished for r in due), default=t0) - (t0 + cycle * args.interval)
            worst = max(worst, last_done)
            overruns = sum(s.overruns for s in exporter.scheduler.targets.values())
            cpu = resource.getrusage(resource.RUSAGE_SELF)
            used = (cpu.ru_utime + cpu.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
            cpu0 = cpu
            ok = sum(1 for r in due if r.success)
            complete = len(due) == len(config.targets)
            print(
                f"{cycle:5d}  {len(due):4d}  {ok:3d}  {len(due) - ok:4d}  "
                f"{statistics.median(durations) if durations else 0:8.3f}  "
                f"{max(durations, default=0):5.2f}  {last_done:11.2f}  "
                f"{'yes' if complete and last_done < args.interval else 'NO':>6}  "
                f"{overruns:8d}  {scrape_ms:9.1f}  {len(body) / 1024:9.0f}  "
                f"{used / args.interval * 100:5.1f}  {rss_mib():7.1f}"
            )
    stop.set()
    await server
    kinds: dict[str, list[float]] = defaultdict(list)
    for r in records:
        kinds[r.name.split("-")[0]].append(r.finished - r.started)
    print(
        "run duration by kind (median / max s): "
        + ", ".join(
            f"{k} {statistics.median(v):.3f}/{max(v):.2f}" for k, v in sorted(kinds.items())
        )
    )
    within = worst < args.interval
    print(
        f"worst cycle finished {worst:.2f} s after its start: "
        f"{'within' if within else 'NOT within'} the {args.interval:g} s interval"
    )
    return 0 if within else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--refused", type=int, default=20)
    parser.add_argument("--dead", type=int, default=20)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=5.0, help="per network step")
    parser.add_argument("--time-limit", type=float, default=20.0, help="per run")
    args = parser.parse_args()
    with lab(args.dead) as (nginx, replicas, ca_file, holes):
        path = Path(tempfile.mkdtemp(prefix="wsdoctor-bench-")) / "probe.yaml"
        path.write_text(config_text(args, nginx, replicas, ca_file, holes))
        return asyncio.run(run(args, path))


if __name__ == "__main__":
    sys.exit(main())
