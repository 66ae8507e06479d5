"""The watch streams behind a route, through the real ``kubernetes`` client against the fake
API: the documented roles are enough to open every stream, the changes of a rollout arrive as
events, and a missing ``watch`` verb is named instead of being a silent gap."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from wsdoctor.checks.cluster import ClusterObservation
from wsdoctor.lab.cluster_events import change_configmap, scale_down, terminate_pod
from wsdoctor.lab.kubeapi import FakeKubeAPI, Rule, RunningAPI, serve
from wsdoctor.runner import diagnose
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target
from wsdoctor.watch.kubeplan import watch_plan
from wsdoctor.watch.kubewatch import ClusterWatch
from wsdoctor.watch.model import ClusterEvent

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "k8s" / "watch" / "rollout.yaml"


def documented_rules(*names: str) -> tuple[Rule, ...]:
    """The fake API's rules for the ClusterRoles in these files of docs/."""
    rules = []
    for name in names:
        role = yaml.safe_load((ROOT / "docs" / name).read_text(encoding="utf-8"))
        for rule in role["rules"]:
            resources = tuple(f"{r}.{g}" if g else r for g in rule["apiGroups"]
                              for r in rule["resources"])
            rules.append(Rule(verbs=tuple(rule["verbs"]), resources=resources))
    return tuple(rules)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[FakeKubeAPI, RunningAPI, Path]]:
    api = FakeKubeAPI(tokens={
        "watcher": documented_rules("rbac.yaml", "rbac-watch.yaml"),
        "reader": documented_rules("rbac.yaml"),
    })
    api.load(FIXTURE)
    with serve(api) as running:
        yield api, running, tmp_path


def discover(settings: Settings) -> ClusterObservation:
    report = asyncio.run(diagnose(parse_target("ws://ws.lab.test/ws"),
                                  settings.model_copy(update={"only": ["cluster"]})))
    check = report.check("cluster")
    assert check is not None and isinstance(check.observation, ClusterObservation), check
    return check.observation


class Collected:
    """What a ClusterWatch delivered, from its threads."""

    def __init__(self) -> None:
        self.events: list[ClusterEvent] = []
        self.notes: list[str] = []

    def wait_for(self, predicate: Any, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert predicate(), (self.events, self.notes)


def run_watch(settings: Settings, obs: ClusterObservation, collected: Collected,
              during: Any) -> list[str]:
    async def main() -> list[str]:
        start = time.monotonic()
        watch = ClusterWatch(settings, obs, collected.events.append,
                             now=lambda: time.monotonic() - start, note=collected.notes.append)
        opened = await watch.start()
        try:
            await asyncio.to_thread(during)
        finally:
            await watch.stop()
        return opened

    return asyncio.run(main())


def test_the_plan_follows_the_route_to_its_pods_and_the_controllers_configmap(
        cluster: tuple[FakeKubeAPI, RunningAPI, Path]) -> None:
    """The route of ws.lab.test/ws leads to namespace chat, Service chat (app=chat), Ingress
    chat/chat of class nginx, and ingress-nginx's ConfigMap."""
    _, running, tmp = cluster
    obs = discover(Settings(kubeconfig=str(running.kubeconfig(tmp / "kc", token="watcher"))))
    plan = watch_plan(obs)
    assert (plan.namespace, plan.services, plan.selectors) == ("chat", ("chat",),
                                                               ({"app": "chat"},))
    assert plan.route is not None and plan.route[1:] == ("Ingress", "chat", "chat")
    assert plan.route_class == "nginx"
    assert plan.configmaps == (("ingress-nginx", "ingress-nginx-controller"),)


def test_the_documented_roles_open_every_stream_and_a_rollout_arrives_as_events(
        cluster: tuple[FakeKubeAPI, RunningAPI, Path]) -> None:
    """With docs/rbac.yaml and docs/rbac-watch.yaml, every stream opens; a scale-down, a pod
    terminating with its endpoint removed, a ConfigMap and an Ingress change arrive as events
    naming their objects (and nothing is refused)."""
    api, running, tmp = cluster
    settings = Settings(kubeconfig=str(running.kubeconfig(tmp / "kc", token="watcher")))
    obs = discover(settings)
    collected = Collected()

    def rollout() -> None:
        scale_down(api, "chat", "chat", 1)
        terminate_pod(api, "chat", "chat-5f7d-aaaaa", grace=5)
        change_configmap(api, "ingress-nginx", "ingress-nginx-controller",
                         **{"proxy-body-size": "2m"})
        ingress = next(o for o in api.objects if o["kind"] == "Ingress")
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] = "8m"
        api.update(ingress)
        collected.wait_for(lambda: len(collected.events) >= 7)

    opened = run_watch(settings, obs, collected, rollout)
    assert not collected.notes and not [o for o in opened if o.startswith("not watched")]
    assert len(opened) == 9, opened
    seen = {(e.kind, e.name, e.change) for e in collected.events}
    assert ("Deployment", "chat", "scaled") in seen
    assert ("Pod", "chat-5f7d-aaaaa", "terminating") in seen
    assert ("EndpointSlice", "chat-x7k2p", "endpoint_removed") in seen
    assert ("Pod", "chat-5f7d-aaaaa", "event") in seen  # Killing
    assert ("ConfigMap", "ingress-nginx-controller", "modified") in seen
    assert ("Ingress", "chat", "modified") in seen
    terminating = next(e for e in collected.events if e.change == "terminating")
    assert terminating.grace_s == 5 and terminating.pods == ["chat-5f7d-aaaaa"]


def test_without_the_watch_verb_each_stream_says_so(
        cluster: tuple[FakeKubeAPI, RunningAPI, Path]) -> None:
    """With get/list only (docs/rbac.yaml alone), the streams are refused and each refusal is
    named with the verb it lacks, instead of a watch that silently sees nothing."""
    _, running, tmp = cluster
    settings = Settings(kubeconfig=str(running.kubeconfig(tmp / "kc", token="reader")))
    obs = discover(settings)
    collected = Collected()
    run_watch(settings, obs, collected,
              lambda: collected.wait_for(lambda: any("Pods in" in n for n in collected.notes)))
    assert any("Pods in chat" in n and "watch verb" in n for n in collected.notes), \
        collected.notes
