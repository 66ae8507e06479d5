"""A path to bisect, on loopback: two ``websockets`` replicas (the pods) ← nginx configured
like ingress-nginx with a long timeout (the controller pod) ← HAProxy passing TCP through
(the cloud load balancer), and a fake Kubernetes API that describes it and whose
port-forward reaches the replicas and nginx, as kube-apiserver reaches pods.

Each fault sits at one hop:

- ``front-idle``: HAProxy cuts idle connections (``timeout tunnel``, 4 s by default);
- ``controller-upgrade``: nginx does not forward Upgrade/Connection (what an ingress-nginx
  ``configuration-snippet`` resetting ``Connection`` does; the Ingress carries it);
- ``pod-idle``: the application closes connections idle for 2 s (close 1000);
- ``pod-auth``: the application answers 401 without ``X-Auth-Request-User``, which nginx adds
  (what ingress-nginx renders for ``auth-url`` with ``auth-response-headers``; the Ingress
  carries them): the public address upgrades, the pod reached directly does not.
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from wsdoctor.lab.backend import Backend, BackendOptions, LabLoop
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.kubeapi.resources import Rule
from wsdoctor.lab.proxies import HAProxy, HAProxySite, Nginx, NginxLocation, NginxSite

if TYPE_CHECKING:
    from wsdoctor.lab.kubeapi import FakeKubeAPI

CHAIN_HOST = "chat.lab.test"
Fault = Literal["none", "front-idle", "controller-upgrade", "pod-idle", "pod-auth"]
FAULTS: tuple[Fault, ...] = ("none", "front-idle", "controller-upgrade", "pod-idle", "pod-auth")
#: The header the ``pod-auth`` chain's nginx adds and its pods require.
AUTH_HEADER = ("X-Auth-Request-User", "lab-user")
AUTH_ANNOTATIONS = {
    "nginx.ingress.kubernetes.io/auth-url":
        "http://oauth2-proxy.auth.svc.cluster.local/oauth2/auth",
    "nginx.ingress.kubernetes.io/auth-response-headers": AUTH_HEADER[0],
}
BREAK_UPGRADE = 'proxy_set_header Connection "";'
FORWARD_RULE = Rule(verbs=("get", "create"), resources=("pods/portforward",))
"""What docs/deploy/rbac-portforward.yaml grants (a test keeps them equal)."""


@dataclass(frozen=True)
class Chain:
    """A running chain: the public URL, how to reach it, and the fake cluster behind it."""

    url: str
    port: int
    controller_port: int
    replicas: tuple[Backend, ...]
    ca_file: Path
    kubeconfig: Path
    """A user allowed to port-forward (the read-only role plus docs/deploy's optional one)."""
    kubeconfig_readonly: Path
    """A user with the read-only role only."""
    fault: Fault
    api: FakeKubeAPI
    """The fake cluster (its request log shows what bisect asked of it)."""

    def argv(self, *extra: str, readonly: bool = False) -> list[str]:
        """``wsdoctor bisect`` arguments for this chain (port-forward on)."""
        return [self.url, "--resolve", f"{CHAIN_HOST}:{self.port}:127.0.0.1", "--cacert",
                str(self.ca_file), "--kubeconfig",
                str(self.kubeconfig_readonly if readonly else self.kubeconfig),
                "--port-forward", *extra]


def cluster_objects(fault: Fault, pod_ports: dict[str, int] | None = None
                    ) -> list[dict[str, Any]]:
    """The objects the fake API serves for the chain (``chain-cluster.yaml``, with the
    faulty setting on the Ingress when the fault is the controller's). With ``pod_ports``
    (pod name → lab port) the pods' IPs are 127.0.0.1 and their ports the lab servers', so
    that ``--pod-network`` reaches them as a client inside the cluster reaches pod IPs."""
    docs = [d for d in yaml.safe_load_all(Path(__file__).with_name("chain-cluster.yaml")
                                          .read_text()) if d]
    docs = copy.deepcopy(docs)
    for doc in docs:
        if fault == "controller-upgrade" and doc["kind"] == "Ingress":
            doc["metadata"]["annotations"][
                "nginx.ingress.kubernetes.io/configuration-snippet"] = BREAK_UPGRADE
        if fault == "pod-auth" and doc["kind"] == "Ingress":
            doc["metadata"]["annotations"].update(AUTH_ANNOTATIONS)
        if pod_ports is not None and doc["kind"] == "Pod":
            doc["status"]["podIP"] = "127.0.0.1"
            port = pod_ports[doc["metadata"]["name"]]
            for entry in doc["spec"]["containers"][0]["ports"]:
                if entry["name"] in ("ws", "https"):
                    entry["containerPort"] = port
    if pod_ports is not None:  # one slice per pod: their ports differ on loopback
        template = next(d for d in docs if d["kind"] == "EndpointSlice")
        docs.remove(template)
        for index, endpoint in enumerate(template["endpoints"]):
            name = endpoint["targetRef"]["name"]
            slice_ = copy.deepcopy(template)
            slice_["metadata"]["name"] += f"-{index}"
            slice_["ports"][0]["port"] = pod_ports[name]
            slice_["endpoints"] = [{**endpoint, "addresses": ["127.0.0.1"]}]
            docs.append(slice_)
    return docs


@contextlib.contextmanager
def bisect_chain(fault: Fault = "none", *, front_idle: float = 4.0, app_idle: float = 2.0,
                 loop: LabLoop | None = None, pod_network: bool = False) -> Iterator[Chain]:
    """Start the chain with ``fault``; stop all of it when the block ends. ``pod_network``:
    the cluster gives the pods loopback IPs and their real ports (see
    :func:`cluster_objects`)."""
    from wsdoctor.lab.kubeapi import READ_ALL, FakeKubeAPI, serve

    ca = LabCA("wsdoctor chain CA")
    api = FakeKubeAPI(tokens={"bisect-token": (*READ_ALL, FORWARD_RULE),
                              "reader-token": READ_ALL})
    with contextlib.ExitStack() as stack:
        lab = loop or stack.enter_context(LabLoop())
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wsdoctor-chain-")))
        running = stack.enter_context(serve(api))
        close_after = app_idle if fault == "pod-idle" else None
        replicas = tuple(
            lab.run(Backend(BackendOptions(
                name=name, close_after=close_after,
                require_header=AUTH_HEADER if fault == "pod-auth" else None)).start())
            for name in ("chat-5f7d-aaaaa", "chat-5f7d-bbbbb"))
        for replica in replicas:
            stack.callback(lab.run, replica.stop())
            api.forward_pod("chat", replica.name, 8080, ("127.0.0.1", replica.port))
        nginx = Nginx(NginxSite(host=CHAIN_HOST, tls=ca.issue([CHAIN_HOST]), locations=[
            NginxLocation(path="/ws", upstreams=[r.port for r in replicas],
                          forward_upgrade=fault != "controller-upgrade",
                          read_timeout=3600, send_timeout=3600,
                          directives=[f"proxy_set_header {AUTH_HEADER[0]} {AUTH_HEADER[1]};"]
                          if fault == "pod-auth" else [])]))
        stack.callback(nginx.stop)
        api.forward_pod("ingress-nginx", "ingress-nginx-controller-6c8d-xk2lp", 443,
                        ("127.0.0.1", nginx.port))
        haproxy = HAProxy(HAProxySite(backends=[("controller", nginx.port)], mode="tcp",
                                      tunnel_timeout=front_idle if fault == "front-idle"
                                      else 3600))
        stack.callback(haproxy.stop)
        ports = {r.name: r.port for r in replicas} | {
            "ingress-nginx-controller-6c8d-xk2lp": nginx.port}
        api.add(*cluster_objects(fault, ports if pod_network else None))
        ca_file = scratch / "ca.pem"
        ca_file.write_bytes(ca.cert_pem)
        yield Chain(
            url=f"wss://{CHAIN_HOST}:{haproxy.port}/ws",
            port=haproxy.port,
            controller_port=nginx.port,
            replicas=replicas,
            ca_file=ca_file,
            kubeconfig=running.kubeconfig(scratch / "kubeconfig", token="bisect-token",
                                          context="chain"),
            kubeconfig_readonly=running.kubeconfig(scratch / "kubeconfig-readonly",
                                                   token="reader-token", context="chain"),
            fault=fault,
            api=api,
        )
