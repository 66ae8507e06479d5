#!/usr/bin/env python3
"""Bench for issue 2 acceptance line 4: ``wsdoctor --help`` start-up, a full diagnosis of
the local lab (nginx with TLS in front of two websockets replicas, started here), and curl
doing the same upgrade. Prints the figures; not part of pytest.

    .venv/bin/python bench/startup_and_diagnosis.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HOST = "ws.lab.test"
HELP_GOAL_S = 0.200
RUN_GOAL_S = 1.0


def wsdoctor_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m wsdoctor``."""
    script = Path(sys.executable).with_name("wsdoctor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "wsdoctor"]


def timed(argv: Sequence[str], runs: int) -> tuple[list[float], subprocess.CompletedProcess[str]]:
    """Wall times of ``runs`` runs of ``argv``, and the last result."""
    times = []
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - start)
    assert result is not None
    return times, result


def fmt(times: list[float]) -> str:
    return (
        f"median {statistics.median(times) * 1000:7.1f} ms   min {min(times) * 1000:7.1f} ms"
        f"   max {max(times) * 1000:7.1f} ms   (n={len(times)})"
    )


def verdict(value: float, goal: float) -> str:
    return f"{'PASS' if value < goal else 'FAIL'} (goal < {goal * 1000:.0f} ms)"


def curl_upgrade(port: int, ca: Path, runs: int) -> list[float] | None:
    """curl's time to the 101 (time_starttransfer): curl then waits for a body that never
    comes, so its total time is meaningless and bounded with --max-time."""
    curl = shutil.which("curl")
    if curl is None:
        return None
    argv = [
        curl,
        "--http1.1",
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{time_starttransfer}",
        "--max-time",
        "0.3",
        "--resolve",
        f"{HOST}:{port}:127.0.0.1",
        "--cacert",
        str(ca),
        "-H",
        "Upgrade: websocket",
        "-H",
        "Connection: Upgrade",
        "-H",
        "Sec-WebSocket-Version: 13",
        "-H",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        f"https://{HOST}:{port}/ws",
    ]
    times = []
    for _ in range(runs):
        out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout.split()
        if not out or out[0] != "101":
            raise SystemExit(f"curl did not get a 101: {out}")
        times.append(float(out[1]))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="repetitions per figure")
    args = parser.parse_args()
    runs = max(1, args.runs)
    command = wsdoctor_command()

    print(f"wsdoctor: {' '.join(command)}   python {sys.version.split()[0]}   runs: {runs}\n")
    baseline, _ = timed([sys.executable, "-c", "pass"], runs)
    print(f"python -c pass (interpreter floor)   {fmt(baseline)}")
    help_times, result = timed([*command, "--help"], runs)
    if result.returncode != 0:
        raise SystemExit(f"wsdoctor --help failed: {result.stderr}")
    print(
        f"wsdoctor --help                      {fmt(help_times)}   "
        f"{verdict(statistics.median(help_times), HELP_GOAL_S)}"
    )

    from wsdoctor.lab.backend import Backend, BackendOptions, LabLoop
    from wsdoctor.lab.certs import LabCA
    from wsdoctor.lab.proxies import Nginx, NginxLocation, NginxSite

    scratch = Path(tempfile.mkdtemp(prefix="wsdoctor-bench-"))
    ca = LabCA()
    ca_file = scratch / "lab-ca.pem"
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
        try:
            port = nginx.port
            argv = [
                *command,
                f"wss://{HOST}:{port}/ws",
                "--resolve",
                f"{HOST}:{port}:127.0.0.1",
                "--cacert",
                str(ca_file),
                "--format",
                "json",
            ]
            run_times, result = timed(argv, runs)
            if result.returncode != 0:
                raise SystemExit(
                    f"the lab diagnosis exited {result.returncode}: "
                    f"{result.stdout[-2000:]}{result.stderr}"
                )
            report = json.loads(result.stdout)
            checks = {c["id"]: c for c in report["checks"]}
            attempt = checks["handshake"]["observation"]["attempts"][0]
            to_101 = sum(attempt[k] or 0 for k in ("connect_s", "tls_s", "upgrade_s"))
            print(
                f"wsdoctor full run against the lab    {fmt(run_times)}   "
                f"{verdict(statistics.median(run_times), RUN_GOAL_S)}"
            )
            statuses = ", ".join(f"{k} {v['status']}" for k, v in checks.items())
            print(
                f"  diagnosis inside the process       {report['duration_s'] * 1000:7.1f} ms"
                f"   (checks: {statuses})"
            )
            print(f"  wsdoctor connect+TLS+upgrade       {to_101 * 1000:7.1f} ms   (last run)")
            messages = checks["messages"]["observation"]
            print(
                f"  messages check                     "
                f"{checks['messages']['duration_s'] * 1000:7.1f} ms   "
                f"(ping median {messages['pings']['median_s'] * 1000:.2f} ms, "
                f"1 MiB {messages['large_message']['outcome']} in "
                f"{messages['large_message']['duration_s'] * 1000:.1f} ms)"
            )
            curl_times = curl_upgrade(port, ca_file, runs)
            if curl_times is None:
                print("curl                                 not installed")
            else:
                print(f"curl --http1.1 upgrade, time to 101  {fmt(curl_times)}")
        finally:
            nginx.stop()
            for replica in replicas:
                loop.run(replica.stop())
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NO_COLOR", "1")
    sys.exit(main())
