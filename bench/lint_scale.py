#!/usr/bin/env python3
"""Bench for issue 17 acceptance 4 and issue 9 acceptance 5: ``wsdoctor lint`` on large and
hostile inputs, each next to a reference in the same run (libyaml parsing the same file):

- 10,000 Ingresses and their Services (goal: under 10 s);
- a whole public install manifest, Argo CD's HA install (35,780 lines, goal: under 3 s);
- a 1 KB YAML alias bomb (goal: refused in under 1 s, under 100 MB).

Wall time and CPU time (the machine may be shared), and peak memory of the lint process.
``--compare-with DIR`` also times another checkout (e.g. the main branch) on smaller Ingress
counts (``--compare-ingresses N...``), same files, same run. Not part of pytest.

    .venv/bin/python bench/lint_scale.py [--ingresses N] [--runs N] [--compare-with DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / "bench" / "data" / "argo-cd-ha-install.yaml"
INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app-{i}
  namespace: bench
spec:
  ingressClassName: nginx
  rules:
  - host: app-{i}.example.com
    http:
      paths:
      - path: /ws
        pathType: Prefix
        backend:
          service: {{name: app-{i}, port: {{number: 80}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: app-{i}, namespace: bench}}
spec:
  selector: {{app: app-{i}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""
#: 1 KB: ten levels of 28 aliases each, 28^10 nodes once expanded.
BOMB = (
    "a: &a ["
    + ",".join(['"lol"'] * 20)
    + "]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 28) + "]\n"
        for i in range(9)
    )
)
#: Runs a command and reports its own CPU time, peak memory and status (per process, not the
#: maximum over every child this bench started).
_MEASURE = (
    "import json, resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True);"
    " r = resource.getrusage(resource.RUSAGE_CHILDREN);"
    " print(json.dumps([r.ru_utime + r.ru_stime, r.ru_maxrss, p.returncode]))"
)


def timed(
    argv: list[str], env: dict[str, str] | None = None, cwd: str | None = None
) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS MB, exit status) of one run of ``argv``.

    ``cwd`` matters for ``python -m``: the working directory comes first on ``sys.path``, so a
    run meant for another checkout must not start inside this one."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, *argv],
        capture_output=True,
        env=env,
        cwd=cwd or ROOT,
        check=True,
    )
    wall = time.perf_counter() - start
    cpu, rss_kb, status = json.loads(proc.stdout)
    return wall, cpu, rss_kb / 1024, status


def median_run(
    argv: list[str], runs: int, env: dict[str, str] | None = None, cwd: str | None = None
) -> tuple[float, float, float]:
    samples = [timed(argv, env, cwd) for _ in range(runs)]
    return (
        statistics.median(s[0] for s in samples),
        statistics.median(s[1] for s in samples),
        max(s[2] for s in samples),
    )


def lint_argv(python: str, *args: str) -> list[str]:
    return [python, "-m", "wsdoctor", "lint", *args, "--fail-on", "never"]


def parse_argv(python: str, path: Path) -> list[str]:
    code = "import sys, yaml; list(yaml.load_all(open(sys.argv[1]), Loader=yaml.CSafeLoader))"
    return [python, "-c", code, str(path)]


def line(
    name: str,
    goal: float | None,
    ours: tuple[float, float, float],
    ref: tuple[float, float, float] | None,
) -> None:
    wall, cpu, rss = ours
    verdict = "" if goal is None else ("  OK" if wall < goal else f"  OVER the {goal:g} s goal")
    text = f"{name:<34} {wall:7.2f} s wall {cpu:7.2f} s CPU {rss:7.0f} MB"
    if ref is not None:
        text += f"   libyaml parse alone {ref[0]:6.2f} s  (ratio {wall / ref[0]:.1f}x)"
    print(text + verdict)


def compare(other: str, counts: list[int], scratch: Path) -> None:
    """Times ``other`` (a checkout, run from a neutral directory with its own code first on
    ``sys.path``) and this tree on the same Ingress files, side by side."""
    root = Path(other).resolve()
    probe = "import wsdoctor, sys; sys.stdout.write(wsdoctor.__file__)"
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    ran = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=scratch, capture_output=True, text=True
    ).stdout
    if not ran.startswith(str(root)):
        print(f"--compare-with {other}: would run {ran or 'nothing'}, not that checkout")
        return
    out = str(scratch / "compare.json")
    for count in counts:
        small = scratch / f"compare-{count}.yaml"
        small.write_text("---\n".join(INGRESS.format(i=i) for i in range(count)))
        argv = lint_argv(sys.executable, str(small), "--format", "json", "-o", out)
        theirs = median_run(argv, 1, env, str(scratch))
        ours = median_run(argv, 1)
        print(
            f"{f'{count:,} Ingresses':<34} {theirs[0]:7.2f} s wall {theirs[1]:7.2f} s CPU "
            f"({root.name}) vs {ours[0]:.2f} s wall {ours[1]:.2f} s CPU (this tree): "
            f"ratio {theirs[1] / ours[1]:.1f}x CPU"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingresses", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare-with", metavar="DIR", help="another checkout to time too")
    parser.add_argument(
        "--compare-ingresses", type=int, nargs="+", default=[250, 500, 1_000], metavar="N"
    )
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as scratch:
        ingresses = Path(scratch) / "ingresses.yaml"
        ingresses.write_text("---\n".join(INGRESS.format(i=i) for i in range(args.ingresses)))
        bomb = Path(scratch) / "bomb.yaml"
        bomb.write_text(BOMB)
        out = str(Path(scratch) / "report.json")
        print(
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; median of {args.runs}"
        )
        lines = sum(1 for _ in ingresses.open())
        line(
            f"{args.ingresses:,} Ingresses ({lines:,} lines)",
            10.0,
            median_run(lint_argv(python, str(ingresses), "--format", "json", "-o", out), args.runs),
            median_run(parse_argv(python, ingresses), args.runs),
        )
        install_lines = sum(1 for _ in INSTALL.open())
        line(
            f"Argo CD HA install ({install_lines:,} lines)",
            3.0,
            median_run(lint_argv(python, str(INSTALL), "-n", "argocd", "-o", out), args.runs),
            median_run(parse_argv(python, INSTALL), args.runs),
        )
        wall, cpu, rss, status = timed(lint_argv(python, str(bomb), "--format", "json", "-o", out))
        print(
            f"{f'alias bomb ({len(BOMB)} bytes)':<34} {wall:7.2f} s wall {cpu:7.2f} s CPU "
            f"{rss:7.0f} MB   exit {status}"
            + ("  OK" if wall < 1.0 and rss < 100 else "  OVER the 1 s / 100 MB goal")
        )
        if args.compare_with:
            compare(args.compare_with, args.compare_ingresses, Path(scratch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
