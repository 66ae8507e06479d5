"""Rules for Traefik: the CRD API group judged against the Traefik version deployed, v3's
removed Headers options, references to Middlewares and TraefikServices that do not exist,
stickiness placement and secure sticky cookies on plain HTTP, dead Middlewares."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from wsdoctor.codes import Code
from wsdoctor.kube import backends
from wsdoctor.kube.absent import missing
from wsdoctor.kube.discover import TRAEFIK_GROUPS
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, annotation_field, field_path
from wsdoctor.models import Finding, Fix, Status

OLD_GROUP = Code(
    "WSD-TRAEFIK-OLD-GROUP", Status.FAIL, "traefik.containo.us was removed in Traefik v3"
)
GROUP_DEPRECATED = Code(
    "WSD-TRAEFIK-GROUP-DEPRECATED",
    Status.WARN,
    "traefik.containo.us is deprecated and ignored by Traefik v3",
)
GROUP_UNSERVED = Code(
    "WSD-TRAEFIK-GROUP-UNSERVED", Status.FAIL, "The deployed Traefik does not serve traefik.io"
)
HEADERS_REMOVED = Code(
    "WSD-TRAEFIK-HEADERS-REMOVED", Status.FAIL, "Headers middleware option removed in Traefik v3"
)
STICKY_MISPLACED = Code(
    "WSD-TRAEFIK-STICKY-MISPLACED", Status.WARN, "Traefik sticky cookie set where it has no effect"
)
STICKY_SECURE_HTTP = Code(
    "WSD-TRAEFIK-STICKY-SECURE-HTTP",
    Status.WARN,
    "A Secure sticky cookie on a plain-HTTP entry point is never sent back",
)
REF_MISSING = Code(
    "WSD-TRAEFIK-REF-MISSING",
    Status.FAIL,
    "A Middleware or TraefikService the route names is missing",
)
UNUSED = Code("WSD-TRAEFIK-UNUSED", Status.INFO, "Traefik object that nothing references")
CODES = (
    OLD_GROUP,
    GROUP_DEPRECATED,
    GROUP_UNSERVED,
    HEADERS_REMOVED,
    STICKY_MISPLACED,
    STICKY_SECURE_HTTP,
    REF_MISSING,
    UNUSED,
)

REMOVED_HEADERS = (
    "sslRedirect",
    "sslTemporaryRedirect",
    "sslHost",
    "sslForceHost",
    "featurePolicy",
)
STICKY = "traefik.ingress.kubernetes.io/service.sticky.cookie"
MIDDLEWARES = "traefik.ingress.kubernetes.io/router.middlewares"
ENTRYPOINTS = "traefik.ingress.kubernetes.io/router.entrypoints"
ROUTER_TLS = "traefik.ingress.kubernetes.io/router.tls"
TRANSPORT = "traefik.ingress.kubernetes.io/service.serverstransport"
#: Entry points the Traefik Helm chart and docs serve as plain HTTP.
PLAIN_ENTRYPOINTS = frozenset({"web", "http"})


def deployed_versions(snap: ClusterSnapshot) -> list[tuple[int, ...]]:
    """Versions of the Traefik images deployed in the snapshot (tagged ones only)."""
    found = []
    for _, image in backends.controller_versions(snap, "traefik"):
        version = backends.image_version(image)
        if version is not None:
            found.append(version)
    return found


def served_groups(version: tuple[int, ...]) -> set[str]:
    """API groups a Traefik version watches: traefik.containo.us up to v2.9, both in v2.10
    and v2.11, traefik.io from v3 (docs/content/migrate/v2-to-v3-details.md; the group
    constant of pkg/provider/kubernetes/crd in v2.9.9 and v2.10.0)."""
    if version[0] >= 3:
        return {"traefik.io"}
    if version[0] == 2 and version[1:2] >= (10,):
        return {"traefik.io", "traefik.containo.us"}
    return {"traefik.containo.us"}


def _middleware_refs(obj: KubeObject) -> Iterator[tuple[str, str, str]]:
    """(namespace, name, field) of the Middlewares an IngressRoute names (CRD provider)."""
    ns = obj.namespace or "default"
    for i, route in enumerate(obj.spec.get("routes") or []):
        for j, mw in enumerate(route.get("middlewares") or []):
            name = str(mw.get("name") or "")
            provider = name.partition("@")[2]
            if name and provider in ("", "kubernetescrd"):
                where = field_path("spec", "routes", i, "middlewares", j)
                yield str(mw.get("namespace") or ns), name.partition("@")[0], where


def _annotation_middlewares(obj: KubeObject) -> list[str]:
    """``<namespace>-<name>`` of the CRD Middlewares an Ingress names in its annotation."""
    refs = []
    for item in obj.annotations.get(MIDDLEWARES, "").split(","):
        name, _, provider = item.strip().partition("@")
        if name and provider == "kubernetescrd":
            refs.append(name)
    return refs


def _entrypoint_middlewares(snap: ClusterSnapshot) -> set[str]:
    """``<namespace>-<name>`` of Middlewares Traefik's static configuration attaches to its
    entry points (``--entrypoints.web.http.middlewares=...``)."""
    refs: set[str] = set()
    for owner in backends.controller_workloads(snap, "traefik"):
        for arg in backends.container_args(backends.template_of(owner)):
            flag, _, value = arg.partition("=")
            if flag.lower().endswith(".http.middlewares"):
                refs.update(v.strip().partition("@")[0] for v in value.split(",") if v.strip())
    return refs


def _references(snap: ClusterSnapshot) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of every Middleware/ServersTransport something references."""
    refs: set[tuple[str, str, str]] = set()
    dashed = {*_entrypoint_middlewares(snap)}
    for obj in snap.objects:
        ns = obj.namespace or "default"
        dashed.update(_annotation_middlewares(obj))
        if obj.annotations.get(TRANSPORT):
            refs.add(("ServersTransport", ns, obj.annotations[TRANSPORT].split("@")[0]))
        for mw_ns, name, _ in _middleware_refs(obj):
            refs.add(("Middleware", mw_ns, name))
        for route in obj.spec.get("routes") or []:
            for svc in route.get("services") or []:
                if svc.get("serversTransport"):
                    refs.add(("ServersTransport", ns, str(svc["serversTransport"])))
        for mw in (obj.spec.get("chain") or {}).get("middlewares") or []:
            refs.add(("Middleware", ns, str(mw.get("name"))))
    for mw in snap.of_kind("Middleware"):
        if f"{mw.namespace}-{mw.name}" in dashed:
            refs.add(("Middleware", mw.namespace or "default", mw.name))
    return refs


