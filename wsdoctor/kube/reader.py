"""What to read of a cluster for one host and path, and in which order, so the requests stay
few and scoped and memory stays bounded on large clusters:

1. discovery (``/apis``): which API groups are served;
2. the route kinds, classes and Gateways (cluster-wide, or ``-n``), the ingress
   controllers' Pods (by their standard labels) and, cluster-wide, the workloads running a
   controller image (pages filtered as they arrive);
3. once the routes serving the host are known: the objects of their namespaces (Services,
   workloads, policies, Traefik/Istio/Linkerd objects), the backends' EndpointSlices and Pods
   by label selector, the controllers' Services, and the controllers' ConfigMaps by name.

Every list is paged. A kind that fails (throttled past its retries, 5xx, slow, odd answer)
fails alone: it becomes a :class:`ReadFailure` and the rest is still read; a 403 becomes a
:class:`PermissionGap` (with a fallback to the context's namespace); a CRD group that is not
installed is absent, not an error. Discovery failing means nothing can be read: the
:class:`ApiError` propagates. Secrets are never listed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from dataclasses import field
from typing import Any

from wsdoctor.kube import backends, discover
from wsdoctor.kube.client import ApiError, get, list_items
from wsdoctor.kube.config import ClusterAccess
from wsdoctor.kube.failures import ReadFailure
from wsdoctor.kube.kinds import CONTROLLER_SELECTOR, KINDS, Kind
from wsdoctor.kube.readplan import (
    PER_NAMESPACE,
    ROUTING,
    WORKLOADS,
    is_controller,
    kind_of,
    may_serve,
    route_namespaces,
)
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, PermissionGap
from wsdoctor.records import dataclass


@dataclass
class Listing:
    """The outcome of reading one kind in one scope."""

    kind: Kind
    objects: list[KubeObject] = field(default_factory=list)
    gap: PermissionGap | None = None
    failure: ReadFailure | None = None
    fell_back: bool = False
    """Forbidden cluster-wide, read in the context's namespace instead."""

    @property
    def read(self) -> bool:
        """Whether the kind was read (in full, or in the context's namespace after a 403)."""
        return self.failure is None and (self.gap is None or self.fell_back)


@dataclass
class ClusterRead:
    """A snapshot and the requests that failed while reading it."""

    snapshot: ClusterSnapshot
    failures: list[ReadFailure]
    items_seen: int = 0


