"""Benchmark: live discovery over 500 Ingresses and 2,000 EndpointSlices in one namespace.

Serves them from the in-process fake Kubernetes API (HTTPS, real ``kubernetes`` client),
runs the cluster check's probe for one host, and prints the time it took. Goal: well under
2 s. Run: ``.venv/bin/python bench/kube_discovery.py [--ingresses N] [--slices N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wsdoctor.checks.base import Facts, ProbeContext
from wsdoctor.checks.cluster import ClusterObservation, probe_cluster
from wsdoctor.lab.kubeapi import FakeKubeAPI, serve
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

NS = "bench"


def objects(ingresses: int, slices: int) -> list[dict[str, Any]]:
    """Ingresses app-N.example.com → Service app-N, each Service with its share of slices."""
    objs: list[dict[str, Any]] = [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": "nginx"},
            "spec": {"controller": "k8s.io/ingress-nginx"},
        }
    ]
    for i in range(ingresses):
        objs.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": f"app-{i}", "namespace": NS},
                "spec": {
                    "ingressClassName": "nginx",
                    "rules": [
                        {
                            "host": f"app-{i}.example.com",
                            "http": {
                                "paths": [
                                    {
                                        "path": "/",
                                        "pathType": "Prefix",
                                        "backend": {
                                            "service": {"name": f"app-{i}", "port": {"number": 80}}
                                        },
                                    }
                                ]
                            },
                        }
                    ],
                },
            }
        )
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"app-{i}", "namespace": NS},
                "spec": {
                    "selector": {"app": f"app-{i}"},
                    "ports": [{"port": 80, "targetPort": 8080}],
                },
            }
        )
    for j in range(slices):
        svc = f"app-{j % ingresses}"
        objs.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{svc}-{j}",
                    "namespace": NS,
                    "labels": {"kubernetes.io/service-name": svc},
                },
                "addressType": "IPv4",
                "ports": [{"port": 8080, "protocol": "TCP"}],
                "endpoints": [
                    {"addresses": [f"10.{j // 250}.{j % 250}.{k}"], "conditions": {"ready": True}}
                    for k in range(1, 4)
                ],
            }
        )
    return objs


async def discover_once(kubeconfig: Path, host: str) -> tuple[float, ClusterObservation]:
    """One run of the cluster probe; its wall time."""
    settings = Settings(kubeconfig=str(kubeconfig))
    target = parse_target(f"wss://{host}/")
    from datetime import UTC, datetime

    ctx = ProbeContext("cluster", Facts(target=target, settings=settings, now=datetime.now(UTC)))
    start = time.perf_counter()
    obs = await probe_cluster(ctx)
    return time.perf_counter() - start, obs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ingresses", type=int, default=500)
    parser.add_argument("--slices", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    api = FakeKubeAPI()
    api.add(*objects(args.ingresses, args.slices))
    with serve(api) as running, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = running.kubeconfig(Path(tmp) / "kubeconfig")
        host = f"app-{args.ingresses - 1}.example.com"
        times = []
        for _ in range(args.runs):
            elapsed, obs = asyncio.run(discover_once(kubeconfig, host))
            times.append(elapsed)
        route = obs.routes[0]
        print(
            f"discovery over {args.ingresses} Ingresses and {args.slices} EndpointSlices "
            f"({obs.objects_read} objects): median {statistics.median(times):.3f} s, "
            f"max {max(times):.3f} s over {args.runs} runs "
            f"(found {route.kind} {route.namespace}/{route.name}, "
            f"{route.backends[0].endpoints['ready']} ready endpoints)"
        )
        if statistics.median(times) >= 2.0:
            raise SystemExit("too slow: the goal is well under 2 s")


if __name__ == "__main__":
    main()
