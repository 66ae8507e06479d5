"""Traefik's sticky cookie through the affinity check: the default name Traefik generates and
a configured one are both recognised, with their measured attributes, and a replay is shown
to pin the replica that set it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LAB_HOST, pinned_args, run_cli
from wsdoctor.knowledge_traefik import sticky_cookie_name
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.traefik import StickyCookie, Traefik, TraefikRoute, TraefikSite, healthy_site

pytestmark = pytest.mark.lab


def affinity(traefik: Traefik, ca_file: Path, *extra: str) -> tuple[dict[str, Any], list[Any]]:
    result = run_cli(traefik.url(), *pinned_args(traefik.port, ca_file), "--only", "affinity",
                     "--format", "json", *extra)
    report = json.loads(result.stdout)
    obs = next(c for c in report["checks"] if c["id"] == "affinity")["observation"]
    return obs, report["findings"]


def test_default_cookie_name_is_recognised_as_traefiks_and_pins(
    start_traefik: Callable[[TraefikSite], Traefik], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path,
) -> None:
    """Given a service with sticky.cookie and no name, Traefik sets _ + 5 hex of a hash of the
    service's name with Path=/ only; wsdoctor names it Traefik's by its name, replays it to
    the same replica, and asks for Secure with Traefik's field."""
    traefik = start_traefik(TraefikSite(tls=lab_ca.issue([LAB_HOST]), routes=[TraefikRoute(
        replicas=[r.port for r in replicas], weighted=False, sticky=StickyCookie())]))
    obs, findings = affinity(traefik, lab_ca_file)
    assert obs["affinity_cookie"] == sticky_cookie_name("ws@file")
    assert obs["affinity_component"] == "Traefik" and not obs["affinity_by_behaviour"]
    assert obs["replay_pinned"] is True and obs["replica_source"] == "header"
    cookie = next(c for c in obs["cookies_upgrade"] if c["name"] == obs["affinity_cookie"])
    assert (cookie["path"], cookie["secure"], cookie["http_only"], cookie["same_site"],
            cookie["max_age"], cookie["expires"]) == ("/", False, False, None, None, None)
    insecure = next(f for f in findings if f["code"] == "WSD-AFFINITY-COOKIE-INSECURE")
    assert "sticky.cookie.secure" in insecure["fix"]["summary"]


def test_configured_cookie_is_recognised_by_its_replay_and_pins(
    start_traefik: Callable[[TraefikSite], Traefik], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path,
) -> None:
    """Given the healthy site (a weighted service with sticky cookie lab_sticky, secure,
    httpOnly, sameSite lax), the cookie is found on the 101 with those attributes and its
    replay pins the replica: by behaviour, or by name with --affinity-cookie."""
    traefik = start_traefik(healthy_site(LAB_HOST, [r.port for r in replicas],
                                         lab_ca.issue([LAB_HOST])))
    obs, findings = affinity(traefik, lab_ca_file)
    assert obs["affinity_cookie"] == "lab_sticky" and obs["affinity_by_behaviour"]
    assert obs["replay_pinned"] is True
    cookie = next(c for c in obs["cookies_upgrade"] if c["name"] == "lab_sticky")
    assert (cookie["path"], cookie["secure"], cookie["http_only"], cookie["same_site"]) == (
        "/", True, True, "Lax")
    assert [f["code"] for f in findings] == ["WSD-AFFINITY-PINNED"]
    named, _ = affinity(traefik, lab_ca_file, "--affinity-cookie", "lab_sticky")
    assert named["affinity_cookie"] == "lab_sticky" and not named["affinity_by_behaviour"]
    assert named["replay_pinned"] is True


def test_without_sticky_cookie_reconnects_spread(
    start_traefik: Callable[[TraefikSite], Traefik], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path,
) -> None:
    """Given the weighted service without a sticky cookie, no cookie is set and reconnects
    reach both replicas: a failure when affinity is expected."""
    site = healthy_site(LAB_HOST, [r.port for r in replicas], lab_ca.issue([LAB_HOST]))
    site.routes[0].sticky = None
    traefik = start_traefik(site)
    obs, findings = affinity(traefik, lab_ca_file, "--expect-affinity")
    assert obs["affinity_cookie"] is None and obs["distinct_replicas"] == 2
    assert [f["code"] for f in findings if f["status"] == "fail"] == ["WSD-AFFINITY-NONE"]


def test_sticky_cookie_path_is_accepted_and_sets_the_cookies_path(
    start_traefik: Callable[[TraefikSite], Traefik], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path,
) -> None:
    """Given sticky.cookie.path /api, Traefik starts with it and sets Path=/api on its
    cookie (measured: the option exists); the WebSocket at /ws is not covered, and the fix is
    Traefik's own path option, not an ingress-nginx annotation."""
    traefik = start_traefik(TraefikSite(tls=lab_ca.issue([LAB_HOST]), routes=[TraefikRoute(
        replicas=[r.port for r in replicas], weighted=False,
        sticky=StickyCookie(path="/api"))]))
    obs, findings = affinity(traefik, lab_ca_file)
    cookie = next(c for c in obs["cookies_upgrade"] if c["name"] == obs["affinity_cookie"])
    assert obs["affinity_component"] == "Traefik" and cookie["path"] == "/api"
    [path] = [f for f in findings if f["code"] == "WSD-AFFINITY-COOKIE-PATH"]
    fix = path["fix"]["summary"] + path["fix"]["snippet"]
    assert "sticky.cookie.path" in fix and "path: /ws" in fix
    assert "nginx.ingress" not in fix
