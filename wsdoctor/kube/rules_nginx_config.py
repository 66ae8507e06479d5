"""Rules for the ingress-nginx controller's ConfigMap: keys it does not read (removed,
renamed, misspelled, timeouts with units), a ConfigMap of settings its ``--configmap`` flag
does not name (identified by namespace and name, once), and a connection cap too low for
the WebSockets one replica should hold."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.codes import Code
from wsdoctor.kube import backends
from wsdoctor.kube.absent import nearest
from wsdoctor.kube.nginx_facts import CONFIGMAP_KEYS, NO_EFFECT, REMOVED_PREFIXES, REPLACED
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions, parse_unitless_seconds
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, field_path
from wsdoctor.kube.timeouts import nginx_configmap
from wsdoctor.models import Finding, Fix, Status

CONFIGMAP_KEY = Code(
    "WSD-NGINX-CONFIGMAP-KEY", Status.WARN, "ingress-nginx ignores this ConfigMap key"
)
CONFIGMAP_IGNORED = Code(
    "WSD-NGINX-CONFIGMAP-IGNORED",
    Status.WARN,
    "The ingress-nginx controller does not read this ConfigMap",
)
WORKER_CONNECTIONS = Code(
    "WSD-NGINX-WORKER-CONNECTIONS",
    Status.WARN,
    "max-worker-connections caps concurrent WebSockets below what is expected",
)
CODES = (CONFIGMAP_KEY, CONFIGMAP_IGNORED, WORKER_CONNECTIONS)

#: ConfigMap names the ingress-nginx manifests and chart give the controller's ConfigMap.
_CONFIGMAP_NAMES = ("ingress-nginx-controller", "nginx-configuration")


def _looks_like_controller_configmap(cm: KubeObject) -> bool:
    """A ConfigMap named as the ingress-nginx manifests name the controller's, holding at
    least one key the controller reads."""
    return cm.name.endswith(_CONFIGMAP_NAMES) and any(k in CONFIGMAP_KEYS for k in cm.data)


def _replacement(key: str) -> tuple[str, str] | None:
    if key in REPLACED:
        return REPLACED[key]
    for prefix, found in REMOVED_PREFIXES.items():
        if key.startswith(prefix):
            return found
    return None


def configmap_rules(snap: ClusterSnapshot, in_use: bool) -> Iterator[Finding]:
    """Keys of the controller's ConfigMap it does not read, and a ConfigMap of settings the
    controller's --configmap flag does not name."""
    read = nginx_configmap(snap)
    named = backends.controller_configmaps(snap, "ingress-nginx")
    judged = [read] if read is not None else []
    if not named:
        judged = [cm for cm in snap.of_kind("ConfigMap") if _looks_like_controller_configmap(cm)]
    for cm in judged:
        yield from _configmap_keys(cm)
    if not (named and in_use):
        return
    wanted = ", ".join(f"{ns}/{name}" for ns, name in named)
    for cm in snap.of_kind("ConfigMap"):
        if (cm.namespace, cm.name) in named or not _looks_like_controller_configmap(cm):
            continue
        yield CONFIGMAP_IGNORED.finding(
            CHECK_ID,
            f"{cm.ref} holds ingress-nginx settings, but the controller reads --configmap="
            f"{wanted}; these settings have no effect.",
            resource=cm.resource("data"),
            evidence={"configmap": wanted},
            fix=Fix(summary=f"Move the keys into {wanted} (Helm: controller.config values)."),
        )


def _configmap_keys(cm: KubeObject) -> Iterator[Finding]:
    for key, value in cm.data.items():
        found = _replacement(key)
        if key in CONFIGMAP_KEYS and key not in NO_EFFECT:
            if key in ("proxy-read-timeout", "proxy-send-timeout") and not value.isdigit():
                yield CONFIGMAP_KEY.finding(
                    CHECK_ID,
                    f"{cm.ref}: {key}: {value!r} is not a whole number of seconds; "
                    "ingress-nginx ignores it and keeps 60 s.",
                    resource=cm.resource(field_path("data", key)),
                    evidence={"key": key, "value": value},
                    fix=Fix(
                        summary="Write the timeout as unitless seconds.",
                        snippet=f'data:\n  {key}: "3600"\n',
                        language="yaml",
                    ),
                )
            continue
        near = nearest(key, CONFIGMAP_KEYS) if found is None else None
        right, why = found or (near, f"no such key: a misspelling of {near!r}?" if near
                               else "no such key in the controller")
        detail = (
            f"{cm.ref}: key {key!r} no longer has any effect ({why})"
            if key in NO_EFFECT
            else f"{cm.ref}: ingress-nginx does not read key {key!r} ({why})"
        )
        yield CONFIGMAP_KEY.finding(
            CHECK_ID,
            detail + (f"; use {right!r}." if right else "; it is ignored."),
            resource=cm.resource(field_path("data", key)),
            evidence={"key": key, "suggestion": right},
            fix=Fix(
                summary=f"Use {right} instead." if right else f"Remove {key} (see configmap.md).",
                snippet=f'data:\n  {right}: "{value}"\n' if right else None,
                language="yaml" if right else None,
            ),
        )


def worker_connections(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Each proxied WebSocket holds two connections of one nginx worker (client and pod)."""
    cm = nginx_configmap(snap)
    if cm is None:
        return
    raw = cm.data.get("max-worker-connections")
    value = parse_unitless_seconds(raw) if raw is not None else None
    if not value or value // 2 >= options.expect_connections:
        return
    yield WORKER_CONNECTIONS.finding(
        CHECK_ID,
        f"{cm.ref}: max-worker-connections {value} lets one nginx worker hold about "
        f"{value // 2} WebSockets (each takes a client and an upstream connection); "
        f"{options.expect_connections} are expected (--expect-connections).",
        resource=cm.resource(field_path("data", "max-worker-connections")),
        evidence={"max_worker_connections": value, "expected": options.expect_connections},
        fix=Fix(
            summary="Raise max-worker-connections (default 16384), or leave it unset.",
            snippet='data:\n  max-worker-connections: "16384"\n',
            language="yaml",
        ),
    )
