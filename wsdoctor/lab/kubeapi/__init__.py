"""An in-process Kubernetes API server (tests, demo, bench), faithful to what real clients
(the ``kubernetes`` client, client-go informers, kubectl) rely on.

- Authentication by bearer token (scheme case-insensitive), then RBAC per token *before*
  routing, with kube-apiserver's ``Status`` bodies (401, 403 naming verb, resource and
  scope, 404, 405 for writes: the server is read-only over HTTP).
- Discovery (``/api``, ``/apis``, groups, resource lists), ``/version``, ``/healthz``.
- GET and LIST (cluster-wide or per namespace), ``kind: XList`` bodies whose built-in items
  carry no ``kind``/``apiVersion``; ``labelSelector`` (equality, set-based, ``!key``) and
  ``fieldSelector`` (``metadata.*`` for all, ``status.phase``/``spec.nodeName``... for pods)
  with 400 for malformed ones; ``limit``/``continue`` serving a consistent snapshot at the
  list's ``resourceVersion`` (410 once compacted); ``resourceVersion``/``Match`` semantics.
- ``watch=true``: chunked streams of ADDED/MODIFIED/DELETED/BOOKMARK/ERROR events with
  ``resourceVersion``, ``timeoutSeconds``, ``allowWatchBookmarks``, ``sendInitialEvents``.
- Thread-safe ``create``/``update``/``delete`` for tests while watches are open, and fault
  injection per path (:class:`Fault`: 429 + Retry-After, 5xx, any status, delay, reset).
- HTTPS with a generated CA on 127.0.0.1; every request is recorded in ``api.requests``.
"""

from wsdoctor.lab.kubeapi.resources import (
    ADMIN,
    BUILTIN,
    CRDS,
    READ_ALL,
    ResourceType,
    Rule,
    status,
)
from wsdoctor.lab.kubeapi.server import APIServer, RunningAPI, serve
from wsdoctor.lab.kubeapi.store import Event, FakeKubeAPI, Fault, Injection

__all__ = [
    "ADMIN",
    "BUILTIN",
    "CRDS",
    "READ_ALL",
    "APIServer",
    "Event",
    "FakeKubeAPI",
    "Fault",
    "Injection",
    "ResourceType",
    "Rule",
    "RunningAPI",
    "serve",
    "status",
]
