"""Rules for both HAProxy controllers: haproxytech (``haproxy.org/``, ``haproxy.com/``,
``ingress.kubernetes.io/``) and jcmoraisjr haproxy-ingress (``haproxy-ingress.github.io/``,
``ingress.kubernetes.io/``): where each key is read, ConfigMap keys neither reads, time
syntax, and the tunnel timeout that governs WebSocket."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.codes import Code
from wsdoctor.kube import backends, discover
from wsdoctor.kube.haproxy_facts import HAPROXY_INGRESS, HAPROXYTECH, PREFIXES, REAL_KEY
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions, human_seconds, parse_haproxy_time
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, annotation_field, field_path
from wsdoctor.kube.timeouts import haproxy_tunnel
from wsdoctor.kube.websocket import websocket_scope
from wsdoctor.models import Finding, Fix, Status

INGRESS_IGNORED = Code(
    "WSD-HAPROXY-INGRESS-IGNORED",
    Status.WARN,
    "The HAProxy controller ignores this annotation where it is set",
)
TUNNEL_SHORT = Code(
    "WSD-HAPROXY-TUNNEL-SHORT", Status.WARN, "HAProxy timeout tunnel closes idle WebSockets early"
)
TIME_INVALID = Code("WSD-HAPROXY-TIME-INVALID", Status.FAIL, "HAProxy will not parse this time")
CONFIGMAP_KEY = Code(
    "WSD-HAPROXY-CONFIGMAP-KEY", Status.WARN, "The HAProxy controller ignores this ConfigMap key"
)
CODES = (INGRESS_IGNORED, TUNNEL_SHORT, TIME_INVALID, CONFIGMAP_KEY)

CONTROLLERS = ("haproxytech", "haproxy-ingress")
_WHERE = {"c": "the ConfigMap", "i": "an Ingress", "s": "a Service"}


def _split(name: str, controller: str) -> str | None:
    """The key of an annotation in one of the controller's prefixes."""
    for prefix in PREFIXES[controller]:
        if name.startswith(prefix):
            return name.removeprefix(prefix)
    return None


def _read_from(controller: str, key: str) -> str | None:
    """Where the controller reads a key: a string of c/i/s (ConfigMap, Ingress, Service)."""
    if controller == "haproxytech":
        return HAPROXYTECH.get(key)
    scope = HAPROXY_INGRESS.get(key)
    if scope is None:
        return None
    return {"global": "c", "frontend": "c", "host": "ci", "tcp": "ci"}.get(scope, "cis")


def _places(read: str) -> str:
    return " or ".join(_WHERE[c] for c in read)


