"""Reading the cluster, read-only: the sync ``kubernetes`` client runs in threads and the
requests that do not depend on each other run concurrently. A CRD group that is not
installed is absent, not an error; a 403 becomes a :class:`PermissionGap` naming the verb
and resource; Secrets are never listed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wsdoctor.kube.config import ClusterAccess
from wsdoctor.kube.kinds import CONTROLLER_SELECTOR, KINDS, Kind
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, PermissionGap


class ApiError(Exception):
    """A failed request: HTTP status and the Status message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def _get(access: ClusterAccess, path: str, query: list[tuple[str, str]] | None = None) -> Any:
    """One GET, parsed; ApiError on an HTTP error (the body's Status message kept).

    Works with both generations of the client: ``param_serialize`` + ``call_api`` (v34+) and
    the older ``call_api(path, method, ...)``."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    api = access.api_client
    headers = {"Accept": "application/json"}
    try:
        if hasattr(api, "param_serialize"):
            method, url, headers, _, _ = api.param_serialize(
                "GET",
                path,
                query_params=query or [],
                header_params=headers,
                auth_settings=["BearerToken"],
            )
            response = api.call_api(
                method, url, header_params=headers, _request_timeout=access.timeout
            )
            response.read()
            status, data = int(response.status), response.data
        else:
            response = api.call_api(
                path,
                "GET",
                query_params=query or [],
                header_params=headers,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
                _request_timeout=access.timeout,
            )
            status, data = int(response.status), response.data
    except ApiException as exc:
        status, data = int(exc.status or 0), (exc.body or exc.reason or "")
    except urllib3.exceptions.HTTPError as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ApiError(0, f"cannot reach {api.configuration.host}: {reason}") from None
    if not 200 <= status <= 299:
        message = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
        try:
            message = json.loads(message).get("message") or message
        except (TypeError, ValueError, AttributeError):
            pass
        raise ApiError(status, message)
    return json.loads(data)


@dataclass
class _Listing:
    kind: Kind
    version: str
    namespace: str | None
    objects: list[KubeObject]
    gap: PermissionGap | None = None
    read: bool = True
    """Whether the kind was read (in full, or in the context's namespace after a 403)."""


class ClusterReader:
    """Reads a snapshot of every kind wsdoctor understands, concurrently, in threads."""

    def __init__(self, access: ClusterAccess, progress: Callable[[str], None] | None = None):
        self.access = access
        self.progress = progress or (lambda message: None)

    async def call(self, path: str, query: list[tuple[str, str]] | None = None) -> Any:
        return await asyncio.to_thread(_get, self.access, path, query)

    async def served_versions(self) -> dict[str, list[str]]:
        """API group → versions served (core is ``""``); one request to ``/apis``."""
        groups = await self.call("/apis")
        served = {"": ["v1"]}
        for group in groups.get("groups") or []:
            served[group["name"]] = [v["version"] for v in group.get("versions") or []]
        return served

    async def list_kind(self, kind: Kind, version: str) -> _Listing:
        """LIST one kind: every namespace, or ``-n``; on a cluster-wide 403, the context's
        namespace, with the gap recorded."""
        namespace = self.access.namespace if kind.namespaced else None
        try:
            return _Listing(kind, version, namespace, await self._list(kind, version, namespace))
        except ApiError as exc:
            if exc.status == 404:
                return _Listing(kind, version, namespace, [])
            if exc.status != 403:
                raise
        gap = PermissionGap(
            verb="list", resource=kind.resource, namespace=namespace, affects=kind.affects
        )
        fallback = self.access.default_namespace
        if kind.namespaced and namespace is None:
            try:
                objs = await self._list(kind, version, fallback)
                partial = gap.model_copy(
                    update={"affects": f"{kind.affects}; only namespace {fallback} was read"}
                )
                return _Listing(kind, version, fallback, objs, partial, read=True)
            except ApiError as exc:
                if exc.status not in (403, 404):
                    raise
        return _Listing(kind, version, namespace, [], gap, read=False)

    async def _list(
        self, kind: Kind, version: str, namespace: str | None, label_selector: str | None = None
    ) -> list[KubeObject]:
        prefix = f"/apis/{kind.group}/{version}" if kind.group else f"/api/{version}"
        scope = f"/namespaces/{namespace}" if namespace else ""
        query = [("labelSelector", label_selector)] if label_selector else None
        body = await self.call(f"{prefix}{scope}/{kind.plural}", query)
        api_version = f"{kind.group}/{version}" if kind.group else version
        objs = []
        for item in body.get("items") or []:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind.kind)
            objs.append(KubeObject.from_dict(item))
        return objs

    async def controllers_elsewhere(self) -> _Listing:
        """With ``-n``, the ingress controllers' Pods and Services in their own namespaces
        (found by their standard labels): their flags, ConfigMap and load balancer matter."""
        pods = next(k for k in KINDS if k.plural == "pods")
        if self.access.namespace is None:
            return _Listing(pods, "v1", None, [])
        services = next(k for k in KINDS if k.plural == "services")
        try:
            found = await asyncio.gather(
                self._list(pods, "v1", None, CONTROLLER_SELECTOR),
                self._list(services, "v1", None, CONTROLLER_SELECTOR),
            )
        except ApiError as exc:
            if exc.status != 403:
                raise
            gap = PermissionGap(
                verb="list", resource="pods", namespace=None, affects="controller settings"
            )
            return _Listing(pods, "v1", None, [], gap)
        return _Listing(pods, "v1", None, [*found[0], *found[1]])

    async def get_configmap(self, namespace: str, name: str) -> KubeObject | PermissionGap | None:
        """One named ConfigMap (the controller's); ConfigMaps are never listed."""
        try:
            raw = await self.call(f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        except ApiError as exc:
            if exc.status == 403:
                return PermissionGap(
                    verb="get",
                    resource="configmaps",
                    namespace=namespace,
                    affects="controller settings",
                )
            if exc.status == 404:
                return None
            raise
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
        crt = str((raw.get("data") or {}).get("tls.crt") or "")
        del raw
        return certificate_fingerprint(crt)

    async def read(self) -> ClusterSnapshot:
        """Every kind, concurrently; then the controllers' ConfigMaps."""
        self.progress("discovering API groups")
        served = await self.served_versions()
        jobs = []
        absent: list[str] = []
        for kind in KINDS:
            versions = served.get(kind.group)
            if versions is None:
                if kind.group not in absent:
                    absent.append(kind.group)
                continue
            version = next((v for v in kind.versions if v in versions), None)
            if version is not None:
                jobs.append(self.list_kind(kind, version))
        self.progress(f"listing {len(jobs)} kinds")
        listings = await asyncio.gather(*jobs, self.controllers_elsewhere())
        controllers = listings.pop()
        objects = [o for listing in listings for o in listing.objects]
        seen = {(o.kind, o.namespace, o.name) for o in objects}
        objects += [o for o in controllers.objects if (o.kind, o.namespace, o.name) not in seen]
        gaps = [listing.gap for listing in [*listings, controllers] if listing.gap is not None]
        listed = sorted({listing.kind.kind for listing in listings if listing.read})
        partial = ClusterSnapshot(source="cluster", objects=objects, listed_kinds=listed)
        from wsdoctor.kube import backends

        wanted = {
            ref
            for controller in backends.CONTROLLERS_BY_IMAGE
            for ref in backends.controller_configmaps(partial, controller)
        }
        if wanted:
            self.progress("reading controller ConfigMaps")
            for result in await asyncio.gather(
                *(self.get_configmap(ns, n) for ns, n in sorted(wanted))
            ):
                if isinstance(result, PermissionGap):
                    gaps.append(result)
                elif result is not None:
                    objects.append(result)
        return ClusterSnapshot(
            source="cluster",
            context=self.access.context,
            namespaces=[self.access.namespace] if self.access.namespace else [],
            objects=objects,
            listed_kinds=listed,
            absent_groups=absent,
            permission_gaps=gaps,
        )


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
    access: ClusterAccess, progress: Callable[[str], None] | None = None
) -> ClusterSnapshot:
    """A snapshot of the cluster as ``access`` may see it."""
    return await ClusterReader(access, progress).read()
