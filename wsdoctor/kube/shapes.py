"""The shapes the cluster rules rely on: which fields must be a mapping or a list.

An object with a field of the wrong type (``backend: oops``, ``containers: "x"``) is reported
as ``WSD-K8S-MALFORMED`` and left out of the rules, so one bad object neither crashes the
check nor hides the findings on the others."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wsdoctor.codes import Code
from wsdoctor.kube.rulebase import CHECK_ID
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, field_path
from wsdoctor.models import Finding, Fix, Status

MALFORMED = Code(
    "WSD-K8S-MALFORMED",
    Status.FAIL,
    "A Kubernetes object has a field of the wrong type and was not checked",
)
CODES: tuple[Code, ...] = (MALFORMED,)

#: ``{}`` must be a mapping, ``[]`` a list; a list's item shape is its only element.
Shape = dict[str, Any] | list[Any]

_SELECTOR: Shape = {"matchLabels": {}, "matchExpressions": [{"values": []}]}
_BACKEND: Shape = {"service": {"port": {}}, "resource": {}}
_POD: Shape = {
    "containers": [
        {
            "ports": [{}],
            "args": [],
            "command": [],
            "env": [{}],
            "readinessProbe": {},
            "lifecycle": {"preStop": {}},
        }
    ],
    "initContainers": [{"ports": [{}]}],
}
_WORKLOAD: Shape = {
    "spec": {"selector": _SELECTOR, "template": {"metadata": {"labels": {}}, "spec": _POD}}
}
_HTTP_ROUTE_RULE: Shape = {"matches": [{"path": {}}], "backendRefs": [{}], "timeouts": {}}
_ISTIO_ROUTE: Shape = {
    "match": [{"uri": {}, "authority": {}, "headers": {}}],
    "route": [{"destination": {"port": {}}}],
}
_TRAFFIC_POLICY: Shape = {
    "connectionPool": {"tcp": {}, "http": {}},
    "outlierDetection": {},
    "loadBalancer": {"consistentHash": {"httpCookie": {}}},
    "portLevelSettings": [{}],
}
_TRAEFIK_ROUTE: Shape = {"services": [{"sticky": {"cookie": {}}}], "middlewares": [{}]}

#: What the rules read, per kind (fields absent or null are fine: the rules default them).
SHAPES: dict[str, Shape] = {
    "Ingress": {
        "spec": {
            "defaultBackend": _BACKEND,
            "backend": _BACKEND,
            "rules": [{"http": {"paths": [{"backend": _BACKEND}]}}],
            "tls": [{"hosts": []}],
        }
    },
    "IngressClass": {"spec": {}},
    "GatewayClass": {"spec": {}},
    "Gateway": {
        "spec": {
            "listeners": [{"tls": {"certificateRefs": [{}]}, "allowedRoutes": {}}],
            "servers": [{"port": {}, "hosts": [], "tls": {}}],
            "selector": {},
        }
    },
    "HTTPRoute": {"spec": {"parentRefs": [{}], "hostnames": [], "rules": [_HTTP_ROUTE_RULE]}},
    "GRPCRoute": {"spec": {"parentRefs": [{}], "hostnames": [], "rules": [_HTTP_ROUTE_RULE]}},
    "IngressRoute": {"spec": {"routes": [_TRAEFIK_ROUTE], "tls": {}, "entryPoints": []}},
    "IngressRouteTCP": {"spec": {"routes": [_TRAEFIK_ROUTE], "tls": {}}},
    "Middleware": {"spec": {"headers": {}, "chain": {"middlewares": [{}]}}},
    "ServersTransport": {"spec": {"forwardingTimeouts": {}}},
    "VirtualService": {
        "spec": {
            "hosts": [],
            "gateways": [],
            "http": [_ISTIO_ROUTE],
            "tcp": [_ISTIO_ROUTE],
            "tls": [_ISTIO_ROUTE],
        }
    },
    "DestinationRule": {"spec": {"trafficPolicy": _TRAFFIC_POLICY, "subsets": [{}]}},
    "EnvoyFilter": {"spec": {"configPatches": [{}]}},
    "Service": {"spec": {"ports": [{}], "selector": {}, "sessionAffinityConfig": {}}},
    "EndpointSlice": {"endpoints": [{"conditions": {}, "targetRef": {}}], "ports": [{}]},
    "Pod": {"spec": _POD, "status": {"containerStatuses": [{}]}},
    "Deployment": _WORKLOAD,
    "StatefulSet": _WORKLOAD,
    "DaemonSet": _WORKLOAD,
    "ReplicaSet": _WORKLOAD,
    "HorizontalPodAutoscaler": {
        "spec": {"scaleTargetRef": {}, "behavior": {"scaleDown": {"policies": [{}]}}}
    },
    "PodDisruptionBudget": {"spec": {"selector": _SELECTOR}},
    "NetworkPolicy": {
        "spec": {
            "podSelector": _SELECTOR,
            "policyTypes": [],
            "ingress": [
                {
                    "from": [{"podSelector": _SELECTOR, "namespaceSelector": _SELECTOR}],
                    "ports": [{}],
                }
            ],
        }
    },
    "Server": {"spec": {"podSelector": _SELECTOR}},
    "ServerAuthorization": {"spec": {"server": {}, "client": {}}},
    "AuthorizationPolicy": {"spec": {"targetRef": {}, "requiredAuthenticationRefs": [{}]}},
    "BackendConfig": {"spec": {}},
    "ConfigMap": {"data": {}},
}

#: Metadata every kind must get right (a string for labels is dropped when loading).
_METADATA: Shape = {"metadata": {"labels": {}, "annotations": {}}}


def _type_name(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _walk(value: Any, shape: Shape, path: tuple[str | int, ...]) -> Iterator[tuple[str, str]]:
    """(field, problem) where ``value`` does not have ``shape``; null counts as absent."""
    if value is None:
        return
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            yield field_path(*path), f"must be a mapping, not {_type_name(value)}"
            return
        for key, sub in shape.items():
            yield from _walk(value.get(key), sub, (*path, key))
    else:
        if not isinstance(value, list):
            yield field_path(*path), f"must be a list, not {_type_name(value)}"
            return
        if shape:
            for i, item in enumerate(value):
                yield from _walk(item, shape[0], (*path, i))


def _view(obj: KubeObject) -> dict[str, Any]:
    """The object as the API would return it; a spec, status or metadata that was not a
    mapping is kept in ``body`` by :meth:`KubeObject.from_dict`, so it is seen here."""
    view: dict[str, Any] = {"spec": obj.spec, "status": obj.status}
    view.update(obj.body)
    return view


def shape_problems(obj: KubeObject) -> list[tuple[str, str]]:
    """(field, problem) for every field of ``obj`` the rules would misread."""
    view = _view(obj)
    problems = list(_walk(view, _METADATA, ()))
    problems += _walk(view, SHAPES.get(obj.kind, {"spec": {}}), ())
    return problems


def malformed_finding(obj: KubeObject, problems: list[tuple[str, str]]) -> Finding:
    """One finding per object, naming its first bad field (and how many more there are)."""
    field, problem = problems[0]
    more = f" ({len(problems) - 1} more field(s) also malformed)" if len(problems) > 1 else ""
    return MALFORMED.finding(
        CHECK_ID,
        f"{obj.ref}: {field} {problem}{more}; the object was not checked.",
        evidence={"fields": [f"{f}: {p}" for f, p in problems[:10]]},
        resource=obj.resource(field),
        fix=Fix(
            summary=f"Give {field} the type the {obj.kind} API expects "
            "(kubectl explain shows it), then run wsdoctor again."
        ),
    )


def split_malformed(
    snap: ClusterSnapshot,
) -> tuple[ClusterSnapshot, list[KubeObject], list[Finding]]:
    """The snapshot without malformed objects, those objects, and a finding for each."""
    good: list[KubeObject] = []
    bad: list[KubeObject] = []
    findings: list[Finding] = []
    for obj in snap.objects:
        problems = shape_problems(obj)
        if problems:
            bad.append(obj)
            findings.append(malformed_finding(obj, problems))
        else:
            good.append(obj)
    if not bad:
        return snap, [], []
    # An unread object may be the one another names: its kind no longer counts as fully
    # listed, so no rule calls that object missing.
    unread = {o.kind for o in bad}
    listed = [k for k in snap.listed_kinds if k not in unread]
    return snap.model_copy(update={"objects": good, "listed_kinds": listed}), bad, findings
