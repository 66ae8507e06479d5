"""What went wrong while reading a cluster, as data: the whole cluster unreadable
(:class:`AccessFailure`) or one kind (:class:`ReadFailure`). RBAC refusals are
:class:`~wsdoctor.kube.snapshot.PermissionGap`s instead."""

from __future__ import annotations

from typing import Literal

from wsdoctor.models import Model

Cause = Literal[
    "config",
    "unreachable",
    "tls",
    "proxy",
    "unauthorized",
    "forbidden",
    "throttled",
    "server-error",
    "timeout",
    "reset",
    "bad-response",
    "deadline",
    "http",
]


class AccessFailure(Model):
    """The cluster could not be read at all: the configuration, the connection, the
    credentials or discovery failed. ``message`` is one line with the precise cause."""

    cause: Cause
    message: str
    context: str | None = None
    server: str | None = None
    status: int | None = None
    """HTTP status, when the server answered."""


class ReadFailure(Model):
    """One request for a kind failed (not RBAC): the rest of the cluster is still judged."""

    verb: str
    resource: str
    """``ingresses.networking.k8s.io`` (plural.group; core resources have no group)."""
    kind: str
    namespace: str | None = None
    cause: Cause
    status: int | None = None
    message: str
    affects: str = ""

    def __str__(self) -> str:
        scope = f"in namespace {self.namespace}" if self.namespace else "cluster-wide"
        return f"{self.verb} {self.resource} {scope}: {self.message}"
