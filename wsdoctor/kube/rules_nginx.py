"""Rules for ingress-nginx (KNOWLEDGE.md §3): timeouts, annotation values it will not parse,
snippets, affinity, rate limits, CORS, its ConfigMap."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.codes import Code
from wsdoctor.kube import backends, discover
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions, human_seconds, parse_unitless_seconds
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, annotation_field, field_path
from wsdoctor.kube.timeouts import NGINX, nginx_configmap, nginx_timeout
from wsdoctor.models import Finding, Fix, Status

TIMEOUT_SHORT = Code(
    "WSD-NGINX-TIMEOUT-SHORT", Status.WARN, "ingress-nginx closes idle WebSockets too early"
)
ANNOTATION_INVALID = Code(
    "WSD-NGINX-ANNOTATION-INVALID", Status.FAIL, "ingress-nginx will not parse this annotation"
)
CONNECT_TIMEOUT = Code(
    "WSD-NGINX-CONNECT-TIMEOUT",
    Status.WARN,
    "proxy-connect-timeout only covers the TCP connect to the pod",
)
SNIPPET = Code("WSD-NGINX-SNIPPET", Status.WARN, "Snippet annotations are rejected by default")
AFFINITY_HASH = Code(
    "WSD-NGINX-AFFINITY-HASH", Status.WARN, "Cookie affinity overrides upstream-hash-by"
)
AFFINITY_REGEX_PATH = Code(
    "WSD-NGINX-AFFINITY-REGEX-PATH",
    Status.WARN,
    "Affinity cookie path does not match with regex paths",
)
RATE_LIMIT = Code(
    "WSD-NGINX-RATE-LIMIT", Status.WARN, "Connection/rate limits answer 503 to reconnect storms"
)
CORS = Code(
    "WSD-NGINX-CORS-NO-EFFECT", Status.INFO, "CORS annotations do not govern WebSocket upgrades"
)
CONFIGMAP_KEY = Code(
    "WSD-NGINX-CONFIGMAP-KEY", Status.WARN, "ingress-nginx ConfigMap key does not exist"
)
CONFIGMAP_IGNORED = Code(
    "WSD-NGINX-CONFIGMAP-IGNORED",
    Status.WARN,
    "The ingress-nginx controller does not read this ConfigMap",
)
SESSION_AFFINITY = Code(
    "WSD-NGINX-SERVICE-AFFINITY",
    Status.WARN,
    "Service sessionAffinity has no effect through ingress-nginx",
)

CODES = (
    TIMEOUT_SHORT,
    ANNOTATION_INVALID,
    CONNECT_TIMEOUT,
    SNIPPET,
    AFFINITY_HASH,
    AFFINITY_REGEX_PATH,
    RATE_LIMIT,
    CORS,
    CONFIGMAP_KEY,
    CONFIGMAP_IGNORED,
    SESSION_AFFINITY,
)

_INT_ANNOTATIONS = (
    "proxy-read-timeout",
    "proxy-send-timeout",
    "proxy-connect-timeout",
    "limit-connections",
    "limit-rps",
    "limit-rpm",
    "session-cookie-max-age",
    "session-cookie-expires",
)
_BOOL_ANNOTATIONS = ("use-regex", "enable-cors", "ssl-redirect", "force-ssl-redirect")
_UNKNOWN_KEYS = {
    "worker-connections": "max-worker-connections",
    "proxy-buffers": "proxy-buffers-number",
}
_NGINX_KEYS = (
    "proxy-read-timeout",
    "proxy-send-timeout",
    "worker-shutdown-timeout",
    "use-forwarded-headers",
)


def nginx_ingresses(snap: ClusterSnapshot) -> Iterator[KubeObject]:
    """Ingresses served by ingress-nginx (by class, or by their annotations)."""
    for obj in snap.of_kind("Ingress"):
        if discover.ingress_controller(snap, obj)[0] == "ingress-nginx":
            yield obj


def _annotation_fix(name: str, value: str) -> Fix:
    return Fix(
        summary=f"Set the annotation {NGINX}{name} on the Ingress.",
        snippet=f'metadata:\n  annotations:\n    {NGINX}{name}: "{value}"\n',
        language="yaml",
    )


def _check_values(ing: KubeObject) -> Iterator[Finding]:
    for key in _INT_ANNOTATIONS:
        raw = ing.annotations.get(NGINX + key)
        if raw is not None and parse_unitless_seconds(raw) is None:
            example = "3600" if "timeout" in key else "100"
            yield ANNOTATION_INVALID.finding(
                CHECK_ID,
                f"{ing.ref}: {NGINX}{key}: {raw!r} is not a whole number; ingress-nginx ignores "
                "it and uses the ConfigMap value or its default"
                + (" (60 s)" if "timeout" in key else "")
                + ". Timeouts are unitless seconds.",
                resource=ing.resource(annotation_field(NGINX + key)),
                evidence={"annotation": NGINX + key, "value": raw},
                fix=_annotation_fix(key, example),
            )
    for key in _BOOL_ANNOTATIONS:
        raw = ing.annotations.get(NGINX + key)
        if raw is not None and raw not in ("true", "false"):
            yield ANNOTATION_INVALID.finding(
                CHECK_ID,
                f'{ing.ref}: {NGINX}{key}: {raw!r} is not "true" or "false".',
                resource=ing.resource(annotation_field(NGINX + key)),
                evidence={"annotation": NGINX + key, "value": raw},
                fix=_annotation_fix(key, "true"),
            )
    raw = ing.annotations.get(NGINX + "affinity")
    if raw is not None and raw != "cookie":
        yield ANNOTATION_INVALID.finding(
            CHECK_ID,
            f'{ing.ref}: {NGINX}affinity: {raw!r}; the only supported type is "cookie".',
            resource=ing.resource(annotation_field(NGINX + "affinity")),
            evidence={"annotation": NGINX + "affinity", "value": raw},
            fix=_annotation_fix("affinity", "cookie"),
        )


def rules_for_ingress_nginx(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Every ingress-nginx configuration fact, per Ingress and for the controller ConfigMap."""
    ingresses = list(nginx_ingresses(snap))
    for ing in ingresses:
        yield from _check_values(ing)
        yield from _timeouts(snap, ing, options)
        yield from _features(snap, ing)
    yield from _configmaps(snap, bool(ingresses))


