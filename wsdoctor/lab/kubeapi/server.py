"""Serving the fake API over HTTPS on loopback, and kubeconfigs that point at it."""

from __future__ import annotations

import base64
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from wsdoctor.lab.kubeapi.handler import Handler

if TYPE_CHECKING:
    from wsdoctor.lab.certs import CertPair, LabCA
    from wsdoctor.lab.kubeapi.handler import RequestInfo
    from wsdoctor.lab.kubeapi.resources import ResourceType
    from wsdoctor.lab.kubeapi.store import FakeKubeAPI

Subresource = Callable[[Handler, "ResourceType", "RequestInfo", dict[str, str]], None]


class APIServer(ThreadingHTTPServer):
    """One listening fake API: a thread per connection; the TLS handshake runs in that
    thread, so a slow or silent client never blocks the others."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, api: FakeKubeAPI, context: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.api = api
        self.stopping = threading.Event()
        from wsdoctor.lab.kubeapi.portforward import serve_portforward

        self.subresources: dict[str, Subresource] = {"portforward": serve_portforward}
        """Connect subresources: name → handler, called after authorization."""
        if context is not None:
            self.socket = context.wrap_socket(
                self.socket, server_side=True, do_handshake_on_connect=False
            )

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up or rejects the certificate is not the server's error."""


@dataclass
class RunningAPI:
    """A started fake API server and how to reach it."""

    api: FakeKubeAPI
    url: str
    ca_pem: bytes
    server: APIServer
    ca: LabCA

    def client_certificate(self, user: str) -> CertPair:
        """A client certificate for ``user`` (its CN), signed by the server's CA: the user is
        then looked up in ``api.tokens`` like a token."""
        return self.ca.issue_client(user)

    def kubeconfig(
        self,
        path: Path,
        token: str = "admin-token",
        namespace: str | None = None,
        context: str = "fake",
    ) -> Path:
        """Write a kubeconfig for this server with a token user; return its path."""
        path.write_text(yaml.safe_dump(self.kubeconfig_dict(token, namespace, context)))
        return path

    def kubeconfig_dict(
        self, token: str = "admin-token", namespace: str | None = None, context: str = "fake"
    ) -> dict[str, Any]:
        """The kubeconfig as data (tests change it before writing)."""
        ctx: dict[str, Any] = {"cluster": f"{context}-cluster", "user": f"user-{token}"}
        if namespace:
            ctx["namespace"] = namespace
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": f"{context}-cluster",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": f"user-{token}", "user": {"token": token}}],
            "contexts": [{"name": context, "context": ctx}],
            "current-context": context,
        }


@contextmanager
def serve(api: FakeKubeAPI) -> Iterator[RunningAPI]:
    """Serve ``api`` over HTTPS on 127.0.0.1 (a free port) for the duration of the block."""
    from wsdoctor.lab.certs import LabCA

    ca = LabCA("fake kube-apiserver CA")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="wsdoctor-kubeapi-") as scratch:
        cert_file, key_file = ca.issue(["127.0.0.1", "localhost"]).write(Path(scratch), "api")
        context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cadata=ca.cert_pem.decode())
    context.verify_mode = ssl.CERT_OPTIONAL  # client certificates authenticate, like tokens
    server = APIServer(api, context)
    thread = threading.Thread(target=server.serve_forever, name="fake-kube-api", daemon=True)
    thread.start()
    try:
        yield RunningAPI(
            api=api,
            url=f"https://127.0.0.1:{server.server_address[1]}",
            ca_pem=ca.cert_pem,
            server=server,
            ca=ca,
        )
    finally:
        server.stopping.set()
        api.wake()
        server.shutdown()
        server.server_close()