def rules_for_traefik(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Traefik configuration facts, judged against the Traefik version deployed (if any)."""
    versions = snap.memo("traefik-versions", lambda: deployed_versions(snap))
    refs: set[tuple[str, str, str]] | None = None
    for obj in snap.objects:
        if obj.group in TRAEFIK_GROUPS:
            yield from _group(obj, versions)
        if obj.kind == "Ingress" and obj.group not in TRAEFIK_GROUPS:
            yield from _ingress(snap, obj)
            continue
        if obj.group not in TRAEFIK_GROUPS:
            continue
        if obj.kind == "Middleware":
            yield from _headers(obj, versions)
        if obj.kind == "IngressRoute":
            yield from _ingressroute(snap, obj)
        if obj.kind in ("Middleware", "ServersTransport") and snap.source == "manifests":
            refs = refs if refs is not None else _references(snap)
            if (obj.kind, obj.namespace or "default", obj.name) not in refs:
                yield UNUSED.finding(
                    CHECK_ID,
                    f"{obj.ref} is referenced by no IngressRoute, Ingress, Service or entry "
                    "point in the input: it has no effect unless something elsewhere names it.",
                    resource=obj.resource("metadata.name"),
                    fix=Fix(
                        summary="Reference it from the route, or delete it.",
                        snippet=f"routes:\n- middlewares:\n  - name: {obj.name}\n",
                        language="yaml",
                    ),
                )


def _group(obj: KubeObject, versions: list[tuple[int, ...]]) -> Iterator[Finding]:
    """The object's API group against the deployed Traefik (or, without one, v3)."""
    shown = ", ".join("v" + ".".join(map(str, v)) for v in versions)
    served = set().union(*(served_groups(v) for v in versions)) if versions else None
    evidence: dict[str, Any] = {"apiVersion": obj.api_version, "traefik": shown or None}
    if served is not None and obj.group not in served:
        code = OLD_GROUP if obj.group == "traefik.containo.us" else GROUP_UNSERVED
        right = sorted(served)[0]
        yield code.finding(
            CHECK_ID,
            f"{obj.ref} uses apiVersion {obj.api_version}, but the Traefik deployed ({shown}) "
            f"only watches {' and '.join(sorted(served))}: this object is ignored.",
            resource=obj.resource("apiVersion"),
            evidence=evidence,
            fix=Fix(
                summary=f"Change the group to {right} (same version and fields).",
                snippet=f"apiVersion: {right}/{obj.api_version.split('/')[-1]}\n",
                language="yaml",
            ),
        )
    elif obj.group == "traefik.containo.us" and (served is None or "traefik.io" in served):
        running = f"the Traefik deployed ({shown}) reads it, but " if served else ""
        yield GROUP_DEPRECATED.finding(
            CHECK_ID,
            f"{obj.ref} uses apiVersion {obj.api_version}: {running}the group is deprecated "
            "since Traefik v2.10 and Traefik v3 ignores it.",
            resource=obj.resource("apiVersion"),
            evidence=evidence,
            fix=Fix(
                summary="Change the group to traefik.io before upgrading to Traefik v3.",
                snippet=f"apiVersion: traefik.io/{obj.api_version.split('/')[-1]}\n",
                language="yaml",
            ),
        )


def _headers(obj: KubeObject, versions: list[tuple[int, ...]]) -> Iterator[Finding]:
    """Headers options v3 removed: judged when Traefik v3 is deployed, or when nothing says
    otherwise and the object uses the v3 group."""
    if versions:
        if all(v[0] < 3 for v in versions):
            return
    elif obj.group != "traefik.io":
        return
    headers = obj.spec.get("headers") or {}
    for key in REMOVED_HEADERS:
        if key in headers:
            yield HEADERS_REMOVED.finding(
                CHECK_ID,
                f"{obj.ref}: headers.{key} was removed in Traefik v3; the middleware "
                "fails to load and routes using it answer 404.",
                resource=obj.resource(field_path("spec", "headers", key)),
                fix=Fix(
                    summary="Use a RedirectScheme middleware (or the entryPoint "
                    "redirection) instead.",
                    snippet="spec:\n  redirectScheme:\n    scheme: https\n    permanent: true\n",
                    language="yaml",
                ),
            )


def _ingress(snap: ClusterSnapshot, ing: KubeObject) -> Iterator[Finding]:
    if STICKY in ing.annotations:
        yield STICKY_MISPLACED.finding(
            CHECK_ID,
            f"{ing.ref}: {STICKY} belongs on the backend Service; on an Ingress "
            "Traefik ignores it and connections are not sticky.",
            resource=ing.resource(annotation_field(STICKY)),
            fix=Fix(
                summary="Move the annotation to the Service.",
                snippet=f'# Service\nmetadata:\n  annotations:\n    {STICKY}: "true"\n',
                language="yaml",
            ),
        )
    names = {f"{mw.namespace}-{mw.name}" for mw in snap.of_kind("Middleware")}
    for ref in _annotation_middlewares(ing):
        if ref in names:
            continue
        ns = ing.namespace or "default"
        name = ref.removeprefix(f"{ns}-") if ref.startswith(f"{ns}-") else ref
        yield missing(
            snap,
            REF_MISSING,
            "Middleware",
            ns if ref.startswith(f"{ns}-") else None,
            name,
            detail=f"{ing.ref} names Middleware {ref}@kubernetescrd, which does not exist: "
            "Traefik does not create the router and the route answers 404.",
            resource=ing.resource(annotation_field(MIDDLEWARES)),
            fix=Fix(summary="Fix the <namespace>-<name> reference or create the Middleware."),
            referrer=ing.ref,
        )
    yield from _secure_cookie_on_ingress(snap, ing)


def _ingressroute(snap: ClusterSnapshot, route: KubeObject) -> Iterator[Finding]:
    for ns, name, where in _middleware_refs(route):
        if snap.find("Middleware", ns, name) is None:
            yield missing(
                snap,
                REF_MISSING,
                "Middleware",
                ns,
                name,
                detail=f"{route.ref} names Middleware {ns}/{name}, which does not exist: "
                "Traefik does not create the router and the route answers 404.",
                resource=route.resource(where),
                fix=Fix(summary=f"Create Middleware {ns}/{name}, or fix the reference."),
                referrer=route.ref,
            )
    for i, rule in enumerate(route.spec.get("routes") or []):
        for k, svc in enumerate(rule.get("services") or []):
            ns = str(svc.get("namespace") or route.namespace or "default")
            name = str(svc.get("name") or "").partition("@")[0]
            where = field_path("spec", "routes", i, "services", k)
            if (
                svc.get("kind") == "TraefikService"
                and "@" not in str(svc.get("name"))
                and snap.find("TraefikService", ns, name) is None
            ):
                yield missing(
                    snap,
                    REF_MISSING,
                    "TraefikService",
                    ns,
                    name,
                    detail=f"{route.ref} sends to TraefikService {ns}/{name}, which does "
                    "not exist: the router has no service and answers 404.",
                    resource=route.resource(where),
                    fix=Fix(summary=f"Create TraefikService {ns}/{name}, or fix the name."),
                    referrer=route.ref,
                )
            cookie = (svc.get("sticky") or {}).get("cookie")
            if isinstance(cookie, dict) and cookie.get("secure") is True:
                yield from _secure_cookie(snap, route, f"{where}.sticky.cookie.secure")


def _plain_http(snap: ClusterSnapshot, entrypoints: list[str]) -> bool:
    """Whether all these entry points are known to serve plain HTTP: Traefik is in the input
    and none of them has TLS in its static flags, or (without it) they are named as the
    Helm chart names its plain-HTTP entry point."""
    if not entrypoints:
        return False
    workloads = backends.controller_workloads(snap, "traefik")
    if not workloads:
        return set(entrypoints) <= PLAIN_ENTRYPOINTS
    args = [a.lower() for w in workloads for a in backends.container_args(backends.template_of(w))]
    for name in entrypoints:
        tls = re.compile(rf"^--entrypoints\.{re.escape(name.lower())}\.http\.tls(\..*)?(=|$)")
        if any(tls.match(a) and not a.endswith("=false") for a in args):
            return False
    return True


def _secure_cookie(snap: ClusterSnapshot, route: KubeObject, where: str) -> Iterator[Finding]:
    entrypoints = [str(e) for e in route.spec.get("entryPoints") or []]
    if route.spec.get("tls") is not None or not _plain_http(snap, entrypoints):
        return
    yield STICKY_SECURE_HTTP.finding(
        CHECK_ID,
        f"{route.ref} sets a Secure sticky cookie but is served on plain HTTP "
        f"(entry points {', '.join(entrypoints)}, no tls): browsers never send a Secure "
        "cookie over http://, so no connection is sticky.",
        resource=route.resource(where),
        fix=Fix(
            summary="Serve the route over TLS (a websecure entry point and tls), or drop "
            "secure from the cookie."
        ),
    )


def _secure_cookie_on_ingress(snap: ClusterSnapshot, ing: KubeObject) -> Iterator[Finding]:
    """An Ingress on plain-HTTP entry points whose backend Service asks for a Secure cookie."""
    entrypoints = [e.strip() for e in ing.annotations.get(ENTRYPOINTS, "").split(",") if e.strip()]
    if ing.spec.get("tls") or ing.annotations.get(ROUTER_TLS) == "true":
        return
    if not _plain_http(snap, entrypoints):
        return
    key = STICKY + ".secure"
    for rule in ing.spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            name = ((path.get("backend") or {}).get("service") or {}).get("name")
            svc = snap.find("Service", ing.namespace, str(name)) if name else None
            if svc is not None and svc.annotations.get(key) == "true":
                yield STICKY_SECURE_HTTP.finding(
                    CHECK_ID,
                    f"{svc.ref} asks Traefik for a Secure sticky cookie, but {ing.ref} is served "
                    f"on plain HTTP (entry points {', '.join(entrypoints)}): browsers never send "
                    "it back, so no connection is sticky.",
                    resource=svc.resource(annotation_field(key)),
                    fix=Fix(summary="Serve the Ingress over TLS, or drop the secure option."),
                )


def is_traefik(obj: KubeObject) -> bool:
    """Whether an object belongs to Traefik's CRDs."""
    return obj.group in TRAEFIK_GROUPS