def _timeouts(snap: ClusterSnapshot, ing: KubeObject, options: RuleOptions) -> Iterator[Finding]:
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        effective = nginx_timeout(snap, ing, key)
        if effective.seconds < options.expect_idle:
            res = effective.resource
            origin = (
                "its default"
                if effective.default or res is None
                else f"set in {res.kind} {res.namespace}/{res.name}"
            )
            yield TIMEOUT_SHORT.finding(
                CHECK_ID,
                f"{ing.ref}: {key} is {human_seconds(effective.seconds)} ({origin}); a WebSocket "
                f"silent for longer is closed by nginx (expected idle up to "
                f"{human_seconds(options.expect_idle)}, --expect-idle).",
                resource=effective.resource,
                evidence={
                    "setting": key,
                    "seconds": effective.seconds,
                    "default": effective.default,
                },
                fix=Fix(
                    summary="Raise proxy-read-timeout and proxy-send-timeout on the Ingress "
                    "(unitless seconds), or send heartbeats more often than the timeout.",
                    snippet="metadata:\n  annotations:\n"
                    f'    {NGINX}proxy-read-timeout: "3600"\n'
                    f'    {NGINX}proxy-send-timeout: "3600"\n',
                    language="yaml",
                ),
            )
    raw = ing.annotations.get(NGINX + "proxy-connect-timeout")
    value = parse_unitless_seconds(raw) if raw else None
    if value is not None and value > 75:
        yield CONNECT_TIMEOUT.finding(
            CHECK_ID,
            f"{ing.ref}: proxy-connect-timeout {value} s only limits opening the TCP connection "
            "to the pod (nginx: cannot usually exceed 75 s); it does not keep WebSockets open.",
            resource=ing.resource(annotation_field(NGINX + "proxy-connect-timeout")),
            evidence={"seconds": value},
            fix=Fix(
                summary="Leave proxy-connect-timeout short (5 s) and raise proxy-read-timeout "
                "and proxy-send-timeout instead.",
                snippet="metadata:\n  annotations:\n"
                f'    {NGINX}proxy-connect-timeout: "5"\n'
                f'    {NGINX}proxy-read-timeout: "3600"\n',
                language="yaml",
            ),
        )


