"""The cluster rule registry: every configuration rule and the codes they emit, in the
order findings are reported (the path: routes, controllers, mesh, backends)."""

from __future__ import annotations

import traceback
from collections.abc import Iterator

from wsdoctor.codes import Code
from wsdoctor.kube import (
    absent,
    affinity,
    istio_mesh,
    rules_drain,
    rules_gateway,
    rules_haproxy,
    rules_hosts,
    rules_istio,
    rules_linkerd,
    rules_nginx,
    rules_nginx_inc,
    rules_traefik,
    rules_typos,
    rules_workloads,
    shapes,
    websocket,
)
from wsdoctor.kube.rulebase import CHECK_ID, ClusterRule, RuleOptions
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject
from wsdoctor.kube.websocket import RouteJudgement
from wsdoctor.models import Finding

CONFIG_RULES: tuple[ClusterRule, ...] = (
    rules_hosts.rules_for_route_hosts,
    rules_typos.rules_for_annotation_typos,
    rules_gateway.rules_for_gateway_api,
    rules_nginx.rules_for_ingress_nginx,
    rules_nginx_inc.rules_for_nginx_inc,
    rules_traefik.rules_for_traefik,
    rules_haproxy.rules_for_haproxy,
    rules_istio.rules_for_istio,
    rules_linkerd.rules_for_linkerd,
    rules_workloads.rules_for_backends,
    rules_drain.rules_for_workloads,
    rules_drain.rules_for_pods,
    affinity.rules_for_affinity,
    websocket.not_websocket_note,
)

CONFIG_CODES: tuple[Code, ...] = (
    *rules_hosts.CODES,
    *rules_typos.CODES,
    *rules_gateway.CODES,
    *rules_nginx.CODES,
    *rules_nginx_inc.CODES,
    *rules_traefik.CODES,
    *rules_haproxy.CODES,
    *rules_istio.CODES,
    *istio_mesh.CODES,
    *rules_linkerd.CODES,
    *rules_workloads.CODES,
    *rules_drain.CODES,
    *affinity.CODES,
    *shapes.CODES,
    *absent.CODES,
    *websocket.CODES,
)


def judge_snapshot(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Every configuration finding for the snapshot, each (code, resource, detail) once.

    WebSocket-specific rules judge only the WebSocket routes (:mod:`wsdoctor.kube.websocket`;
    live, ``options.serving``); correctness rules judge every route. Malformed objects are
    reported and left out; a rule that still crashes is reported (``WSD-INTERNAL-RULE-ERROR``)
    without stopping the other rules or objects."""
    clean, _, malformed = shapes.split_malformed(snap)
    seen: set[tuple[str, str, str]] = set()
    for rule in CONFIG_RULES:
        for finding in _run_rule(rule, clean, options):
            key = (finding.code, str(finding.resource), finding.detail)
            if key not in seen:
                seen.add(key)
                yield finding
    yield from malformed


def _run_rule(rule: ClusterRule, snap: ClusterSnapshot, options: RuleOptions) -> list[Finding]:
    """The rule's findings; when it crashes, find the object it crashes on (by leaving out
    one object at a time), report that, and keep the findings on every other object."""
    try:
        return list(rule(snap, options))
    except Exception as exc:  # a bug in a rule must not stop the others
        error = (f"{type(exc).__name__}: {exc}", traceback.format_exc()[-2000:])
    for obj in snap.objects:
        rest = snap.model_copy(update={"objects": [o for o in snap.objects if o is not obj]})
        try:
            found = list(rule(rest, options))
        except Exception:  # not this object: try the next one
            continue
        return [*found, _rule_error(rule, error, obj)]
    return [_rule_error(rule, error, None)]


def _rule_error(rule: ClusterRule, error: tuple[str, str], obj: KubeObject | None) -> Finding:
    """``WSD-INTERNAL-RULE-ERROR`` naming the rule and, when known, the object."""
    from wsdoctor.runner import RULE_ERROR

    name = getattr(rule, "__name__", "rule")
    where = f" on {obj.ref}" if obj is not None else ""
    kept = "its findings on the other objects are kept. " if obj is not None else ""
    return RULE_ERROR.finding(
        CHECK_ID,
        f"{name} crashed{where}: {error[0]}; {kept}"
        "Please report this with the JSON report attached.",
        evidence={"traceback": error[1]},
        resource=obj.resource() if obj is not None else None,
    )


def websocket_routes(snap: ClusterSnapshot, options: RuleOptions) -> list[RouteJudgement]:
    """Every well-formed route and whether it was judged to carry WebSockets, and why."""
    clean = shapes.split_malformed(snap)[0]
    try:
        return list(websocket.websocket_scope(clean, options).judgements)
    except Exception:  # a bug there is reported by the rules that use it (RULE-ERROR)
        return []
