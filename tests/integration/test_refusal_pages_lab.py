"""Refusal pages as real nginx and HAProxy write them: each is diagnosed as the proxy's own
refusal when the page is the proxy's, not as a dropped Upgrade or the application's Origin
check."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import run_cli
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.proxies import HAProxy, HAProxySite, Nginx, NginxLocation, NginxSite

pytestmark = pytest.mark.lab


def first_handshake_finding(port: int, *extra: str) -> dict[str, Any]:
    result = run_cli(f"ws://127.0.0.1:{port}/ws", "--format", "json", "--no-kubernetes",
                     "--only", "handshake", *extra)
    return next(f for f in json.loads(result.stdout)["findings"] if f["check"] == "handshake")


def test_haproxy_400_for_a_large_header_is_the_proxys_rejection(
    start_haproxy: Callable[[HAProxySite], HAProxy], replicas: list[Backend],
) -> None:
    """A 20 kB header over HAProxy's 16 KiB buffer: its own 400 page, named as such."""
    haproxy = start_haproxy(HAProxySite(backends=[("r1", replicas[0].port)]))
    finding = first_handshake_finding(haproxy.port, "-H", "X-Big: " + "a" * 20000)
    assert finding["code"] == "WSD-HANDSHAKE-PROXY-REJECTED"
    assert "tune.bufsize" in finding["fix"]["snippet"] and "X-Big" in finding["detail"]


def test_haproxy_deny_rule_403_is_an_access_rule_not_origin(
    start_haproxy: Callable[[HAProxySite], HAProxy], replicas: list[Backend],
) -> None:
    """'http-request deny': HAProxy's 403 page points at its deny rules."""
    haproxy = start_haproxy(HAProxySite(backends=[("r1", replicas[0].port)],
                                        frontend_extra=["http-request deny"]))
    finding = first_handshake_finding(haproxy.port)
    assert finding["code"] == "WSD-HANDSHAKE-FORBIDDEN"
    assert "deny rule" in finding["detail"] and "--origin" not in finding["fix"]["summary"]


def test_nginx_own_403_page_names_an_nginx_access_rule_first(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend],
) -> None:
    """nginx's 'deny all' (an IP allow-list does the same): its own 403 page names nginx's
    access rules before the application's Origin check."""
    nginx = start_nginx(NginxSite(host="127.0.0.1", locations=[NginxLocation(
        path="/ws", upstreams=[replicas[0].port], directives=["deny all;"])]))
    finding = first_handshake_finding(nginx.port)
    assert finding["code"] == "WSD-HANDSHAKE-FORBIDDEN"
    assert "nginx's own" in finding["detail"] and "whitelist-source-range" in finding["detail"]


def test_an_html_error_page_is_quoted_as_its_text_not_its_markup(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend],
) -> None:
    """nginx's own 403 page (HTML) is quoted by its title and visible text, as a browser shows
    it, in the finding and the text report: no tags."""
    nginx = start_nginx(NginxSite(host="127.0.0.1", locations=[NginxLocation(
        path="/ws", upstreams=[replicas[0].port], directives=["deny all;"])]))
    finding = first_handshake_finding(nginx.port)
    assert "body: '403 Forbidden nginx/" in finding["detail"], finding["detail"]
    assert "<" not in finding["detail"]
    text = run_cli(f"ws://127.0.0.1:{nginx.port}/ws", "--no-kubernetes", "--only",
                   "handshake").stdout
    assert "body: '403 Forbidden nginx/" in text and "<center>" not in text