def _features(snap: ClusterSnapshot, ing: KubeObject) -> Iterator[Finding]:
    a = ing.annotations
    for key in ("server-snippet", "configuration-snippet"):
        if NGINX + key in a:
            yield SNIPPET.finding(
                CHECK_ID,
                f"{ing.ref}: {key} is rejected unless the controller sets "
                'allow-snippet-annotations: "true" (off by default; the risk is Critical).',
                resource=ing.resource(annotation_field(NGINX + key)),
                evidence={"annotation": NGINX + key},
                fix=Fix(
                    summary="Replace the snippet with the dedicated annotations "
                    "(proxy-read-timeout, proxy-http-version...); WebSocket needs no snippet: "
                    "ingress-nginx forwards Upgrade/Connection itself.",
                ),
            )
    cookie = a.get(NGINX + "affinity") == "cookie"
    if cookie and NGINX + "upstream-hash-by" in a:
        yield AFFINITY_HASH.finding(
            CHECK_ID,
            f"{ing.ref}: affinity cookie and upstream-hash-by are both set; the cookie wins and "
            "upstream-hash-by is ignored.",
            resource=ing.resource(annotation_field(NGINX + "upstream-hash-by")),
            fix=Fix(summary="Keep one of them: remove upstream-hash-by (or the affinity)."),
        )
    if cookie and a.get(NGINX + "use-regex") == "true" and NGINX + "session-cookie-path" not in a:
        yield AFFINITY_REGEX_PATH.finding(
            CHECK_ID,
            f"{ing.ref}: with use-regex the cookie Path is the regex itself, which the browser "
            "never matches, so the affinity cookie is not sent back.",
            resource=ing.resource(annotation_field(NGINX + "use-regex")),
            fix=_annotation_fix("session-cookie-path", "/"),
        )
    for key in ("limit-connections", "limit-rps", "limit-rpm"):
        if NGINX + key in a:
            yield RATE_LIMIT.finding(
                CHECK_ID,
                f"{ing.ref}: {key}={a[NGINX + key]} answers 503 above the limit; it counts per "
                "client IP per controller replica, and behind a load balancer without PROXY "
                "protocol every client has the balancer's IP.",
                resource=ing.resource(annotation_field(NGINX + key)),
                evidence={"annotation": NGINX + key, "value": a[NGINX + key]},
                fix=Fix(
                    summary="Raise or remove the limit for the WebSocket path, and enable PROXY "
                    "protocol (use-proxy-protocol) so the real client IP is counted."
                ),
            )
    if a.get(NGINX + "enable-cors") == "true":
        yield CORS.finding(
            CHECK_ID,
            f"{ing.ref}: enable-cors adds CORS headers to HTTP responses; browsers do not apply "
            "CORS to WebSocket — the server's Origin check decides.",
            resource=ing.resource(annotation_field(NGINX + "enable-cors")),
            fix=Fix(summary="Allow the page's Origin in the WebSocket server's own check."),
        )
    if snap.knows("Service"):
        for rule in discover.ingress_rules(snap, ing):
            for backend in rule.backends:
                svc = snap.find("Service", backend.namespace, backend.service)
                if svc is not None and svc.spec.get("sessionAffinity") == "ClientIP":
                    yield SESSION_AFFINITY.finding(
                        CHECK_ID,
                        f"{svc.ref}: sessionAffinity ClientIP is bypassed: ingress-nginx sends "
                        f"to pod endpoints directly ({ing.ref}).",
                        resource=svc.resource("spec.sessionAffinity"),
                        fix=_annotation_fix("affinity", "cookie"),
                    )


def _configmaps(snap: ClusterSnapshot, in_use: bool) -> Iterator[Finding]:
    read = nginx_configmap(snap)
    named = backends.controller_configmaps(snap, "ingress-nginx")
    for cm in snap.of_kind("ConfigMap"):
        looks_nginx = any(k in cm.data for k in _NGINX_KEYS) or "ingress-nginx" in cm.name
        if not looks_nginx and cm is not read:
            continue
        for key, right in _UNKNOWN_KEYS.items():
            if key in cm.data:
                yield CONFIGMAP_KEY.finding(
                    CHECK_ID,
                    f"{cm.ref}: key {key!r} does not exist in ingress-nginx; it is ignored "
                    f"(did you mean {right!r}?).",
                    resource=cm.resource(field_path("data", key)),
                    evidence={"key": key, "suggestion": right},
                    fix=Fix(
                        summary=f"Rename the key to {right}.",
                        snippet=f'data:\n  {right}: "{cm.data[key]}"\n',
                        language="yaml",
                    ),
                )
        if named and cm is not read and in_use:
            wanted = ", ".join(f"{ns}/{name}" for ns, name in named)
            yield CONFIGMAP_IGNORED.finding(
                CHECK_ID,
                f"{cm.ref} holds ingress-nginx settings, but the controller reads --configmap="
                f"{wanted}; these settings have no effect.",
                resource=cm.resource("data"),
                evidence={"configmap": wanted},
                fix=Fix(
                    summary=f"Move the keys into {wanted} (Helm: controller.config values).",
                ),
            )
