"""Bench: the exporter (`wsdoctor probe`, a real process) under hostile load, on loopback.

- storm: 200 concurrent ``/probe`` scrapes with ``X-Prometheus-Scrape-Timeout-Seconds: 5``
  (150 of a target that never answers the upgrade, 50 of a healthy echo replica), while
  ``/healthz`` is polled every 50 ms: how many were answered, how fast (all within 5.5 s?),
  the slowest ``/healthz``, and the exporter's RSS before and 3 s after;
- hang-ups: 50 scrapes of the silent target whose client leaves after 0.5 s: probes still
  running 1 s later (their work should be cancelled);
- slowloris: 100 connections that send a request head one byte per second: how many are
  still open after 8 s;
- malformed: 20 malformed requests: statuses, and log lines and tracebacks per request;
- deflate bomb: 10 concurrent scrapes of a server answering with messages that inflate
  1,000-fold: the exporter's RSS before, and 3 s after they end.

    .venv/bin/python bench/exporter_hostile.py                       # this tree
    .venv/bin/python bench/exporter_hostile.py --reference /tmp/base  # side by side with
                                                                     # another checkout

The lab servers run in this process; each exporter runs the code of its tree (PYTHONPATH).
Not part of the test suite (about 40 s per tree).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wsdoctor.lab.backend import Backend, BackendOptions, LabLoop  # noqa: E402
from wsdoctor.lab.badframes import FrameFault, start_bad_frames  # noqa: E402
from wsdoctor.lab.hostile import Hostility, start_hostile  # noqa: E402
from wsdoctor.lab.proxies import free_port  # noqa: E402

SCRAPE_TIMEOUT = 5.0
CONFIG = """\
targets: []
"""


def rss_mib(pid: int) -> float:
    """Resident set size of process ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Exporter:
    """`wsdoctor probe` from ``tree`` on a free loopback port; stderr lines collected."""

    def __init__(self, tree: Path, scratch: Path) -> None:
        config = scratch / "exporter.yaml"
        config.write_text(CONFIG)
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(tree)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wsdoctor", "probe", "-c", str(config), "--listen",
             f"127.0.0.1:{self.port}"], env=env, cwd=tree,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 20
        while not any("listening on" in line for line in self.lines):
            assert time.monotonic() < deadline, "".join(self.lines)
            assert self.proc.poll() is None, "".join(self.lines)
            time.sleep(0.05)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss(self) -> float:
        return rss_mib(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def _scrape(session: aiohttp.ClientSession, url: str, timeout: float
                  ) -> tuple[int | str, float]:
    start = time.monotonic()
    try:
        async with session.get(url, headers={
                "X-Prometheus-Scrape-Timeout-Seconds": f"{SCRAPE_TIMEOUT:g}"},
                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            await response.read()
            return response.status, time.monotonic() - start
    except TimeoutError:
        return "client timeout", time.monotonic() - start
    except aiohttp.ClientError as exc:
        return type(exc).__name__, time.monotonic() - start


#: Polls /healthz every 50 ms for ARGV[2] seconds in a process of its own (so that the
#: bench's own client and lab servers do not delay it), prints the latencies and send times.
HEALTH_POLLER = """
import json, socket, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
begin = time.monotonic(); out = []
while time.monotonic() - begin < seconds:
    sent = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
        while sock.recv(65536):
            pass
    out.append((time.monotonic() - sent, sent - begin))
    time.sleep(0.05)
print(json.dumps(out))
"""


async def storm(ex: Exporter, silent: str, healthy: str) -> dict[str, object]:
    urls = [f"{ex.base}/probe?target={silent}&module=quick"] * 150 + \
        [f"{ex.base}/probe?target={healthy}&module=quick"] * 50
    connector = aiohttp.TCPConnector(limit=0)
    rss_before = ex.rss()
    poller = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HEALTH_POLLER, str(ex.port), str(SCRAPE_TIMEOUT + 1.5),
        stdout=asyncio.subprocess.PIPE)
    await asyncio.sleep(0.2)  # the poller runs
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await asyncio.gather(*(_scrape(session, url, 60) for url in urls))
    polled, _ = await poller.communicate()
    health = json.loads(polled)
    await asyncio.sleep(3)
    times = sorted(t for _, t in results)
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    slowest = max(health)
    return {"answered": sum(1 for s, _ in results if s == 200), "statuses": statuses,
            "within_5.5s": sum(1 for t in times if t <= 5.5),
            "median_s": round(statistics.median(times), 2), "max_s": round(times[-1], 2),
            "healthz_max_ms": round(slowest[0] * 1000, 1),
            "healthz_median_ms": round(statistics.median(h for h, _ in health) * 1000, 1),
            "healthz_slowest_at_s": round(slowest[1] - 0.2, 2),
            "rss_before_mib": round(rss_before, 1), "rss_after_mib": round(ex.rss(), 1)}


async def hangups(ex: Exporter, silent: str) -> dict[str, object]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(_scrape(session, f"{ex.base}/probe?target={silent}"
                                       "&module=quick", 0.5) for _ in range(50)))
        await asyncio.sleep(1)
        async with session.get(f"{ex.base}/metrics") as response:
            text = await response.text()
    running = waiting = 0.0
    for line in text.splitlines():
        if 'pool="on_demand_quick"' in line:
            if line.startswith("wsdoctor_exporter_running_probes"):
                running = float(line.split()[-1])
            elif line.startswith("wsdoctor_exporter_waiting_probes"):
                waiting = float(line.split()[-1])
    return {"running_1s_after": running, "waiting_1s_after": waiting}