def rules_for_haproxy(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Annotation placement, time syntax, ConfigMap keys, and the tunnel timeout."""
    scope = websocket_scope(snap, options)
    served: set[tuple[str | None, str, str]] = set()
    for ing in snap.of_kind("Ingress"):
        controller = discover.ingress_controller(snap, ing)[0]
        if controller not in CONTROLLERS:
            continue
        yield from _annotations(ing, controller, "i")
        for rule in discover.ingress_rules(snap, ing):
            for backend in rule.backends:
                served.add((backend.namespace, backend.service, controller))
        if scope.route(ing):
            yield from _tunnel(snap, ing, controller, options)
    for ns, name, controller in sorted(served, key=lambda s: (s[0] or "", s[1], s[2])):
        svc = snap.find("Service", ns, name)
        if svc is not None:
            yield from _annotations(svc, controller, "s")
    for controller, cm in _configmaps(snap):
        yield from _configmap(cm, controller)


def _annotations(obj: KubeObject, controller: str, here: str) -> Iterator[Finding]:
    """Keys set where the controller does not read them, and times it will not parse."""
    for name, raw in obj.annotations.items():
        key = _split(name, controller)
        if key is None:
            continue
        read = _read_from(controller, key)
        if read is not None and here not in read:
            yield INGRESS_IGNORED.finding(
                CHECK_ID,
                f"{obj.ref}: {controller} reads {key} from {_places(read)} only; on "
                f"{_WHERE[here]} the annotation {name} is ignored.",
                resource=obj.resource(annotation_field(name)),
                evidence={"annotation": name, "read_from": _places(read)},
                fix=Fix(
                    summary=f"Move {key} to {_places(read)}.",
                    snippet=(
                        f'# ConfigMap of the controller\ndata:\n  {key}: "{raw}"\n'
                        if "c" in read and "s" not in read
                        else f"# Service\nmetadata:\n  annotations:\n    {name}: {raw}\n"
                    ),
                    language="yaml",
                ),
            )
        if key.startswith("timeout-") and parse_haproxy_time(raw) is None:
            yield TIME_INVALID.finding(
                CHECK_ID,
                f"{obj.ref}: {name}: {raw!r} is not an HAProxy time (a number of "
                "milliseconds, or with a unit: 30s, 1h).",
                resource=obj.resource(annotation_field(name)),
                evidence={"annotation": name, "value": raw},
                fix=Fix(summary="Write it as e.g. 3600s or 1h."),
            )


def _tunnel(
    snap: ClusterSnapshot, ing: KubeObject, controller: str, options: RuleOptions
) -> Iterator[Finding]:
    tunnel = haproxy_tunnel(snap, controller, ing)
    scope = websocket_scope(snap, options)
    if tunnel.seconds < scope.silence(ing.kind, ing.namespace, ing.name, options.expect_idle):
        yield TUNNEL_SHORT.finding(
            CHECK_ID,
            f"{ing.ref} ({controller}): timeout tunnel is {human_seconds(tunnel.seconds)}; "
            "it governs an upgraded connection, so a WebSocket silent for longer is cut.",
            resource=tunnel.resource or ing.resource(),
            evidence={"seconds": tunnel.seconds},
            fix=Fix(
                summary="Raise timeout-tunnel in the controller ConfigMap.",
                snippet='data:\n  timeout-tunnel: "1h"\n',
                language="yaml",
            ),
        )


def _configmaps(snap: ClusterSnapshot) -> list[tuple[str, KubeObject]]:
    """(controller, ConfigMap) for each controller's ConfigMap: the one its --configmap flag
    names; without a controller in the input, a ConfigMap named like the controller's that
    holds keys of one of them (judged against the controller it matches best)."""
    found: list[tuple[str, KubeObject]] = []
    named = False
    for controller in CONTROLLERS:
        for ns, name in backends.controller_configmaps(snap, controller):
            named = True
            cm = snap.find("ConfigMap", ns, name)
            if cm is not None:
                found.append((controller, cm))
    if named:
        return found
    for cm in snap.of_kind("ConfigMap"):
        if "haproxy" not in cm.name or "haproxy.cfg" in cm.data:
            continue
        tech = sum(k in HAPROXYTECH for k in cm.data)
        ingress = sum(k in HAPROXY_INGRESS for k in cm.data)
        if tech or ingress:
            found.append(("haproxytech" if tech >= ingress else "haproxy-ingress", cm))
    return found


def _configmap(cm: KubeObject, controller: str) -> Iterator[Finding]:
    table = HAPROXYTECH if controller == "haproxytech" else HAPROXY_INGRESS
    for key, value in cm.data.items():
        if key in table:
            if key.startswith("timeout-") and parse_haproxy_time(value) is None:
                yield TIME_INVALID.finding(
                    CHECK_ID,
                    f"{cm.ref}: {key}: {value!r} is not an HAProxy time.",
                    resource=cm.resource(field_path("data", key)),
                    evidence={"key": key, "value": value},
                    fix=Fix(summary="Write it as e.g. 3600s or 1h."),
                )
            elif _read_from(controller, key) is not None and "c" not in str(
                _read_from(controller, key)
            ):
                yield CONFIGMAP_KEY.finding(
                    CHECK_ID,
                    f"{cm.ref}: {controller} does not read {key} from its ConfigMap (only "
                    f"from {_places(str(_read_from(controller, key)))}).",
                    resource=cm.resource(field_path("data", key)),
                    evidence={"key": key, "controller": controller},
                    fix=Fix(summary=f"Set {key} as an annotation instead."),
                )
            continue
        right = REAL_KEY[controller].get(key)
        yield CONFIGMAP_KEY.finding(
            CHECK_ID,
            f"{cm.ref}: {controller} has no ConfigMap key {key!r}; it is ignored"
            + (f" (the key that does this is {right!r})." if right else "."),
            resource=cm.resource(field_path("data", key)),
            evidence={"key": key, "controller": controller, "suggestion": right},
            fix=Fix(
                summary=f"Use {right}."
                if right
                else f"Remove {key}, or find the key in the {controller} documentation.",
                snippet=f'data:\n  {right}: "{value}"\n' if right else None,
                language="yaml" if right else None,
            ),
        )
