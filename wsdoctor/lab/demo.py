"""``wsdoctor demo``: a small deployment on loopback with deliberate faults, diagnosed.

Two replicas of a chat app behind nginx configured like ingress-nginx, with three faults a
real cluster often has: a short ``proxy-read-timeout``, round-robin without session
affinity, and a certificate about to expire. A fake Kubernetes API serves the objects a real
cluster would show for it (``demo-cluster.yaml``), so the cluster check and its cross-checks
run too. Everything started here is stopped on exit.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from wsdoctor.lab.backend import Backend, BackendOptions, LabLoop
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.proxies import Nginx, NginxLocation, NginxSite

DEMO_HOST = "chat.demo.test"
DEMO_READ_TIMEOUT = 3.0
"""The demo's nginx ``proxy_read_timeout``: short, so the idle measurement ends quickly."""


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
def demo_deployment() -> Iterator[DemoDeployment]:
    """Start the demo deployment; stop all of it when the block ends."""
    from wsdoctor.lab.kubeapi import FakeKubeAPI, serve
    from wsdoctor.lab.proxies import free_port

    ca = LabCA("wsdoctor demo CA")
    cluster = FakeKubeAPI()
    cluster.load(Path(__file__).with_name("demo-cluster.yaml"))
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
        site = NginxSite(
            host=DEMO_HOST,
            tls=ca.issue([DEMO_HOST], days_valid=6),
            locations=[
                NginxLocation(
                    path="/ws",
                    upstreams=[r.port for r in replicas],
                    read_timeout=DEMO_READ_TIMEOUT,
                    send_timeout=DEMO_READ_TIMEOUT,
                )
            ],
            http_port=free_port(),
        )
        nginx = Nginx(site)
        try:
            assert site.http_port is not None
            yield DemoDeployment(
                url=f"wss://{DEMO_HOST}:{nginx.port}/ws",
                port=nginx.port,
                http_port=site.http_port,
                ca_file=ca_file,
                kubeconfig=api.kubeconfig(Path(scratch) / "kubeconfig", context="demo"),
                replicas=replicas,
            )
        finally:
            nginx.stop()
            for replica in replicas:
                loop.run(replica.stop())
