"""wsdoctor watch against real events: nginx and HAProxy reloaded, an idle timeout, a flow
dropped silently, a replica killed (RST) or shut down gracefully (1001). Time is compressed
(timeouts of a second or three, heartbeats of a fraction of one); every scenario really
happens on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.helpers import LAB_HOST
from wsdoctor.lab.backend import Backend, LabLoop
from wsdoctor.lab.faults import SilentDropProxy
from wsdoctor.lab.proxies import HAProxy, HAProxySite, Nginx, NginxLocation, NginxSite
from wsdoctor.models import Status
from wsdoctor.report import Report
from wsdoctor.settings import ResolvePin, Settings
from wsdoctor.target import parse_target
from wsdoctor.watch.attribution import PathContext, attribute
from wsdoctor.watch.model import WatchObservation, WatchOptions
from wsdoctor.watch.session import ConnectionOpened, WatchEvent, WatchSession

pytestmark = [pytest.mark.lab, pytest.mark.slow]


async def watch(port: int, options: WatchOptions,
                sink: Callable[[WatchEvent], None] | None = None, path: str = "/ws") -> Report:
    """Watch ws://ws.lab.test:PORT/PATH pinned to 127.0.0.1, without a cluster."""
    target = parse_target(f"ws://{LAB_HOST}:{port}{path}")
    settings = Settings(resolve=[ResolvePin(host=LAB_HOST, port=port, address="127.0.0.1")],
                        kubernetes=False)
    return await WatchSession(target, settings, options, sink=sink).run(asyncio.Event())


def observed(report: Report) -> WatchObservation:
    check = report.check("watch")
    assert check is not None and isinstance(check.observation, WatchObservation), report
    assert check.observation.finished
    return check.observation


def codes(report: Report) -> dict[str, Status]:
    return {f.code: f.status for f in report.findings}


def when_all_open(count: int, action: Callable[[float], None]) -> Callable[[WatchEvent], None]:
    """A sink that calls ``action(t)`` once ``count`` connections are open (t: watch time)."""
    opened: list[float] = []

    def sink(event: WatchEvent) -> None:
        if isinstance(event, ConnectionOpened):
            opened.append(event.record.opened_at)
            if len(opened) == count:
                action(event.record.opened_at)

    return sink


async def test_idle_timeout_drops_at_a_fixed_age_are_an_idle_timeout(
        replicas: list[Backend], start_nginx: Callable[[NginxSite], Nginx]) -> None:
    """Given nginx with proxy_read_timeout 1 s and connections that send nothing, every
    connection is closed by a FIN at age ~1 s and the watch calls it an idle timeout of 1 s."""
    nginx = start_nginx(NginxSite(host=LAB_HOST, locations=[NginxLocation(
        upstreams=[b.port for b in replicas], read_timeout=1.0)]))
    report = await watch(nginx.port, WatchOptions(connections=3, duration=4.0, echo=None,
                                                  open_interval=0.4, backoff_initial=0.2))
    obs = observed(report)
    drops = obs.drops()
    assert len(drops) >= 6
    assert all(d.ending == "fin" and abs((d.age_s or 0) - 1.0) < 0.3 for d in drops)
    causes = attribute(obs)
    assert {causes[d.id].kind for d in drops[:-1]} == {"idle_timeout"}
    idle = next(f for f in report.findings if f.code == "WSD-WATCH-IDLE-TIMEOUT")
    assert abs(float(idle.evidence["seconds"] or 0) - 1.0) < 0.3  # type: ignore[arg-type]


async def test_a_silent_drop_is_found_within_heartbeat_plus_pong_timeout(
        lab_loop: LabLoop, replicas: list[Backend]) -> None:
    """Given a load balancer that black-holes every flow 1 s after accepting it, with a 0.3 s
    heartbeat and a 0.5 s pong timeout each drop is found as silent within 0.8 s of it."""
    proxy = lab_loop.run(SilentDropProxy(replicas[0].port, drop_after=1.0).start())
    try:
        report = await watch(proxy.port, WatchOptions(
            connections=2, duration=3.5, heartbeat=0.3, pong_timeout=0.5, open_interval=0.3,
            backoff_initial=0.2))
    finally:
        lab_loop.run(proxy.stop())
    drops = observed(report).drops()
    assert len(drops) >= 2 and all(d.ending == "silent" for d in drops)
    for drop in drops:  # the flow died 1.0 s after the accept (just before the 101)
        assert (drop.ended_at or 0) - (drop.opened_at + 1.0) <= 0.3 + 0.5 + 0.15, drop
    assert codes(report)["WSD-WATCH-SILENT-DROP"] is Status.FAIL


