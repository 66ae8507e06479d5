"""Benchmark: live discovery on a large cluster: 30,000 Pods, 5,000 EndpointSlices and 2,000
Ingresses (with their Services) across 20 namespaces, served by the fake Kubernetes API.

Each side runs in its own process, so its peak RSS is its own (the fake API stays in this
one), measured with ``wait4``:

- ``wsdoctor``: ``wsdoctor wss://HOST/ --only cluster``, the real command (paged lists,
  reads scoped to the route's namespace and the backend's selectors);
- ``reference``: what wsdoctor did before: one unpaged LIST per kind, cluster-wide,
  every item kept as a KubeObject.

Goal for wsdoctor: peak RSS under 150 MB and wall time under 3 s.
Run: ``.venv/bin/python bench/kube_discovery.py [--pods N] [--slices N] [--ingresses N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wsdoctor.lab.kubeapi import FakeKubeAPI, serve

NAMESPACES = 20
RSS_GOAL_MB = 150
WALL_GOAL_S = 3.0

#: A pod as a Deployment's ReplicaSet makes it, with what kube-apiserver returns in a list
#: (managedFields included): about 4 KB of JSON each. Shared by every generated pod.
POD_SPEC: dict[str, Any] = {
    "containers": [
        {
            "name": "app",
            "image": "registry.example.com/team/app:1.42.0",
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": f"SETTING_{i}", "value": f"value-{i}"} for i in range(12)],
            "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"cpu": "1", "memory": "512Mi"},
            },
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                               "periodSeconds": 10},
            "volumeMounts": [{"name": "kube-api-access", "readOnly": True,
                              "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
            "terminationMessagePath": "/dev/termination-log",
            "imagePullPolicy": "IfNotPresent",
        }
    ],
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "serviceAccountName": "default",
    "nodeName": "node-1",
    "schedulerName": "default-scheduler",
    "tolerations": [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
    ],
    "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt",
                                                             "path": "ca.crt"}]}},
    ]}}],
}
POD_STATUS: dict[str, Any] = {
    "phase": "Running",
    "conditions": [
        {"type": t, "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
        for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                  "PodScheduled")
    ],
    "hostIP": "10.0.0.1",
    "podIP": "10.1.0.1",
    "startTime": "2026-01-01T00:00:00Z",
    "qosClass": "Burstable",
    "containerStatuses": [{
        "name": "app", "ready": True, "restartCount": 0, "started": True,
        "image": "registry.example.com/team/app:1.42.0",
        "imageID": "registry.example.com/team/app@sha256:" + "ab" * 32,
        "containerID": "containerd://" + "cd" * 32,
        "state": {"running": {"startedAt": "2026-01-01T00:00:05Z"}},
        "lastState": {},
    }],
}
MANAGED_FIELDS = [{
    "manager": "kube-controller-manager",
    "operation": "Update",
    "apiVersion": "v1",
    "time": "2026-01-01T00:00:00Z",
    "fieldsType": "FieldsV1",
    "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {},
                 "f:pod-template-hash": {}}, "f:ownerReferences": {}},
                 "f:spec": {f"f:field{i}": {} for i in range(30)}},
}]


def objects(pods: int, slices: int, ingresses: int) -> list[dict[str, Any]]:
    """Ingresses app-N.example.com → Service app-N, its pods and EndpointSlices."""
    out: list[dict[str, Any]] = [{
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": "nginx"},
        "spec": {"controller": "k8s.io/ingress-nginx"},
    }]
    for n in range(NAMESPACES):
        out.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns-{n}"}})
    for i in range(ingresses):
        ns, name = f"ns-{i % NAMESPACES}", f"app-{i}"
        out.append({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"ingressClassName": "nginx", "rules": [{
                "host": f"{name}.example.com",
                "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                    "service": {"name": name, "port": {"number": 80}}}}]},
            }]},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}},
        })
        out.append({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
        })
    for j in range(pods):
        i = j % ingresses
        out.append({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"app-{i}-7d9c8b6f5-{j:05d}",
                "namespace": f"ns-{i % NAMESPACES}",
                "labels": {"app": f"app-{i}", "pod-template-hash": "7d9c8b6f5"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                     "name": f"app-{i}-7d9c8b6f5", "uid": "0" * 36,
                                     "controller": True, "blockOwnerDeletion": True}],
                "managedFields": MANAGED_FIELDS,
            },
            "spec": POD_SPEC,
            "status": POD_STATUS,
        })
    for j in range(slices):
        i = j % ingresses
        out.append({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": f"app-{i}-{j:05d}", "namespace": f"ns-{i % NAMESPACES}",
                         "labels": {"kubernetes.io/service-name": f"app-{i}"}},
            "addressType": "IPv4",
            "ports": [{"port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [f"10.{j // 250}.{j % 250}.{k}"],
                           "conditions": {"ready": True, "serving": True, "terminating": False}}
                          for k in range(1, 7)],
        })
    return out


#: Runs argv and prints its wall time and peak RSS. Started as a fresh, small interpreter:
#: a child forked straight from this (large) process would inherit its RSS high-water mark.
LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=open(os.environ["BENCH_OUT"], "wb"),
                        stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps({"wall": time.perf_counter() - start, "rss_kb": usage.ru_maxrss,
                  "code": os.waitstatus_to_exitcode(status)}))
"""


