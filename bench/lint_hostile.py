"""Benchmark: ``wsdoctor lint`` on large and hostile manifests, each in its own process (wall
time and peak RSS with ``wait4``, as in ``bench/kube_discovery.py``):

- 10,000 Ingresses (ingress-nginx, TLS, a timeout annotation), alone and with a Service
  each; side by side with a reference that only parses the same file with PyYAML's own
  ``safe_load_all`` (what any Python tool reading it pays, before judging anything);
- a YAML alias bomb of about 1 KB inside an Ingress: refused, not expanded.

Goals (issue 17): the 10,000 Ingresses in under 10 s; the bomb refused in under 1 s and
100 MB. Run: ``.venv/bin/python bench/lint_hostile.py [--ingresses N] [--runs N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kube_discovery import measured

LINT_GOAL_S = 10.0
BOMB_GOAL_S = 1.0
BOMB_GOAL_MB = 100.0
REFERENCE = "import sys, yaml\nfor _ in yaml.safe_load_all(open(sys.argv[1])): pass\n"


def ingress(i: int) -> str:
    return f"""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app-{i}
  namespace: ns-{i % 50}
  annotations:
    nginx.ingress.kubernetes.io/proxy-read-timeout: "{30 + i % 200}"
spec:
  ingressClassName: nginx
  tls:
  - hosts: [app-{i}.example.com]
    secretName: tls-{i}
  rules:
  - host: app-{i}.example.com
    http:
      paths:
      - path: /ws
        pathType: Prefix
        backend:
          service:
            name: app-{i}
            port: {{number: 80}}
"""


def service(i: int) -> str:
    return f"""apiVersion: v1
kind: Service
metadata: {{name: app-{i}, namespace: ns-{i % 50}}}
spec:
  selector: {{app: app-{i}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


def bomb() -> str:
    """Ten levels of ten aliases (10^10 values once expanded) in an Ingress's spec."""
    levels = ["    a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    return ("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: bomb}\n"
            "spec:\n  defaults:\n" + "\n".join(levels) + "\n  rules: *a9\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ingresses", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lint = [sys.executable, "-m", "wsdoctor", "lint", "--format", "json", "--fail-on", "never"]
    met = True
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            f"{args.ingresses} Ingresses": "---\n".join(map(ingress, range(args.ingresses))),
            f"{args.ingresses} Ingresses + Services": "---\n".join(
                ingress(i) + "---\n" + service(i) for i in range(args.ingresses)),
        }
        print(f"{'input':32} {'side':10} {'wall (best of ' + str(args.runs) + ')':>20} "
              f"{'peak RSS (max)':>16}")
        for name, text in files.items():
            path = Path(tmp) / "manifests.yaml"
            path.write_text(text)
            rows: dict[str, list[tuple[float, float]]] = {"wsdoctor": [], "reference": []}
            for _ in range(args.runs):
                wall, rss, _ = measured([*lint, str(path)])
                rows["wsdoctor"].append((wall, rss))
                wall, rss, _ = measured([sys.executable, "-c", REFERENCE, str(path)])
                rows["reference"].append((wall, rss))
            best = {side: (min(w for w, _ in r), max(m for _, m in r))
                    for side, r in rows.items()}
            for side, (wall, rss) in best.items():
                print(f"{name:32} {side:10} {wall:>18.2f} s {rss:>13.0f} MB")
            ratio = best["wsdoctor"][0] / best["reference"][0]
            print(f"{name:32} {'ratio':10} {ratio:>19.2f}x  (wsdoctor lint / PyYAML parse)")
            met &= best["wsdoctor"][0] < LINT_GOAL_S
        path, small = Path(tmp) / "bomb.yaml", Path(tmp) / "one.yaml"
        path.write_text(bomb())
        small.write_text(ingress(0))
        runs = [measured([*lint, str(path)], codes=(2,)) for _ in range(args.runs)]
        wall, rss = min(r[0] for r in runs), max(r[1] for r in runs)
        print(f"{'alias bomb (' + str(len(bomb())) + ' bytes)':32} {'wsdoctor':10} "
              f"{wall:>18.2f} s {rss:>13.0f} MB  (refused: exit 2)")
        runs = [measured([*lint, str(small)]) for _ in range(args.runs)]
        one, one_rss = min(r[0] for r in runs), max(r[1] for r in runs)
        print(f"{'one Ingress':32} {'reference':10} {one:>18.2f} s {one_rss:>13.0f} MB  "
              "(start-up and one object)")
        print(f"{'alias bomb':32} {'ratio':10} {wall / one:>19.2f}x  (bomb / one Ingress)")
        met &= wall < BOMB_GOAL_S and rss < BOMB_GOAL_MB
    print(f"goal: lint under {LINT_GOAL_S:g} s; bomb refused under {BOMB_GOAL_S:g} s and "
          f"{BOMB_GOAL_MB:g} MB: {'met' if met else 'NOT met'}")
    if not met:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
