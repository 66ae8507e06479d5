"""Where Istio applies: whether a Service's pods get a sidecar (injection label or revision
on the namespace or pod), and which namespace an Istio Gateway's TLS credential must live in
(the gateway workload's, not the Gateway object's)."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.codes import Code
from wsdoctor.kube import backends
from wsdoctor.kube.absent import NOT_IN_INPUT, missing
from wsdoctor.kube.rulebase import CHECK_ID
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, field_path
from wsdoctor.models import Finding, Fix, Status

CREDENTIAL_MISSING = Code(
    "WSD-ISTIO-CREDENTIAL-MISSING", Status.FAIL, "Gateway TLS credential secret not found"
)
CODES = (CREDENTIAL_MISSING,)

INJECT = "sidecar.istio.io/inject"


def _namespace_injected(snap: ClusterSnapshot, namespace: str | None) -> bool | None:
    """The namespace's injection setting: True, False, or None when it is not in the input."""
    ns = snap.find("Namespace", None, namespace or "default")
    if ns is None:
        return None
    if ns.labels.get("istio.io/dataplane-mode") == "ambient":
        return False
    label = ns.labels.get("istio-injection")
    if label is not None:
        return label == "enabled"
    return "istio.io/rev" in ns.labels


def in_mesh(snap: ClusterSnapshot, svc: KubeObject) -> bool:
    """Whether the Service's pods get an Istio sidecar: a pod template label or annotation
    ``sidecar.istio.io/inject`` decides, else the namespace's ``istio-injection`` label or
    ``istio.io/rev``. Unknown (neither in the input) is not in the mesh."""
    namespace = _namespace_injected(snap, svc.namespace)
    templates = backends.selected_templates(snap, svc.namespace, svc.spec.get("selector") or {})
    if not templates:
        return namespace is True
    for _, tpl, _ in templates:
        meta = tpl.get("metadata") or {}
        choice = (meta.get("labels") or {}).get(INJECT) or (meta.get("annotations") or {}).get(
            INJECT
        )
        if choice is not None:
            if str(choice).lower() == "true":
                return True
            continue
        if namespace is True:
            return True
    return False


def gateway_workloads(snap: ClusterSnapshot, gateway: KubeObject) -> list[KubeObject]:
    """The workloads an Istio Gateway's ``selector`` picks (in any namespace, as istiod
    matches them by default)."""
    selector = gateway.spec.get("selector") or {}
    if not selector:
        return []
    return [
        owner
        for owner, tpl, _ in backends.pod_templates(snap)
        if backends.selector_matches(selector, (tpl.get("metadata") or {}).get("labels") or {})
    ]


def _provided_secrets(snap: ClusterSnapshot) -> set[tuple[str | None, str]]:
    """(namespace, name) of Secrets in the input, and of those cert-manager Certificates
    will create (``spec.secretName``)."""
    found = {(s.namespace, s.name) for s in snap.of_kind("Secret")}
    for cert in snap.of_kind("Certificate"):
        name = cert.spec.get("secretName")
        if name:
            found.add((cert.namespace, str(name)))
    return found


def credential_findings(snap: ClusterSnapshot, gateway: KubeObject) -> Iterator[Finding]:
    """Each TLS server's ``credentialName`` must name a Secret in the namespace of the
    gateway workload (Istio docs, secure ingress: "the secret must be in the same namespace
    as the gateway deployment")."""
    workloads = gateway_workloads(snap, gateway)
    namespaces = sorted({str(w.namespace) for w in workloads if w.namespace})
    secrets = snap.memo("istio-secrets", lambda: _provided_secrets(snap))
    for i, server in enumerate(gateway.spec.get("servers") or []):
        name = (server.get("tls") or {}).get("credentialName")
        if not name:
            continue
        name = str(name)
        where = field_path("spec", "servers", i, "tls", "credentialName")
        if not namespaces:
            if not any(n == name for _, n in secrets):
                yield NOT_IN_INPUT.finding(
                    CHECK_ID,
                    f"{gateway.ref} names credentialName {name!r}; neither that Secret nor the "
                    "gateway workload (whose namespace must hold it) is in the input, so it was "
                    "not checked.",
                    resource=gateway.resource(where),
                    evidence={"kind": "Secret", "name": name},
                    fix=Fix(
                        summary="Lint the gateway deployment and the Secret (or its "
                        "cert-manager Certificate) together with the Gateway."
                    ),
                )
            continue
        if any((ns, name) in secrets for ns in namespaces):
            continue
        target = namespaces[0]
        fix = Fix(
            summary=f"Create (or move) the TLS Secret in {target}, where the gateway runs.",
            snippet=f"kubectl -n {target} create secret tls {name} --cert=tls.crt --key=tls.key",
            language="shell",
        )
        if (gateway.namespace, name) in secrets and gateway.namespace not in namespaces:
            yield CREDENTIAL_MISSING.finding(
                CHECK_ID,
                f"{gateway.ref}: credentialName {name!r} is a Secret in {gateway.namespace}, the "
                f"Gateway's namespace, but the gateway workload runs in {', '.join(namespaces)} "
                "and reads it there: the gateway resets the TLS handshake.",
                resource=gateway.resource(where),
                evidence={"secret_namespace": gateway.namespace, "workload_namespace": target},
                fix=fix,
            )
            continue
        yield missing(
            snap,
            CREDENTIAL_MISSING,
            "Secret",
            target,
            name,
            detail=f"{gateway.ref}: credentialName {name!r} is not a Secret in {target}, where "
            "the gateway workload runs: the gateway resets the TLS handshake.",
            resource=gateway.resource(where),
            fix=fix,
            referrer=gateway.ref,
        )