def measured(argv: list[str]) -> tuple[float, float, bytes]:
    """(wall s, peak RSS MB, stdout) of ``argv`` in its own process."""
    with tempfile.NamedTemporaryFile() as out:
        done = subprocess.run(
            [sys.executable, "-S", "-c", LAUNCHER, *argv],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "BENCH_OUT": out.name},
        )
        data = Path(out.name).read_bytes()
    result = json.loads(done.stdout)
    if result["code"] not in (0, 1):
        raise SystemExit(f"{argv[:4]} exited {result['code']}")
    return float(result["wall"]), result["rss_kb"] / 1024, data


def reference(kubeconfig: str) -> None:
    """The previous way: every kind cluster-wide, one unpaged LIST each, all kept."""
    from wsdoctor.kube.client import get
    from wsdoctor.kube.config import load_access
    from wsdoctor.kube.kinds import KINDS
    from wsdoctor.kube.snapshot import KubeObject
    from wsdoctor.settings import Settings

    access = load_access(Settings(kubeconfig=kubeconfig, timeout=60))
    served = {g["name"]: [v["version"] for v in g["versions"]] for g in get(access, "/apis")
              ["groups"]}
    served[""] = ["v1"]

    async def one(kind: Any, version: str) -> list[KubeObject]:
        prefix = f"/apis/{kind.group}/{version}" if kind.group else f"/api/{version}"
        body = await asyncio.to_thread(get, access, f"{prefix}/{kind.plural}")
        return [KubeObject.from_dict({"apiVersion": version, "kind": kind.kind, **item})
                for item in body["items"]]

    async def everything() -> int:
        jobs = [one(k, k.versions[0]) for k in KINDS if k.versions[0] in served.get(k.group, [])]
        return sum(len(x) for x in await asyncio.gather(*jobs))

    print(json.dumps({"objects": asyncio.run(everything())}))
    access.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pods", type=int, default=30_000)
    parser.add_argument("--slices", type=int, default=5_000)
    parser.add_argument("--ingresses", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reference", metavar="KUBECONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference:
        reference(args.reference)
        return
    api = FakeKubeAPI(crds=("gateway", "traefik", "istio"))
    api.add(*objects(args.pods, args.slices, args.ingresses), share=True)
    host = f"app-{args.ingresses - 1}.example.com"
    with serve(api) as running, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = str(running.kubeconfig(Path(tmp) / "kubeconfig"))
        ours = [sys.executable, "-m", "wsdoctor", f"wss://{host}/", "--only", "cluster",
                "--kubeconfig", kubeconfig, "--format", "json"]
        before = [sys.executable, __file__, "--reference", kubeconfig]
        rows: dict[str, list[tuple[float, float]]] = {"wsdoctor": [], "reference": []}
        for _ in range(args.runs):
            wall, rss, out = measured(ours)
            rows["wsdoctor"].append((wall, rss))
            report = json.loads(out)
            wall, rss, _ = measured(before)
            rows["reference"].append((wall, rss))
    check = report["checks"][0]
    obs = check["observation"]
    route = obs["routes"][0]
    print(f"cluster: {args.pods} Pods, {args.slices} EndpointSlices, {args.ingresses} Ingresses "
          f"(+ {args.ingresses} Services) in {NAMESPACES} namespaces; host {host}")
    print(f"wsdoctor found {route['kind']} {route['namespace']}/{route['name']} → "
          f"{route['backends'][0]['endpoints']['ready']} ready endpoints; check status "
          f"{check['status']}, {obs['objects_read']} objects read, "
          f"{len(obs['read_failures'])} read failures")
    best = {side: (min(w for w, _ in r), max(m for _, m in r)) for side, r in rows.items()}
    print(f"{'':10} {'wall (best of ' + str(args.runs) + ')':>20} {'peak RSS (max)':>16}")
    for side, (wall, rss) in best.items():
        print(f"{side:10} {wall:>18.2f} s {rss:>13.0f} MB")
    (w1, r1), (w0, r0) = best["wsdoctor"], best["reference"]
    print(f"{'ratio':10} {w1 / w0:>19.2f}x {r1 / r0:>15.2f}x  (wsdoctor / reference)")
    print(f"goal: wsdoctor under {RSS_GOAL_MB} MB and {WALL_GOAL_S:g} s: "
          f"{'met' if r1 < RSS_GOAL_MB and w1 < WALL_GOAL_S else 'NOT met'}")
    if r1 >= RSS_GOAL_MB or w1 >= WALL_GOAL_S:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
