"""wsdoctor watch with the cluster watched: the fake API's objects change while real nginx
and replicas cut the connections, and the drops are matched to the change that caused them
through the real ``kubernetes`` client's watch streams."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import LAB_HOST
from wsdoctor.lab.backend import Backend, LabLoop
from wsdoctor.lab.cluster_events import change_configmap, terminate_pod
from wsdoctor.lab.kubeapi import FakeKubeAPI, RunningAPI, serve
from wsdoctor.lab.proxies import Nginx, NginxLocation, NginxSite
from wsdoctor.models import Resource, Status
from wsdoctor.report import Report
from wsdoctor.settings import ResolvePin, Settings
from wsdoctor.target import parse_target
from wsdoctor.watch.model import WatchObservation, WatchOptions
from wsdoctor.watch.session import ConnectionOpened, WatchEvent, WatchSession

pytestmark = [pytest.mark.lab, pytest.mark.slow]

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "watch" / "rollout.yaml"
POD_A, POD_B = "chat-5f7d-aaaaa", "chat-5f7d-bbbbb"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[RunningAPI, Path]]:
    """The fake cluster of the watch lab and a kubeconfig for it."""
    api = FakeKubeAPI()
    api.load(FIXTURE)
    with serve(api) as running:
        yield running, running.kubeconfig(tmp_path / "kubeconfig")


async def watch(port: int, kubeconfig: Path, options: WatchOptions,
                sink: Callable[[WatchEvent], None]) -> Report:
    target = parse_target(f"ws://{LAB_HOST}:{port}/ws")
    settings = Settings(resolve=[ResolvePin(host=LAB_HOST, port=port, address="127.0.0.1")],
                        kubeconfig=str(kubeconfig))
    return await WatchSession(target, settings, options, sink=sink).run(asyncio.Event())


def observed(report: Report) -> WatchObservation:
    check = report.check("watch")
    assert check is not None and isinstance(check.observation, WatchObservation), report
    return check.observation


def once_open(count: int, action: Callable[[], None]) -> Callable[[WatchEvent], None]:
    opened: list[int] = []

    def sink(event: WatchEvent) -> None:
        if isinstance(event, ConnectionOpened):
            opened.append(event.record.id)
            if len(opened) == count:
                action()

    return sink


async def test_a_rollout_that_kills_a_pod_is_named_and_reconnects_land_on_the_other(
        cluster: tuple[RunningAPI, Path], lab_loop: LabLoop,
        start_backend: Callable[..., Backend], start_nginx: Callable[[NginxSite], Nginx]
) -> None:
    """Given nginx in front of pods a and b, when the cluster marks a terminating and removes
    its endpoint while its process is killed, the connections on a drop, are attributed to
    Pod chat/a's termination (a failure: no preStop, no 1001) and reconnect to b."""
    running, kubeconfig = cluster
    a, b = start_backend(name=POD_A), start_backend(name=POD_B)
    nginx = start_nginx(NginxSite(host=LAB_HOST, locations=[NginxLocation(
        upstreams=[a.port, b.port])]))

    def rollout() -> None:
        terminate_pod(running.api, "chat", POD_A, grace=5)
        asyncio.run_coroutine_threadsafe(a.kill(), lab_loop.loop)

    report = await watch(nginx.port, kubeconfig, WatchOptions(
        connections=4, duration=3.0, heartbeat=0.3, open_interval=0.2, backoff_initial=0.2),
        once_open(4, rollout))
    obs = observed(report)
    assert obs.cluster == "watched", obs.cluster_note
    on_a = [d for d in obs.drops() if d.replica == POD_A]
    assert on_a and all(d.replica == POD_A for d in obs.drops())
    assert any(e.change == "terminating" and e.name == POD_A for e in obs.events)
    assert any(e.change == "endpoint_removed" and POD_A in e.pods for e in obs.events)
    cut = next(f for f in report.findings if f.code == "WSD-WATCH-POD-CUT")
    assert cut.status is Status.FAIL
    assert cut.resource == Resource(kind="Pod", namespace="chat", name=POD_A)
    assert cut.evidence["connections"] == [d.id for d in on_a]
    assert "no preStop hook" in cut.detail
    reconnected = [c for c in obs.connections if c.reconnect_s is not None]
    assert reconnected and {c.replica for c in reconnected} == {POD_B}


async def test_an_nginx_reload_after_a_configmap_change_is_attributed_to_the_change(
        cluster: tuple[RunningAPI, Path], replicas: list[Backend],
        start_nginx: Callable[[NginxSite], Nginx]) -> None:
    """Given the controller's ConfigMap (worker-shutdown-timeout 3s) changes and nginx
    reloads, every connection drops ~3 s later and is attributed to that change, the drain
    time named."""
    running, kubeconfig = cluster
    nginx = start_nginx(NginxSite(host=LAB_HOST, worker_shutdown_timeout=3.0,
                                  locations=[NginxLocation(upstreams=[b.port for b in replicas])]))

    def reconfigure() -> None:
        change_configmap(running.api, "ingress-nginx", "ingress-nginx-controller",
                         **{"proxy-body-size": "2m"})
        nginx.reload()

    report = await watch(nginx.port, kubeconfig, WatchOptions(
        connections=3, duration=5.5, heartbeat=0.5, open_interval=0.2, backoff_initial=0.2),
        once_open(3, reconfigure))
    obs = observed(report)
    first = [c for c in obs.connections if c.id <= 3]
    assert all(c.ended_at is not None for c in first)
    reload = next(f for f in report.findings if f.code == "WSD-WATCH-PROXY-RELOAD")
    assert reload.resource == Resource(kind="ConfigMap", namespace="ingress-nginx",
                                       name="ingress-nginx-controller")
    assert abs(float(reload.evidence["seconds"] or 0) - 3.0) < 0.6  # type: ignore[arg-type]
    assert "worker-shutdown-timeout 3 s" in reload.detail