async def test_nginx_reload_cuts_the_old_workers_connections_after_worker_shutdown_timeout(
        replicas: list[Backend], start_nginx: Callable[[NginxSite], Nginx]) -> None:
    """Given nginx with worker_shutdown_timeout 3s and three held connections, `nginx -s
    reload` leaves them on the old worker: all three drop about 3 s later, at once, and the
    watch attributes them to a proxy reload; the reconnects succeed at once."""
    nginx = start_nginx(NginxSite(host=LAB_HOST, worker_shutdown_timeout=3.0,
                                  locations=[NginxLocation(upstreams=[b.port for b in replicas])]))
    reloaded: list[float] = []

    def reload(t: float) -> None:
        nginx.reload()
        reloaded.append(t)

    report = await watch(nginx.port, WatchOptions(
        connections=3, duration=6.0, heartbeat=0.5, open_interval=0.3, backoff_initial=0.2),
        when_all_open(3, reload))
    obs = observed(report)
    first = [c for c in obs.connections if c.id <= 3]
    assert reloaded and all(c.ended_at is not None for c in first)
    for conn in first:
        assert abs((conn.ended_at or 0) - reloaded[0] - 3.0) < 0.6, conn
    causes = attribute(obs)
    assert {causes[c.id].kind for c in first} == {"proxy_reload"}
    assert codes(report)["WSD-WATCH-PROXY-RELOAD"] is Status.FAIL
    assert all(c.attempts == 1 for c in obs.connections if c.id > 3)


async def test_haproxy_reload_cuts_the_old_processs_connections_after_hard_stop_after(
        replicas: list[Backend], start_haproxy: Callable[[HAProxySite], HAProxy]) -> None:
    """Given HAProxy with hard-stop-after 1s, a reload (SIGUSR2 to the master) cuts the
    connections of the old process about 1 s later, all at once: a proxy reload."""
    haproxy = start_haproxy(HAProxySite(backends=[("r1", replicas[0].port),
                                                  ("r2", replicas[1].port)],
                                        hard_stop_after=1.0))
    reloaded: list[float] = []

    def reload(t: float) -> None:
        haproxy.reload()
        reloaded.append(t)

    report = await watch(haproxy.port, WatchOptions(
        connections=3, duration=4.0, heartbeat=0.5, open_interval=0.3, backoff_initial=0.2),
        when_all_open(3, reload))
    obs = observed(report)
    first = [c for c in obs.connections if c.id <= 3]
    assert all(c.ended_at is not None and 0.8 < c.ended_at - reloaded[0] < 2.0 for c in first)
    assert {attribute(obs)[c.id].kind for c in first} == {"proxy_reload"}
    assert "WSD-WATCH-PROXY-RELOAD" in codes(report)


async def test_a_killed_replica_resets_its_connections_and_is_named(
        lab_loop: LabLoop, start_backend: Callable[..., Backend]) -> None:
    """Given two connections straight to a replica that is then killed, both end with a
    reset (the client's 1006) at once and reconnects are refused: the replica ended."""
    backend = start_backend(name="pod-a")

    def kill(t: float) -> None:
        asyncio.run_coroutine_threadsafe(backend.kill(), lab_loop.loop)

    report = await watch(backend.port, WatchOptions(
        connections=2, duration=2.5, heartbeat=0.3, open_interval=0.3, backoff_initial=0.2),
        when_all_open(2, kill))
    obs = observed(report)
    drops = obs.drops()
    assert [d.ending for d in drops] == ["reset", "reset"]
    assert {attribute(obs)[d.id].kind for d in drops} == {"replica"}
    assert {"WSD-WATCH-REPLICA-DROPS", "WSD-WATCH-RECONNECT-FAILED"} <= set(codes(report))


async def test_a_replica_shut_down_gracefully_closes_with_1001_behind_nginx(
        lab_loop: LabLoop, start_backend: Callable[..., Backend],
        start_nginx: Callable[[NginxSite], Nginx]) -> None:
    """Given nginx in front of replicas a and b, b shut down gracefully closes its
    connections with 1001 (passed through by nginx) while a's stay open; the reconnects land
    on a."""
    a, b = start_backend(name="a"), start_backend(name="b")
    nginx = start_nginx(NginxSite(host=LAB_HOST, locations=[NginxLocation(
        upstreams=[a.port, b.port])]))

    def stop_b(t: float) -> None:
        asyncio.run_coroutine_threadsafe(b.stop(), lab_loop.loop)

    report = await watch(nginx.port, WatchOptions(
        connections=4, duration=3.0, heartbeat=0.3, open_interval=0.2, backoff_initial=0.2),
        when_all_open(4, stop_b))
    obs = observed(report)
    drops = obs.drops()
    assert drops and {(d.replica, d.ending, d.close_code) for d in drops} == \
        {("b", "close_frame", 1001)}
    assert {attribute(obs, PathContext())[d.id].kind for d in drops} == {"replica"}
    assert {c.replica for c in obs.connections if c.reconnect_s is not None} == {"a"}
