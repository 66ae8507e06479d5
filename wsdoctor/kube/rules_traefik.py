"""Rules for Traefik v3: the removed API group and Headers options, stickiness placement,
and dead Middlewares/ServersTransports."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.codes import Code
from wsdoctor.kube.discover import TRAEFIK_GROUPS
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, annotation_field, field_path
from wsdoctor.models import Finding, Fix, Status

OLD_GROUP = Code(
    "WSD-TRAEFIK-OLD-GROUP", Status.FAIL, "traefik.containo.us was removed in Traefik v3"
)
HEADERS_REMOVED = Code(
    "WSD-TRAEFIK-HEADERS-REMOVED", Status.FAIL, "Headers middleware option removed in Traefik v3"
)
STICKY_MISPLACED = Code(
    "WSD-TRAEFIK-STICKY-MISPLACED", Status.WARN, "Traefik sticky cookie set where it has no effect"
)
UNUSED = Code("WSD-TRAEFIK-UNUSED", Status.INFO, "Traefik object that nothing references")
CODES = (OLD_GROUP, HEADERS_REMOVED, STICKY_MISPLACED, UNUSED)

REMOVED_HEADERS = (
    "sslRedirect",
    "sslTemporaryRedirect",
    "sslHost",
    "sslForceHost",
    "featurePolicy",
)
STICKY = "traefik.ingress.kubernetes.io/service.sticky.cookie"
MIDDLEWARES = "traefik.ingress.kubernetes.io/router.middlewares"
TRANSPORT = "traefik.ingress.kubernetes.io/service.serverstransport"


def _references(snap: ClusterSnapshot) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of every Middleware/ServersTransport something references."""
    refs: set[tuple[str, str, str]] = set()
    for obj in snap.objects:
        ns = obj.namespace or "default"
        for item in obj.annotations.get(MIDDLEWARES, "").split(","):
            name = item.strip().removesuffix("@kubernetescrd")
            if name:
                mw_ns, _, mw = name.partition("-")
                # ns-name: the namespace is a prefix; try each split point.
                for i in range(len(name)):
                    if name[i] == "-":
                        refs.add(("Middleware", name[:i], name[i + 1 :]))
                refs.add(("Middleware", mw_ns, mw))
        if obj.annotations.get(TRANSPORT):
            refs.add(("ServersTransport", ns, obj.annotations[TRANSPORT].split("@")[0]))
        for route in obj.spec.get("routes") or []:
            for mw in route.get("middlewares") or []:
                refs.add(("Middleware", str(mw.get("namespace") or ns), str(mw.get("name"))))
            for svc in route.get("services") or []:
                if svc.get("serversTransport"):
                    refs.add(("ServersTransport", ns, str(svc["serversTransport"])))
        for mw in (obj.spec.get("chain") or {}).get("middlewares") or []:
            refs.add(("Middleware", ns, str(mw.get("name"))))
    return refs


def rules_for_traefik(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Traefik v3 configuration facts."""
    refs: set[tuple[str, str, str]] | None = None
    for obj in snap.objects:
        if obj.group == "traefik.containo.us":
            yield OLD_GROUP.finding(
                CHECK_ID,
                f"{obj.ref} uses apiVersion {obj.api_version}; Traefik v3 only watches "
                "traefik.io, so this object is ignored.",
                resource=obj.resource("apiVersion"),
                evidence={"apiVersion": obj.api_version},
                fix=Fix(
                    summary="Change the group to traefik.io (same version and fields).",
                    snippet=f"apiVersion: traefik.io/{obj.api_version.split('/')[-1]}\n",
                    language="yaml",
                ),
            )
        if obj.group not in TRAEFIK_GROUPS:
            if obj.kind == "Ingress" and STICKY in obj.annotations:
                yield STICKY_MISPLACED.finding(
                    CHECK_ID,
                    f"{obj.ref}: {STICKY} belongs on the backend Service; on an Ingress "
                    "Traefik ignores it and connections are not sticky.",
                    resource=obj.resource(annotation_field(STICKY)),
                    fix=Fix(
                        summary="Move the annotation to the Service.",
                        snippet=f'# Service\nmetadata:\n  annotations:\n    {STICKY}: "true"\n',
                        language="yaml",
                    ),
                )
            continue
        if obj.kind == "Middleware":
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
                            snippet="spec:\n  redirectScheme:\n    scheme: https\n    "
                            "permanent: true\n",
                            language="yaml",
                        ),
                    )
        if obj.kind in ("Middleware", "ServersTransport") and snap.source == "manifests":
            refs = refs if refs is not None else _references(snap)
            if (obj.kind, obj.namespace or "default", obj.name) not in refs:
                yield UNUSED.finding(
                    CHECK_ID,
                    f"{obj.ref} is referenced by no IngressRoute, Ingress or Service: it has no "
                    "effect.",
                    resource=obj.resource("metadata.name"),
                    fix=Fix(
                        summary="Reference it from the route, or delete it.",
                        snippet=f"routes:\n- middlewares:\n  - name: {obj.name}\n",
                        language="yaml",
                    ),
                )


def is_traefik(obj: KubeObject) -> bool:
    """Whether an object belongs to Traefik's CRDs."""
    return obj.group in TRAEFIK_GROUPS
