"""Rules for ingress-nginx (KNOWLEDGE.md §3): timeouts, annotation values it will not parse,
snippets, SSL passthrough, affinity, rate limits, CORS, its ConfigMap."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.codes import Code
from wsdoctor.kube import backends, discover
from wsdoctor.kube.nginx_facts import BUFFER_SETTINGS
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions, human_seconds, parse_unitless_seconds
from wsdoctor.kube.rules_nginx_config import CODES as CONFIGMAP_CODES
from wsdoctor.kube.rules_nginx_config import configmap_rules, worker_connections
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, annotation_field
from wsdoctor.kube.timeouts import NGINX, nginx_configmap, nginx_timeout, passthrough
from wsdoctor.kube.websocket import websocket_scope
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
PASSTHROUGH_DISABLED = Code(
    "WSD-NGINX-PASSTHROUGH-DISABLED",
    Status.FAIL,
    "ssl-passthrough needs the controller flag --enable-ssl-passthrough",
)
PASSTHROUGH_ANNOTATIONS = Code(
    "WSD-NGINX-PASSTHROUGH-ANNOTATIONS",
    Status.WARN,
    "HTTP annotations do not apply to an ssl-passthrough Ingress",
)
BUFFERS = Code(
    "WSD-NGINX-BUFFERS-NO-EFFECT", Status.INFO, "Buffer settings do not act on WebSocket traffic"
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
    *CONFIGMAP_CODES,
    PASSTHROUGH_DISABLED,
    PASSTHROUGH_ANNOTATIONS,
    BUFFERS,
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
_BOOL_ANNOTATIONS = (
    "use-regex",
    "enable-cors",
    "ssl-redirect",
    "force-ssl-redirect",
    "ssl-passthrough",
)
#: Annotations that still act with ssl-passthrough: they shape the plain-HTTP requests nginx
#: keeps serving on port 80 for the host (redirects to HTTPS) or name passthrough itself.
_PLAIN_HTTP_ANNOTATIONS = frozenset(
    {
        "ssl-passthrough",
        "backend-protocol",
        "ssl-redirect",
        "force-ssl-redirect",
        "permanent-redirect",
        "permanent-redirect-code",
        "temporal-redirect",
        "from-to-www-redirect",
    }
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


#: What an integer annotation counts, for the sentence that says the value is not one, and
#: what ingress-nginx does instead. It reads each with ``parser.GetIntAnnotation``
#: (``strconv.Atoi``); the timeouts fall back to the ConfigMap value or the default, and
#: ``ratelimit.Parse`` drops the error (``rps, _ := parser.GetIntAnnotation(...)``), so an
#: unparsable limit is 0: no limit (kubernetes/ingress-nginx
#: internal/ingress/annotations/ratelimit/main.go @ 19770f5b41d6ff3de36dc2dca111f8e0c4279da8).
_INT_MEANING = {
    "limit-connections": ("a whole number of concurrent connections per client IP", "100",
                          ", so no connection limit is in force"),
    "limit-rps": ('a whole number of requests per second per client IP ("20", not "20r/s")',
                  "20", ", so no rate limit is in force"),
    "limit-rpm": ('a whole number of requests per minute per client IP ("300", not "300r/m")',
                  "300", ", so no rate limit is in force"),
    "session-cookie-max-age": ("a whole number of seconds", "172800",
                               ", so the affinity cookie gets no Max-Age"),
    "session-cookie-expires": ("a whole number of seconds", "172800",
                               ", so the affinity cookie gets no Expires"),
}
_TIMEOUT_DEFAULT = {"proxy-connect-timeout": 5}


def _int_annotation(raw: str | None) -> int | None:
    """The value ingress-nginx reads from an integer annotation, None when it cannot."""
    return None if raw is None else parse_unitless_seconds(raw)


def _check_values(ing: KubeObject) -> Iterator[Finding]:
    for key in _INT_ANNOTATIONS:
        raw = ing.annotations.get(NGINX + key)
        if raw is not None and _int_annotation(raw) is None:
            default = _TIMEOUT_DEFAULT.get(key, 60)
            expected, example, instead = _INT_MEANING.get(key, (
                'unitless seconds ("3600", not "3600s" or "1h")', "3600",
                f" and uses the ConfigMap value or its default ({default} s)"))
            yield ANNOTATION_INVALID.finding(
                CHECK_ID,
                f"{ing.ref}: {NGINX}{key}: {raw!r} is not {expected}; ingress-nginx ignores "
                f"it{instead}.",
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
    scope = websocket_scope(snap, options)
    ingresses = list(nginx_ingresses(snap))
    for ing in ingresses:
        yield from _check_values(ing)
        if passthrough(ing):
            yield from _passthrough(snap, ing)
            continue
        yield from _features(snap, ing)
        if scope.route(ing):
            silence = scope.silence(ing.kind, ing.namespace, ing.name, options.expect_idle)
            yield from _timeouts(snap, ing, options, silence)
            yield from _websocket_features(ing)
    yield from configmap_rules(snap, bool(ingresses))
    if "ingress-nginx" in scope.controllers:
        yield from worker_connections(snap, options)


def _passthrough(snap: ClusterSnapshot, ing: KubeObject) -> Iterator[Finding]:
    """SSL passthrough hands the TLS stream to the pod (layer 4): the controller must run
    with --enable-ssl-passthrough, and no other annotation applies (annotations.md)."""
    key = NGINX + "ssl-passthrough"
    workloads = backends.controller_workloads(snap, "ingress-nginx")
    enabled = [
        w
        for w in workloads
        if backends.flag_set(
            backends.container_args(backends.template_of(w)), "--enable-ssl-passthrough"
        )
    ]
    if workloads and not enabled:
        names = ", ".join(w.ref for w in workloads)
        yield PASSTHROUGH_DISABLED.finding(
            CHECK_ID,
            f"{ing.ref} asks for ssl-passthrough, but the controller ({names}) runs without "
            "--enable-ssl-passthrough: the annotation is ignored and nginx terminates TLS.",
            resource=ing.resource(annotation_field(key)),
            evidence={"controller": names},
            fix=Fix(
                summary="Start the controller with --enable-ssl-passthrough (Helm: "
                "controller.extraArgs.enable-ssl-passthrough: true).",
                snippet="args:\n- --enable-ssl-passthrough\n",
                language="yaml",
            ),
        )
    ignored = sorted(
        k
        for k in ing.annotations
        if k.startswith(NGINX) and k.removeprefix(NGINX) not in _PLAIN_HTTP_ANNOTATIONS
    )
    if ignored:
        yield PASSTHROUGH_ANNOTATIONS.finding(
            CHECK_ID,
            f"{ing.ref} uses ssl-passthrough, which works at the TCP layer: "
            f"{', '.join(k.removeprefix(NGINX) for k in ignored)} "
            f"{'has' if len(ignored) == 1 else 'have'} no effect (no proxy timeouts, affinity, "
            "rewrites or limits apply; the backend terminates TLS).",
            resource=ing.resource(annotation_field(ignored[0])),
            evidence={"ignored": list[str | int | float | bool | None](ignored)},
            fix=Fix(
                summary="Remove the HTTP annotations (set timeouts and limits in the backend), "
                "or terminate TLS in the controller instead of passing it through."
            ),
        )


def _timeouts(
    snap: ClusterSnapshot, ing: KubeObject, options: RuleOptions, silence: float
) -> Iterator[Finding]:
    """Timeouts that close a WebSocket silent for ``silence`` seconds (--expect-idle, or its
    protocol's heartbeat interval when shorter)."""
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        effective = nginx_timeout(snap, ing, key)
        if effective.seconds < silence:
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


def _snippets_allowed(snap: ClusterSnapshot) -> bool:
    """Whether the controller in the snapshot accepts snippet annotations: its ConfigMap sets
    allow-snippet-annotations "true" and (from v1.12) annotations-risk-level Critical, or it
    predates v1.9, when snippets were allowed by default."""
    cm = nginx_configmap(snap)
    data = cm.data if cm is not None else {}
    versions = [
        backends.image_version(image)
        for _, image in backends.controller_versions(snap, "ingress-nginx")
    ]
    known = [v for v in versions if v is not None]
    if known and all(v < (1, 9) for v in known):
        return data.get("allow-snippet-annotations", "true") == "true"
    if data.get("allow-snippet-annotations") != "true":
        return False
    return data.get("annotations-risk-level") == "Critical" or bool(
        known and all(v < (1, 12) for v in known)
    )


def _features(snap: ClusterSnapshot, ing: KubeObject) -> Iterator[Finding]:
    """What breaks or silently does nothing on any Ingress."""
    a = ing.annotations
    for key in ("server-snippet", "configuration-snippet"):
        if NGINX + key in a and not snap.memo("nginx-snippets", lambda: _snippets_allowed(snap)):
            yield SNIPPET.finding(
                CHECK_ID,
                f"{ing.ref}: {key} is rejected unless the controller sets "
                'allow-snippet-annotations: "true" (off by default since v1.9) and, since v1.12, '
                "annotations-risk-level: Critical.",
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


def _websocket_features(ing: KubeObject) -> Iterator[Finding]:
    """What a WebSocket route should know about its limits, CORS and buffers."""
    a = ing.annotations
    for key in ("limit-connections", "limit-rps", "limit-rpm"):
        # An unparsable or zero limit is no limit (see _INT_MEANING); the first is
        # WSD-NGINX-ANNOTATION-INVALID's, and neither answers 503.
        if (_int_annotation(a.get(NGINX + key)) or 0) > 0:
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
    buffers = [k for k in BUFFER_SETTINGS if NGINX + k in a]
    if buffers:
        yield BUFFERS.finding(
            CHECK_ID,
            f"{ing.ref}: {', '.join(buffers)} shape(s) how nginx buffers HTTP requests and "
            "responses; an upgraded WebSocket is relayed as it comes, so they do not act on it.",
            resource=ing.resource(annotation_field(NGINX + buffers[0])),
            evidence={"annotations": list[str | int | float | bool | None](buffers)},
            fix=Fix(summary="Leave them for the HTTP paths; WebSocket needs no buffer setting."),
        )
