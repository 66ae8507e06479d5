"""An affinity cookie with a name of the operator's choosing is recognised by replaying it:
HAProxy's ``cookie SRV insert`` pins without --affinity-cookie; a cookie that does not pin
(HAProxy in front of a round-robin nginx) leaves the verdict at no affinity."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import run_cli
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.proxies import HAProxy, HAProxySite, Nginx, NginxLocation, NginxSite

pytestmark = pytest.mark.lab


def affinity(url: str, *args: str) -> tuple[dict[str, Any], list[dict[str, Any]], int, str]:
    """The affinity observation, its findings, the exit status and the text report."""
    result = run_cli(url, "--format", "json", "--only", "affinity", *args)
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    obs = next(c for c in report["checks"] if c["id"] == "affinity")["observation"]
    found = [f for f in report["findings"] if f["check"] == "affinity"]
    text = run_cli(url, "--format", "text", "--only", "affinity", *args).stdout
    return obs, found, result.status, result.stdout + text


def test_haproxy_custom_cookie_pins_without_being_named(
    start_haproxy: Callable[[HAProxySite], HAProxy], replicas: list[Backend],
) -> None:
    """cookie SRV insert, no --affinity-cookie: SRV is found by behaviour, replays stay on the
    replica that set it, --expect-affinity passes, and SRV's values are never printed."""
    haproxy = start_haproxy(HAProxySite(backends=[(b.name, b.port) for b in replicas],
                                        cookie="SRV"))
    obs, found, status, output = affinity(f"ws://127.0.0.1:{haproxy.port}/ws",
                                          "--expect-affinity")
    assert obs["affinity_cookie"] == "SRV" and obs["affinity_by_behaviour"] is True
    assert obs["affinity_component"] is None and obs["replayed_cookies"] == ["SRV"]
    assert obs["replay_pinned"] is True and obs["replayed_pinned_together"] is True
    replays = [c for c in obs["connections"] if c["cookie_sent"]]
    assert len(replays) == 5 and {c["replica"] for c in replays} == {obs["connections"][0]
                                                                      ["replica"]}
    [finding] = found
    assert finding["code"] == "WSD-AFFINITY-PINNED" and finding["status"] == "ok"
    assert "recognised by behaviour, not by name" in finding["detail"]
    assert status == 0
    for name in ("r1", "r2"):
        assert f"SRV={name}" not in output


def test_a_cookie_that_does_not_pin_is_replayed_and_still_no_affinity(
    start_haproxy: Callable[[HAProxySite], HAProxy],
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend],
) -> None:
    """HAProxy inserts SRV in front of a round-robin nginx: replaying SRV does not pin, so
    --expect-affinity fails with NONE and says the replayed cookie does not pin."""
    nginx = start_nginx(NginxSite(locations=[NginxLocation("/ws", [b.port for b in replicas])]))
    haproxy = start_haproxy(HAProxySite(backends=[("edge", nginx.port)], cookie="SRV"))
    obs, found, status, _ = affinity(f"ws://127.0.0.1:{haproxy.port}/ws", "--expect-affinity")
    assert obs["affinity_cookie"] is None and obs["affinity_by_behaviour"] is False
    assert obs["replayed_cookies"] == ["SRV"] and obs["replayed_pinned_together"] is False
    assert obs["distinct_replicas"] == 2
    [finding] = found
    assert finding["code"] == "WSD-AFFINITY-NONE" and finding["status"] == "fail"
    assert "Replaying the cookies set (SRV)" in finding["detail"]
    assert "did not keep them on one replica" in finding["detail"]
    assert status == 1


def test_nginx_round_robin_sets_no_cookie_and_replays_nothing(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend],
) -> None:
    """Round-robin nginx sets no cookie: nothing is replayed and it is still no affinity."""
    nginx = start_nginx(NginxSite(locations=[NginxLocation("/ws", [b.port for b in replicas])]))
    obs, found, status, _ = affinity(f"ws://127.0.0.1:{nginx.port}/ws", "--expect-affinity")
    assert obs["replayed_cookies"] == [] and obs["replayed_pinned_together"] is None
    assert obs["affinity_cookie"] is None and obs["distinct_replicas"] == 2
    assert [f["code"] for f in found] == ["WSD-AFFINITY-NONE"] and status == 1


def test_haproxy_cookie_path_is_slash_unless_an_attr_narrows_it(
    start_haproxy: Callable[[HAProxySite], HAProxy], replicas: list[Backend],
) -> None:
    """HAProxy inserts SERVERID with path=/ (covers /ws: no Path finding); attr "Path=/api" is
    written after it and, the last Path winning, leaves /ws uncovered: the fix names HAProxy's
    attr, not an ingress-nginx annotation."""
    backends = [(b.name, b.port) for b in replicas]
    plain = start_haproxy(HAProxySite(backends=backends, cookie="SERVERID"))
    obs, found, _, _ = affinity(f"ws://127.0.0.1:{plain.port}/ws")
    [cookie] = obs["cookies_upgrade"]
    assert (cookie["name"], cookie["path"]) == ("SERVERID", "/")
    assert obs["affinity_component"] == "HAProxy"
    assert "WSD-AFFINITY-COOKIE-PATH" not in [f["code"] for f in found]
    narrowed = start_haproxy(HAProxySite(backends=backends, cookie="SERVERID",
                                         cookie_attr="Path=/api"))
    obs, found, _, _ = affinity(f"ws://127.0.0.1:{narrowed.port}/ws")
    assert [c["path"] for c in obs["cookies_upgrade"]] == ["/api"]
    [path] = [f for f in found if f["code"] == "WSD-AFFINITY-COOKIE-PATH"]
    assert 'attr "Path=..."' in path["fix"]["summary"] and "path=/" in path["fix"]["summary"]
    assert "nginx.ingress" not in json.dumps(path["fix"])
