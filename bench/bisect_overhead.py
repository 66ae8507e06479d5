#!/usr/bin/env python3
"""Bench for issue 15 acceptance line 5: the extra wall time of a bisected run without idle
over a plain run. Both run as ``wsdoctor`` processes against the lab chain (two websockets
pods behind nginx behind HAProxy, a fake API serving the cluster and its port-forward, all
started here), with the same kubeconfig so the cluster check runs in both; the runs
alternate (plain, bisect, plain, ...) so that both see the same machine load. Prints the
figures; not part of pytest.

    .venv/bin/python bench/bisect_overhead.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from startup_and_diagnosis import wsdoctor_command  # bench/ is on sys.path

GOAL_S = 1.0


def fmt(times: list[float]) -> str:
    return (f"median {statistics.median(times) * 1000:7.1f} ms   min {min(times) * 1000:7.1f} ms"
            f"   max {max(times) * 1000:7.1f} ms   (n={len(times)})")


def run(argv: list[str]) -> tuple[float, dict[str, object]]:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if result.returncode not in (0, 1) or not result.stdout:
        raise SystemExit(f"{' '.join(argv[:3])} exited {result.returncode}: {result.stderr}")
    return wall, json.loads(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="runs of each command")
    args = parser.parse_args()
    runs = max(1, args.runs)
    command = wsdoctor_command()
    from wsdoctor.lab.chain import bisect_chain

    print(f"wsdoctor: {' '.join(command)}   python {sys.version.split()[0]}   runs: {runs}\n")
    with bisect_chain("none") as chain:
        bisect_argv = [*command, "bisect", *chain.argv("--format", "json")]
        plain_argv = [a for a in bisect_argv if a not in ("bisect", "--port-forward")]
        plain, bisected, differences = [], [], []
        report: dict[str, object] = {}
        for _ in range(runs):
            plain_s, _ = run(plain_argv)
            bisect_s, report = run(bisect_argv)
            plain.append(plain_s)
            bisected.append(bisect_s)
            differences.append(bisect_s - plain_s)
    checks = {c["id"]: c for c in report["checks"]}  # type: ignore[attr-defined]
    hops = checks["hops"]
    rows = hops["observation"]["table"]
    extra = statistics.median(differences)
    print(f"wsdoctor TARGET (plain)              {fmt(plain)}")
    print(f"wsdoctor bisect TARGET --port-forward {fmt(bisected)}")
    print(f"  bisect - plain, paired by run      median {extra * 1000:7.1f} ms   "
          f"min {min(differences) * 1000:7.1f} ms   max {max(differences) * 1000:7.1f} ms")
    print(f"  ratio of medians                   "
          f"{statistics.median(bisected) / statistics.median(plain):.2f}x")
    print(f"  hops check (last run)              {hops['duration_s'] * 1000:7.1f} ms   "
          + ", ".join(f"{r['hop']} {r['upgrade']} in {r['time_to_101_ms']} ms" for r in rows))
    print(f"\nextra wall time {extra * 1000:.0f} ms: "
          f"{'PASS' if extra < GOAL_S else 'FAIL'} (goal < {GOAL_S * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NO_COLOR", "1")
    sys.exit(main())
