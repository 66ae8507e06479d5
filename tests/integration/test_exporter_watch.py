"""The exporter's watch module: held connections, drops exported by cause for a rollout on the
fake cluster, and a soak of 10,000 accelerated connection cycles with flat memory and fds."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.exporter_support import running_exporter, value, wait_for, write_config
from tests.helpers import LAB_HOST
from tests.integration.test_exporter_soak import open_fds, rss_bytes
from wsdoctor.lab.backend import Backend, LabLoop
from wsdoctor.lab.cluster_events import terminate_pod
from wsdoctor.lab.faults import ChurnServer
from wsdoctor.lab.kubeapi import FakeKubeAPI, serve
from wsdoctor.lab.proxies import Nginx, NginxLocation, NginxSite
from wsdoctor.watch.attribution import CAUSES

pytestmark = [pytest.mark.lab, pytest.mark.slow]

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "watch" / "rollout.yaml"
POD_A, POD_B = "chat-5f7d-aaaaa", "chat-5f7d-bbbbb"


async def test_drops_of_a_rollout_are_exported_by_cause(
        tmp_path: Path, lab_loop: LabLoop, start_backend: Callable[..., Backend],
        start_nginx: Callable[[NginxSite], Nginx]) -> None:
    """Given a watch target behind nginx and the fake cluster, when pod a terminates (its
    endpoint removed, its process killed), /metrics counts its connections' drops under
    cause="pod_terminated", every other cause at 0, with their ages in the histogram."""
    a, b = start_backend(name=POD_A), start_backend(name=POD_B)
    nginx = start_nginx(NginxSite(host=LAB_HOST, locations=[NginxLocation(
        upstreams=[a.port, b.port])]))
    api = FakeKubeAPI()
    api.load(FIXTURE)
    with serve(api) as running:
        kubeconfig = running.kubeconfig(tmp_path / "kubeconfig")
        config = write_config(tmp_path, f"""\
modules:
  drops:
    watch: {{connections: 4, heartbeat: 300ms, backoff: 200ms}}
    settings: {{kubeconfig: '{kubeconfig}'}}
targets:
  - name: chat
    url: ws://{LAB_HOST}:{nginx.port}/ws
    resolve: ['{LAB_HOST}:{nginx.port}:127.0.0.1']
    module: drops
""")
        async with running_exporter(config) as ex:
            state = ex.exporter.watches.targets["chat"]
            await wait_for(lambda: state.open == 4, timeout=15)
            on_a = sum(1 for h in (state.recorder.open.values() if state.recorder else [])
                       if h.replica == POD_A)
            assert on_a, "no connection reached pod a"
            terminate_pod(api, "chat", POD_A, grace=5)
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(a.kill(), lab_loop.loop))
            await wait_for(lambda: sum(state.drops.values()) >= on_a, timeout=15)
            samples = await ex.scrape()
    labels = {"target": "chat", "module": "drops"}
    assert value(samples, "wsdoctor_watch_drops_total", cause="pod_terminated",
                 **labels) == on_a
    assert value(samples, "wsdoctor_watch_drops_total", cause="idle_timeout", **labels) == 0
    assert value(samples, "wsdoctor_watch_connection_age_seconds_count", **labels) == on_a
    assert value(samples, "wsdoctor_watch_connections_open", **labels) == 4
    assert value(samples, "wsdoctor_watch_cluster_watched", **labels) == 1


CYCLES = 10_000


async def test_memory_and_fds_stay_flat_over_10000_connection_cycles(tmp_path: Path) -> None:
    """Given a server that closes every connection right after its 101 (1001) and a watch
    target reconnecting at once on 8 connections, RSS grows by less than 10 MB from warm-up
    to the end of 10,000 cycles (each attributed and counted), and open fds do not grow beyond
    the sockets in flight."""
    backend = await ChurnServer().start()  # on this loop: no thread handoffs per cycle
    config = write_config(tmp_path, f"""\
modules:
  churn:
    watch: {{connections: 8, echo: null, backoff: 1ms}}
    settings: {{kubernetes: false}}
targets:
  - {{name: churn, url: 'ws://127.0.0.1:{backend.port}/', module: churn}}
""")
    async with running_exporter(config) as ex:
        state = ex.exporter.watches.targets["churn"]
        rss: list[int] = []
        fds: list[int] = []
        checkpoint = 2_000
        while (done := sum(state.drops.values())) < CYCLES:
            if done >= checkpoint:
                gc.collect()
                rss.append(rss_bytes())
                fds.append(open_fds())
                checkpoint += 2_000
                samples = await ex.scrape()
                assert sum(value(samples, "wsdoctor_watch_drops_total", cause=cause,
                                 target="churn", module="churn") for cause in CAUSES) >= done
            await asyncio.sleep(0.05)
        gc.collect()
        rss.append(rss_bytes())
        fds.append(open_fds())
    await backend.stop()
    assert len(rss) >= 4, rss
    growth = rss[-1] - rss[1]
    assert growth < 10 * 1024 * 1024, [r // 1024 for r in rss]
    in_flight = 2 * 8  # a client and a server socket per slot may be open at a sample
    assert max(fds[1:]) - min(fds[1:]) <= in_flight, fds