def slowloris(ex: Exporter, count: int = 100, wait: float = 8.0) -> dict[str, object]:
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", ex.port))
        sock.setblocking(False)
        socks.append(sock)
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 64
    start = time.monotonic()
    sent = 0
    while time.monotonic() - start < wait:
        for sock in socks:
            try:
                sock.send(head[sent % len(head):sent % len(head) + 1])
            except OSError:
                pass
        sent += 1
        time.sleep(1)
    still_open = 0
    for sock in socks:
        try:
            sock.recv(1)  # b"": closed by the exporter
        except BlockingIOError:
            still_open += 1  # nothing to read, not closed: still waiting for the head
        except OSError:
            pass  # reset by the exporter
        sock.close()
    return {"connections": count, f"open_after_{wait:g}s": still_open}


MALFORMED = [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 tls hello\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHo\x00st: a\r\n\r\n",
    b"GET /probe?target=ws://x HTTP/9.9\r\n\r\n",
    b"GARBAGE\r\n\r\n",
]


def malformed(ex: Exporter, count: int = 20) -> dict[str, object]:
    before = len(ex.lines)
    statuses: dict[str, int] = {}
    for index in range(count):
        with socket.create_connection(("127.0.0.1", ex.port), timeout=5) as sock:
            sock.sendall(MALFORMED[index % len(MALFORMED)])
            try:
                answer = sock.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
            except OSError as exc:
                answer = type(exc).__name__
        status = answer.split(" ")[1] if answer.startswith("HTTP/") else answer or "closed"
        statuses[status] = statuses.get(status, 0) + 1
    time.sleep(0.5)
    logged = ex.lines[before:]
    return {"statuses": statuses, "log_lines": len(logged),
            "tracebacks": sum(1 for line in logged if line.startswith("Traceback"))}


async def bomb(ex: Exporter, bomber: str) -> dict[str, object]:
    before = ex.rss()
    peak = before
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, ex.rss())
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(_scrape(session, f"{ex.base}/probe?target={bomber}"
                                                 "&module=quick", 60) for _ in range(10)))
    done.set()
    await sampler
    await asyncio.sleep(3)
    return {"statuses": sorted({str(s) for s, _ in results}),
            "rss_before_mib": round(before, 1), "rss_peak_mib": round(peak, 1),
            "rss_after_mib": round(ex.rss(), 1)}


SCENARIOS = ("storm", "hang-ups", "slowloris", "malformed", "bomb")


def run(tree: Path, urls: dict[str, str], only: list[str]) -> dict[str, dict[str, object]]:
    scratch = Path(tempfile.mkdtemp(prefix="wsdoctor-bench-"))
    out: dict[str, dict[str, object]] = {}
    ex = Exporter(tree, scratch)
    try:
        asyncio.run(_scrape_once(ex, urls["healthy"]))  # warm-up: imports, first run
        for scenario in only:
            if scenario == "storm":
                out[scenario] = asyncio.run(storm(ex, urls["silent"], urls["healthy"]))
            elif scenario == "hang-ups":
                out[scenario] = asyncio.run(hangups(ex, urls["silent"]))
            elif scenario == "slowloris":
                out[scenario] = slowloris(ex)
            elif scenario == "malformed":
                out[scenario] = malformed(ex)
            else:
                out[scenario] = asyncio.run(bomb(ex, urls["bomb"]))
    finally:
        ex.stop()
    errors = [line for line in ex.lines if "error" in line.lower()]
    if errors:
        print(f"{tree}: {len(errors)} log lines about errors, the first: {errors[0]}", end="")
    return out


async def _scrape_once(ex: Exporter, url: str) -> None:
    async with aiohttp.ClientSession() as session:
        await _scrape(session, f"{ex.base}/probe?target={url}&module=quick", 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, help="another checkout to run side by side")
    parser.add_argument("--only", action="append", choices=SCENARIOS,
                        help="run only these scenarios")
    args = parser.parse_args()
    with LabLoop() as lab:
        silent = lab.run(start_hostile(Hostility.NEVER_ANSWERS))
        bomber = lab.run(start_bad_frames(FrameFault.DEFLATE_BOMB))
        healthy = Backend(BackendOptions())
        lab.run(healthy.start())
        urls = {"silent": silent.url(), "bomb": bomber.url(),
                "healthy": f"ws://127.0.0.1:{healthy.port}/"}
        trees = {"this tree": ROOT}
        if args.reference:
            trees = {"reference": args.reference.resolve(), **trees}
        only = args.only or list(SCENARIOS)
        results = {name: run(tree, urls, only) for name, tree in trees.items()}
    for scenario in next(iter(results.values())):
        print(f"\n{scenario}")
        for name, result in results.items():
            print(f"  {name:>10}: {result[scenario]}")


if __name__ == "__main__":
    main()
