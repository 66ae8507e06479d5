"""An in-process Kubernetes API server (tests, demo), faithful to what the real client relies on.

It serves discovery (``/api``, ``/api/v1``, ``/apis``, ``/apis/<group>``,
``/apis/<group>/<version>``), GET of one object and LIST (cluster-wide or per namespace) with
``labelSelector`` (equality and set-based) and ``fieldSelector`` (``metadata.name``,
``metadata.namespace``), ``kind: XList`` bodies with ``metadata.resourceVersion`` (items of
built-in kinds without ``kind``/``apiVersion``, as kube-apiserver sends them), real ``Status``
bodies for 401/403/404/405, bearer-token authentication with per-token RBAC rules, and HTTPS
with a generated CA. Objects come from YAML fixtures. Every request is recorded.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives in the API and whether it is namespaced."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def _r(gv: str, kind: str, plural: str, namespaced: bool = True) -> ResourceType:
    group, _, version = gv.rpartition("/")
    return ResourceType(group, version, kind, plural, namespaced)


BUILTIN = (
    _r("v1", "Namespace", "namespaces", False),
    _r("v1", "Pod", "pods"),
    _r("v1", "Service", "services"),
    _r("v1", "ConfigMap", "configmaps"),
    _r("v1", "Secret", "secrets"),
    _r("v1", "Endpoints", "endpoints"),
    _r("apps/v1", "Deployment", "deployments"),
    _r("apps/v1", "StatefulSet", "statefulsets"),
    _r("apps/v1", "DaemonSet", "daemonsets"),
    _r("apps/v1", "ReplicaSet", "replicasets"),
    _r("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
    _r("networking.k8s.io/v1", "Ingress", "ingresses"),
    _r("networking.k8s.io/v1", "IngressClass", "ingressclasses", False),
    _r("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    _r("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
    _r("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
)
CRDS = {
    "gateway": (
        _r("gateway.networking.k8s.io/v1", "Gateway", "gateways"),
        _r("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes"),
        _r("gateway.networking.k8s.io/v1", "GatewayClass", "gatewayclasses", False),
    ),
    "traefik": (
        _r("traefik.io/v1alpha1", "IngressRoute", "ingressroutes"),
        _r("traefik.io/v1alpha1", "Middleware", "middlewares"),
        _r("traefik.io/v1alpha1", "TraefikService", "traefikservices"),
        _r("traefik.io/v1alpha1", "ServersTransport", "serverstransports"),
    ),
    "traefik-legacy": (
        _r("traefik.containo.us/v1alpha1", "IngressRoute", "ingressroutes"),
        _r("traefik.containo.us/v1alpha1", "Middleware", "middlewares"),
    ),
    "istio": (
        _r("networking.istio.io/v1", "Gateway", "gateways"),
        _r("networking.istio.io/v1", "VirtualService", "virtualservices"),
        _r("networking.istio.io/v1", "DestinationRule", "destinationrules"),
    ),
    "linkerd": (
        _r("policy.linkerd.io/v1beta3", "Server", "servers"),
        _r("policy.linkerd.io/v1alpha1", "AuthorizationPolicy", "authorizationpolicies"),
        _r("policy.linkerd.io/v1beta1", "ServerAuthorization", "serverauthorizations"),
    ),
    "gke": (_r("cloud.google.com/v1", "BackendConfig", "backendconfigs"),),
}


@dataclass(frozen=True)
class Rule:
    """An RBAC rule: verbs on resources (``plural`` or ``plural.group``; ``*`` for all)."""

    verbs: tuple[str, ...] = ("get", "list")
    resources: tuple[str, ...] = ("*",)
    namespaces: tuple[str, ...] | None = None
    """None: cluster-wide; else only inside these namespaces."""

    def allows(self, verb: str, rt: ResourceType, namespace: str | None) -> bool:
        names = {rt.plural, f"{rt.plural}.{rt.group}" if rt.group else rt.plural, "*"}
        if verb not in self.verbs and "*" not in self.verbs:
            return False
        if not names & set(self.resources):
            return False
        return self.namespaces is None or (namespace is not None and namespace in self.namespaces)


READ_ALL = (Rule(),)


@dataclass
class FakeKubeAPI:
    """State of the fake API server: resource types, objects, tokens and the request log."""

    crds: Iterable[str] = ("gateway", "traefik", "traefik-legacy", "istio", "linkerd")
    tokens: dict[str, tuple[Rule, ...]] = field(default_factory=lambda: {"admin-token": READ_ALL})
    objects: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    resource_version: int = 1000

    def __post_init__(self) -> None:
        self.types = list(BUILTIN) + [rt for name in self.crds for rt in CRDS[name]]
        self.lock = threading.Lock()

    def type_of(self, api_version: str, kind: str) -> ResourceType | None:
        return next(
            (t for t in self.types if t.group_version == api_version and t.kind == kind), None
        )

    def add(self, *objs: dict[str, Any]) -> None:
        """Store objects (namespace defaults to ``default``), with server-set metadata."""
        for obj in objs:
            rt = self.type_of(str(obj.get("apiVersion")), str(obj.get("kind")))
            if rt is None:
                continue  # a kind this server does not serve (its CRD is not installed)
            obj = json.loads(json.dumps(obj))
            meta = obj.setdefault("metadata", {})
            if rt.namespaced:
                meta.setdefault("namespace", "default")
            self.resource_version += 1
            meta.setdefault("uid", str(uuid.uuid4()))
            meta["resourceVersion"] = str(self.resource_version)
            meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
            self.objects.append(obj)

    def load(self, *paths: Path) -> None:
        """Objects from YAML files (multi-document, ``List`` kinds)."""
        for path in paths:
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List"):
                    self.add(*doc.get("items") or [])
                elif isinstance(doc, dict):
                    self.add(doc)


def status(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A ``Status`` object as kube-apiserver returns it."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def _label_requirements(selector: str) -> Iterator[tuple[str, str, list[str]]]:
    """(key, op, values) from a label selector string, set-based syntax included."""
    parts, depth, current = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    for part in (p.strip() for p in parts):
        if not part:
            continue
        for op in (" notin ", " in "):
            if op in part:
                key, values = part.split(op, 1)
                yield key.strip(), op.strip(), [v.strip() for v in values.strip("() ").split(",")]
                break
        else:
            for op in ("!=", "==", "="):
                if op in part:
                    key, value = part.split(op, 1)
                    yield key.strip(), "!=" if op == "!=" else "=", [value.strip()]
                    break
            else:
                if part.startswith("!"):
                    yield part[1:].strip(), "!", []
                else:
                    yield part, "exists", []


def label_match(selector: str, labels: dict[str, str]) -> bool:
    """Whether labels satisfy every requirement of the selector."""
    for key, op, values in _label_requirements(selector):
        value = labels.get(key)
        if (
            (op == "=" and value != values[0])
            or (op == "!=" and value == values[0])
            or (op == "in" and value not in values)
            or (op == "notin" and value in values)
            or (op == "exists" and key not in labels)
            or (op == "!" and key in labels)
        ):
            return False
    return True


def field_match(selector: str, obj: dict[str, Any]) -> bool:
    """``metadata.name=x,metadata.namespace!=y`` (the fields every resource supports)."""
    meta = obj.get("metadata") or {}
    for part in filter(None, (p.strip() for p in selector.split(","))):
        negate = "!=" in part
        key, value = part.split("!=" if negate else ("==" if "==" in part else "="), 1)
        actual = meta.get(key.strip().removeprefix("metadata."))
        if (actual == value.strip()) == negate:
            return False
    return True


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _refuse_write(self) -> None:
        api = self.server.api
        with api.lock:
            api.requests.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._send(405, status(405, "MethodNotAllowed", "the fake API server is read-only"))

    do_POST = do_PUT = do_PATCH = do_DELETE = _refuse_write

    def do_GET(self) -> None:
        api = self.server.api
        with api.lock:
            api.requests.append(("GET", self.path))
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        if token not in api.tokens:
            self._send(401, status(401, "Unauthorized", "Unauthorized"))
            return
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [unquote(p) for p in url.path.strip("/").split("/") if p]
        try:
            self._route(parts, query, api.tokens[token or ""], token or "")
        except _NotFound:
            self._send(
                404, status(404, "NotFound", "the server could not find the requested resource", {})
            )

    def _route(
        self, parts: list[str], query: dict[str, str], rules: tuple[Rule, ...], token: str
    ) -> None:
        api = self.server.api
        if parts == ["api"]:
            self._send(
                200,
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}
                    ],
                },
            )
            return
        if parts == ["apis"]:
            self._send(200, self._group_list())
            return
        if parts[:1] == ["apis"] and len(parts) == 2:
            group = next((g for g in self._group_list()["groups"] if g["name"] == parts[1]), None)
            if group is None:
                raise _NotFound
            self._send(200, {"kind": "APIGroup", "apiVersion": "v1", **group})
            return
        if parts[:1] == ["api"]:
            group, version, rest = "", parts[1] if len(parts) > 1 else "", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise _NotFound
        types = [t for t in api.types if t.group == group and t.version == version]
        if not types:
            raise _NotFound
        if not rest:
            self._send(200, self._resource_list(group, version, types))
            return
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        rt = next((t for t in types if t.plural == rest[0]), None)
        if rt is None or (namespace is not None and not rt.namespaced) or len(rest) > 2:
            raise _NotFound
        name = rest[1] if len(rest) == 2 else None
        verb = "get" if name else "list"
        if not any(rule.allows(verb, rt, namespace) for rule in rules):
            self._forbid(verb, rt, namespace, token)
            return
        with api.lock:
            objs = [o for o in api.objects if api.type_of(o["apiVersion"], o["kind"]) == rt]
            rv = str(api.resource_version)
        if namespace is not None:
            objs = [o for o in objs if o["metadata"].get("namespace") == namespace]
        if name is not None:
            found = next((o for o in objs if o["metadata"]["name"] == name), None)
            if found is None:
                self._send(
                    404,
                    status(
                        404,
                        "NotFound",
                        f'{rt.plural}{"." + rt.group if rt.group else ""} "{name}" not found',
                        {"name": name, "group": rt.group, "kind": rt.plural},
                    ),
                )
                return
            self._send(200, found)
            return
        if "labelSelector" in query:
            objs = [
                o
                for o in objs
                if label_match(query["labelSelector"], o["metadata"].get("labels") or {})
            ]
        if "fieldSelector" in query:
            objs = [o for o in objs if field_match(query["fieldSelector"], o)]
        builtin = rt in BUILTIN
        items = [
            {k: v for k, v in o.items() if k not in ("kind", "apiVersion")} if builtin else o
            for o in objs
        ]
        self._send(
            200,
            {
                "kind": f"{rt.kind}List",
                "apiVersion": rt.group_version,
                "metadata": {"resourceVersion": rv},
                "items": items,
            },
        )

    def _forbid(self, verb: str, rt: ResourceType, namespace: str | None, token: str) -> None:
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        user = f"system:serviceaccount:test:{token}"
        resource = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
        message = (
            f'{resource} is forbidden: User "{user}" cannot {verb} resource "{rt.plural}" '
            f'in API group "{rt.group}" {scope}'
        )
        self._send(403, status(403, "Forbidden", message, {"group": rt.group, "kind": rt.plural}))

    def _group_list(self) -> dict[str, Any]:
        groups: dict[str, list[str]] = {}
        for t in self.server.api.types:
            if t.group and t.version not in groups.setdefault(t.group, []):
                groups[t.group].append(t.version)
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": g,
                    "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                    "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]},
                }
                for g, vs in groups.items()
            ],
        }

    def _resource_list(self, group: str, version: str, types: list[ResourceType]) -> dict[str, Any]:
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": [
                {
                    "name": t.plural,
                    "singularName": t.kind.lower(),
                    "namespaced": t.namespaced,
                    "kind": t.kind,
                    "verbs": ["get", "list", "watch"],
                }
                for t in types
            ],
        }


class _NotFound(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: FakeKubeAPI


@dataclass
class RunningAPI:
    """A started fake API server and how to reach it."""

    api: FakeKubeAPI
    url: str
    ca_pem: bytes

    def kubeconfig(
        self,
        path: Path,
        token: str = "admin-token",
        namespace: str | None = None,
        context: str = "fake",
    ) -> Path:
        """Write a kubeconfig for this server with a token user; return its path."""
        ctx: dict[str, Any] = {"cluster": "fake-cluster", "user": f"user-{token}"}
        if namespace:
            ctx["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "fake-cluster",
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
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path


@contextmanager
def serve(api: FakeKubeAPI) -> Iterator[RunningAPI]:
    """Serve ``api`` over HTTPS on 127.0.0.1 (a free port) for the duration of the block."""
    import tempfile

    from wsdoctor.lab.certs import LabCA

    ca = LabCA("fake kube-apiserver CA")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="wsdoctor-kubeapi-") as scratch:
        cert_file, key_file = ca.issue(["127.0.0.1", "localhost"]).write(Path(scratch), "api")
        context.load_cert_chain(cert_file, key_file)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.api = api
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="fake-kube-api", daemon=True)
    thread.start()
    try:
        yield RunningAPI(
            api=api, url=f"https://127.0.0.1:{server.server_address[1]}", ca_pem=ca.cert_pem
        )
    finally:
        server.shutdown()
        server.server_close()
