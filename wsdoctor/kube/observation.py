"""The cluster check's observation: the routes serving the target, their backends, the
timeouts, affinity and TLS on the path, and the relevant objects. Defined here, beside the
code that builds it, so the cluster rules never import the check registry."""

from __future__ import annotations

from typing import Literal

from wsdoctor.kube.configured import AffinityConfig, ConfiguredTimeout
from wsdoctor.kube.failures import AccessFailure, ReadFailure
from wsdoctor.kube.snapshot import ClusterSnapshot
from wsdoctor.modelbase import Field
from wsdoctor.models import Model, Observation


class BackendSummary(Model):
    """A backend Service port and the state of its endpoints."""

    service: str
    """``namespace/name``."""
    port: str | int | None = None
    target_port: str | int | None = None
    app_protocol: str | None = None
    exists: bool = True
    endpoints: dict[str, int] = Field(default_factory=dict)
    """``total``, ``ready``, ``serving``, ``terminating``."""
    pods: list[str] = Field(default_factory=list)


class RouteSummary(Model):
    """A route rule that matches the target's host and path."""

    kind: str
    namespace: str
    name: str
    controller: str
    class_name: str | None = None
    hosts: list[str] = Field(default_factory=list)
    path: str = "/"
    path_type: str = "Prefix"
    backends: list[BackendSummary] = Field(default_factory=list)


class TlsConfig(Model):
    """A TLS section of a route (Ingress ``spec.tls``, Gateway listener, Istio server)."""

    namespace: str
    hosts: list[str] = Field(default_factory=list)
    secret_name: str | None = None
    secret_exists: bool | None = None
    """None: not known (wsdoctor reads Secrets only with --read-tls-secret)."""
    secret_cert_sha256: str | None = None
    """SHA-256 of the first certificate in the Secret's ``tls.crt`` (--read-tls-secret)."""
    secret_cert_subject: str | None = None


class ClusterObservation(Observation):
    """What serves the host in the cluster, and the objects around it."""

    check: Literal["cluster"] = "cluster"
    context: str | None = None
    routes: list[RouteSummary] = Field(default_factory=list)
    """Matching route rules, most specific first; the first one serves the target."""
    controller: str | None = None
    lb_addresses: list[str] = Field(default_factory=list)
    """External addresses clients should reach: the route's own status first (Ingress
    ``status.loadBalancer``, Gateway ``status.addresses``), else the controller's
    LoadBalancer Services."""
    addresses_from: str | None = None
    """Where ``lb_addresses`` come from (``Ingress chat/chat status.loadBalancer``)."""
    timeouts: list[ConfiguredTimeout] = Field(default_factory=list)
    affinity: AffinityConfig | None = None
    tls: list[TlsConfig] = Field(default_factory=list)
    snapshot: ClusterSnapshot
    """The relevant objects only (routes, backends, workloads, controller)."""
    objects_read: int = 0
    duration_s: float = 0.0
    access_failure: AccessFailure | None = None
    """The cluster could not be read at all (then ``snapshot`` is empty)."""
    read_failures: list[ReadFailure] = Field(default_factory=list)
    """Kinds that could not be read (not RBAC: those are permission gaps)."""