class ClusterReader:
    """Reads what one host and path need, concurrently, in threads."""

    def __init__(self, access: ClusterAccess, progress: Callable[[str], None] | None = None):
        self.access = access
        self.progress = progress or (lambda message: None)
        self.served: dict[str, list[str]] = {}
        self.items_seen = 0
        """Objects the API sent (those kept and those dropped as irrelevant)."""
        self._count = threading.Lock()

    async def call(self, path: str, query: list[tuple[str, str]] | None = None) -> Any:
        return await asyncio.to_thread(get, self.access, path, query)

    async def served_versions(self) -> dict[str, list[str]]:
        """API group → versions served (core is ``""``); one request to ``/apis``."""
        groups = await self.call("/apis")
        served = {"": ["v1"]}
        for group in (groups.get("groups") if isinstance(groups, dict) else None) or []:
            if isinstance(group, dict) and group.get("name"):
                served[str(group["name"])] = [
                    str(v.get("version")) for v in group.get("versions") or []
                ]
        return served

    def version(self, kind: Kind) -> str | None:
        versions = self.served.get(kind.group)
        return next((v for v in kind.versions if v in versions), None) if versions else None

    async def _list(
        self,
        kind: Kind,
        namespace: str | None,
        selector: str | None = None,
        keep: Callable[[KubeObject], bool] | None = None,
    ) -> list[KubeObject]:
        version = self.version(kind) or kind.versions[0]
        prefix = f"/apis/{kind.group}/{version}" if kind.group else f"/api/{version}"
        scope = f"/namespaces/{namespace}" if namespace and kind.namespaced else ""
        api_version = f"{kind.group}/{version}" if kind.group else version

        def convert(item: dict[str, Any]) -> KubeObject | None:
            with self._count:
                self.items_seen += 1
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind.kind)
            obj = KubeObject.from_dict(item)
            return obj if keep is None or keep(obj) else None

        query = [("labelSelector", selector)] if selector else None
        return await asyncio.to_thread(
            list_items, self.access, f"{prefix}{scope}/{kind.plural}", query, convert
        )

    async def listkind_of(
        self,
        kind: Kind,
        namespace: str | None,
        selector: str | None = None,
        keep: Callable[[KubeObject], bool] | None = None,
        fallback: bool = True,
    ) -> Listing:
        """LIST one kind in one scope. A cluster-wide 403 falls back to the context's
        namespace (the gap recorded); any other failure is this kind's alone."""
        if self.version(kind) is None:
            return Listing(kind)
        try:
            return Listing(kind, await self._list(kind, namespace, selector, keep))
        except ApiError as exc:
            if exc.status == 404:
                return Listing(kind)
            if exc.status != 403:
                return Listing(kind, failure=self._failure(kind, namespace, exc))
        gap = PermissionGap(
            verb="list", resource=kind.resource, namespace=namespace, affects=kind.affects
        )
        home = self.access.default_namespace
        if not (fallback and kind.namespaced and namespace is None):
            return Listing(kind, gap=gap)
        try:
            objs = await self._list(kind, home, selector, keep)
        except ApiError as exc:
            if exc.status in (403, 404):
                return Listing(kind, gap=gap)
            return Listing(kind, gap=gap, failure=self._failure(kind, home, exc))
        partial = gap.model_copy(
            update={"affects": f"{kind.affects}; only namespace {home} was read"}
        )
        return Listing(kind, objs, gap=partial, fell_back=True)

    def _failure(
        self, kind: Kind, namespace: str | None, exc: ApiError, verb: str = "list"
    ) -> ReadFailure:
        return ReadFailure(
            verb=verb,
            resource=kind.resource,
            kind=kind.kind,
            namespace=namespace,
            cause=exc.cause,
            status=exc.status or None,
            message=exc.message,
            affects=kind.affects,
        )

    async def get_configmap(self, namespace: str, name: str) -> KubeObject | Listing | None:
        """One named ConfigMap (the controller's); ConfigMaps are never listed."""
        kind = Kind("", ("v1",), "configmaps", "ConfigMap", True, "controller settings")
        try:
            raw = await self.call(f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            if exc.status == 403:
                gap = PermissionGap(
                    verb="get", resource="configmaps", namespace=namespace, affects=kind.affects
                )
                return Listing(kind, gap=gap)
            return Listing(kind, failure=self._failure(kind, namespace, exc, "get"))
        if not isinstance(raw, dict):
            return None
        raw.setdefault("apiVersion", "v1")
        raw.setdefault("kind", "ConfigMap")
        return KubeObject.from_dict(raw)

    async def read_tls_certificate(
        self, namespace: str, name: str
    ) -> tuple[str, str] | PermissionGap | None:
        """(sha256, subject) of the first certificate in a TLS Secret's ``tls.crt``; None when
        the Secret does not exist. Nothing else of the Secret is kept (never ``tls.key``)."""
        try:
            raw = await self.call(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        except ApiError as exc:
            if exc.status == 403:
                return PermissionGap(
                    verb="get", resource="secrets", namespace=namespace, affects="TLS Secret check"
                )
            if exc.status == 404:
                return None
            raise
        crt = str(((raw.get("data") if isinstance(raw, dict) else None) or {}).get("tls.crt") or "")
        del raw
        return certificate_fingerprint(crt)

    async def read(self, host: str | None = None, path: str = "/") -> ClusterRead:
        """The snapshot for ``host`` and ``path`` (every route kind when ``host`` is None)."""
        from wsdoctor.kube.shapes import split_malformed

        self.progress("discovering API groups")
        self.served = await self.served_versions()
        absent = sorted({k.group for k in KINDS if k.group not in self.served})
        ns = self.access.namespace
        self.progress("listing routes and controllers")
        keep = may_serve(host) if host is not None else None
        stage_b = [self.listkind_of(kind_of(r), ns, keep=keep) for r in ROUTING]
        if ns is None:
            stage_b += [self.listkind_of(kind_of(r), None, keep=is_controller) for r in WORKLOADS]
        pods, services = kind_of("pods"), kind_of("services")
        stage_b += [
            self.listkind_of(pods, None, CONTROLLER_SELECTOR, fallback=False),
            self.listkind_of(services, None, CONTROLLER_SELECTOR, fallback=False),
        ]
        first = await asyncio.gather(*stage_b)
        controllers = first[-2:]
        listings = list(first[:-2])
        objects = _unique(o for listing in first for o in listing.objects)
        partial = ClusterSnapshot(source="cluster", objects=objects)
        clean, _, _ = split_malformed(partial)
        routes = discover.routes_for(clean, host, path) if host is not None else []
        namespaces = route_namespaces(clean, routes)
        if ns is not None:
            namespaces = {n for n in namespaces if n == ns}
        controller_ns = {
            o.namespace
            for o in objects
            if o.namespace
            and (
                o.kind in ("Deployment", "DaemonSet", "StatefulSet") or o in controllers[0].objects
            )
        }
        if namespaces:
            self.progress(f"reading {len(namespaces)} namespaces")
            more = await self._read_namespaces(clean, routes, namespaces, controller_ns)
            listings += more
            objects = _unique([*objects, *(o for listing in more for o in listing.objects)])
        partial = ClusterSnapshot(source="cluster", objects=objects)
        wanted = sorted(
            {
                ref
                for controller in backends.CONTROLLERS_BY_IMAGE
                for ref in backends.controller_configmaps(partial, controller)
            }
        )
        if wanted:
            self.progress("reading controller ConfigMaps")
            for result in await asyncio.gather(*(self.get_configmap(n, c) for n, c in wanted)):
                if isinstance(result, Listing):
                    listings.append(result)
                elif result is not None:
                    objects.append(result)
        gaps = [x.gap for x in [*listings, *controllers] if x.gap is not None]
        failures: list[ReadFailure] = []
        for x in [*listings, *controllers]:
            if x.failure is not None and not any(
                (f.resource, f.cause, f.status)
                == (x.failure.resource, x.failure.cause, x.failure.status)
                for f in failures
            ):
                failures.append(x.failure)
        failed = {x.kind.kind for x in listings if not x.read}
        listed = sorted({x.kind.kind for x in listings if self.version(x.kind)} - failed)
        snapshot = ClusterSnapshot(
            source="cluster",
            context=self.access.context,
            namespaces=[ns] if ns else [],
            objects=objects,
            listed_kinds=listed,
            absent_groups=absent,
            permission_gaps=_unique_gaps(gaps),
        )
        return ClusterRead(snapshot, failures, self.items_seen + len(wanted))

    async def _read_namespaces(
        self,
        snap: ClusterSnapshot,
        routes: list[discover.RouteRule],
        namespaces: set[str],
        controller_ns: set[str],
    ) -> list[Listing]:
        """Stage 3: the route namespaces whole, then the backends' slices and pods."""
        jobs = [
            self.listkind_of(kind_of(r), n, fallback=False)
            for n in sorted(namespaces)
            for r in PER_NAMESPACE
        ]
        if self.access.namespace is None:
            jobs += [
                self.listkind_of(kind_of("services"), n, fallback=False)
                for n in sorted(controller_ns - namespaces)
            ]
        listings = await asyncio.gather(*jobs)
        services = {
            (o.namespace, o.name): o
            for listing in listings
            for o in listing.objects
            if o.kind == "Service"
        }
        wanted = sorted(
            {
                (b.namespace, b.service)
                for r in routes
                for b in r.backends
                if b.namespace in namespaces
            }
        )
        slices, pods = kind_of("endpointslices.discovery.k8s.io"), kind_of("pods")
        second: list[Any] = []
        for namespace, name in wanted:
            second.append(
                self.listkind_of(
                    slices, namespace, f"kubernetes.io/service-name={name}", fallback=False
                )
            )
            selector = (services.get((namespace, name)) or _EMPTY).spec.get("selector") or {}
            if isinstance(selector, dict) and selector:
                label = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
                second.append(self.listkind_of(pods, namespace, label, fallback=False))
        return [*listings, *await asyncio.gather(*second)]


_EMPTY = KubeObject(api_version="v1", kind="Service", name="")


def _unique(objs: Iterable[KubeObject]) -> list[KubeObject]:
    seen: set[tuple[str, str, str | None, str]] = set()
    out = []
    for o in objs:
        key = (o.api_version, o.kind, o.namespace, o.name)
        if key not in seen:
            seen.add(key)
            out.append(o)
    return out


def _unique_gaps(gaps: list[PermissionGap]) -> list[PermissionGap]:
    out: list[PermissionGap] = []
    for gap in gaps:
        if gap not in out:
            out.append(gap)
    return out


def certificate_fingerprint(tls_crt_base64: str) -> tuple[str, str]:
    """(sha256 of the DER, subject) of the first PEM certificate; ("", "") if unreadable."""
    import base64
    import binascii

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        cert = x509.load_pem_x509_certificate(base64.b64decode(tls_crt_base64))
    except (ValueError, binascii.Error):
        return "", ""
    return cert.fingerprint(hashes.SHA256()).hex(), cert.subject.rfc4514_string()


async def read_cluster(
    access: ClusterAccess,
    host: str | None = None,
    path: str = "/",
    progress: Callable[[str], None] | None = None,
) -> ClusterRead:
    """What ``access`` may see of the cluster behind ``host`` and ``path``."""
    return await ClusterReader(access, progress).read(host, path)
