"""What changed, between two versions of an object seen on a watch stream, that can cut a
WebSocket: a pod terminating or restarting, an endpoint removed, a rollout or a scale-down, an
Event such as Killing or Evicted, a change that makes the ingress controller reload. Pure:
``(old, new)`` raw objects (``None`` for added or deleted) to :class:`Change` values."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import field
from typing import Any

from wsdoctor.records import dataclass
from wsdoctor.watch.model import ClusterChange

#: Metadata that changes without changing what a controller renders.
_NOISE_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration",
                                "deployment.kubernetes.io/revision"})


@dataclass(frozen=True)
class Change:
    """One change worth recording (a :class:`~wsdoctor.watch.model.ClusterEvent` without its
    time and object, which the stream adds)."""

    change: ClusterChange
    detail: str
    pods: tuple[str, ...] = ()
    reason: str | None = None
    grace_s: float | None = None
    subject: tuple[str, str | None, str] | None = None
    """(kind, namespace, name) when the change is about another object (an Event's)."""
    extra: dict[str, Any] = field(default_factory=dict)


def _meta(obj: dict[str, Any] | None) -> dict[str, Any]:
    meta = (obj or {}).get("metadata")
    return meta if isinstance(meta, dict) else {}


def _dict(obj: dict[str, Any] | None, key: str) -> dict[str, Any]:
    value = (obj or {}).get(key)
    return value if isinstance(value, dict) else {}


def _name(obj: dict[str, Any] | None) -> str:
    return str(_meta(obj).get("name") or "")


def _restarts(pod: dict[str, Any] | None) -> dict[str, tuple[int, str]]:
    """Container name → (restart count, why it last ended)."""
    out: dict[str, tuple[int, str]] = {}
    for status in _dict(pod, "status").get("containerStatuses") or []:
        if not isinstance(status, dict):
            continue
        last = (status.get("lastState") or {}).get("terminated") or {}
        why = f"{last.get('reason') or 'terminated'}, exit {last.get('exitCode')}" if last else ""
        out[str(status.get("name"))] = (int(status.get("restartCount") or 0), why)
    return out


def _ready(pod: dict[str, Any] | None) -> bool | None:
    for cond in _dict(pod, "status").get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return None


def pod_changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> Iterator[Change]:
    """A pod added, starting to terminate, deleted, restarting a container, or not ready."""
    name = _name(new or old)
    if new is None:
        yield Change("deleted", "deleted", pods=(name,))
        return
    if old is None:
        yield Change("added", "created", pods=(name,))
        return
    meta = _meta(new)
    if meta.get("deletionTimestamp") and not _meta(old).get("deletionTimestamp"):
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = _dict(new, "spec").get("terminationGracePeriodSeconds")
        grace_s = float(grace) if isinstance(grace, int | float) else None
        text = f" (grace {grace_s:g} s)" if grace_s is not None else ""
        yield Change("terminating", f"deletionTimestamp set{text}", pods=(name,),
                     grace_s=grace_s)
    before, after = _restarts(old), _restarts(new)
    for container, (count, why) in after.items():
        if count > before.get(container, (count, ""))[0]:
            yield Change("restarted", f"container {container} restarted ({why or 'restart '}"
                         f"{'' if why else str(count)})", pods=(name,))
    if _ready(old) is True and _ready(new) is False and not meta.get("deletionTimestamp"):
        yield Change("modified", "became not ready", pods=(name,))


def _endpoints(slice_: dict[str, Any] | None) -> dict[str, tuple[str, bool, bool]]:
    """Pod (or address) → (address, ready, terminating) of an EndpointSlice."""
    out: dict[str, tuple[str, bool, bool]] = {}
    for endpoint in (slice_ or {}).get("endpoints") or []:
        if not isinstance(endpoint, dict):
            continue
        addresses = endpoint.get("addresses") or ["?"]
        ref = endpoint.get("targetRef") or {}
        key = str(ref.get("name") or addresses[0])
        cond = endpoint.get("conditions") or {}
        out[key] = (str(addresses[0]), cond.get("ready") is not False,
                    cond.get("terminating") is True)
    return out


def endpoint_changes(old: dict[str, Any] | None, new: dict[str, Any] | None
                     ) -> Iterator[Change]:
    """Endpoints removed from, or no longer ready in, an EndpointSlice; endpoints added."""
    before, after = _endpoints(old), _endpoints(new)
    for pod, (address, ready, terminating) in sorted(before.items()):
        now = after.get(pod)
        if now is None:
            yield Change("endpoint_removed", f"endpoint {address} (Pod {pod}) removed",
                         pods=(pod,))
        elif (ready and not now[1]) or (now[2] and not terminating):
            state = "terminating" if now[2] else "not ready"
            yield Change("endpoint_not_ready", f"endpoint {address} (Pod {pod}) {state}",
                         pods=(pod,))
    for pod, (address, _, _) in sorted(after.items()):
        if pod not in before and old is not None:
            yield Change("endpoint_added", f"endpoint {address} (Pod {pod}) added", pods=(pod,))


def _template(obj: dict[str, Any] | None) -> str:
    return json.dumps(_dict(obj, "spec").get("template") or {}, sort_keys=True)


def workload_changes(old: dict[str, Any] | None, new: dict[str, Any] | None
                     ) -> Iterator[Change]:
    """A Deployment, ReplicaSet or StatefulSet scaled, or its pod template changed (a
    rollout)."""
    if old is None or new is None:
        if old is not None:
            yield Change("deleted", "deleted")
        return
    replicas = (_dict(old, "spec").get("replicas"), _dict(new, "spec").get("replicas"))
    if replicas[0] != replicas[1]:
        yield Change("scaled", f"replicas {replicas[0]} → {replicas[1]}")
    if _template(old) != _template(new):
        yield Change("modified", "pod template changed (a rollout)")


def hpa_changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> Iterator[Change]:
    """An HPA deciding on another number of replicas."""
    if old is None or new is None:
        return
    desired = (_dict(old, "status").get("desiredReplicas"),
               _dict(new, "status").get("desiredReplicas"))
    if desired[0] != desired[1]:
        yield Change("scaled", f"desired replicas {desired[0]} → {desired[1]}")


def _rendered(obj: dict[str, Any] | None) -> str:
    """What a controller renders from an object: spec, data and annotations (not status)."""
    annotations = {k: v for k, v in (_meta(obj).get("annotations") or {}).items()
                   if k not in _NOISE_ANNOTATIONS}
    return json.dumps({"spec": (obj or {}).get("spec"), "data": (obj or {}).get("data"),
                       "annotations": annotations}, sort_keys=True, default=str)


def config_changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> Iterator[Change]:
    """A route or the controller's ConfigMap changed in what the controller renders (a
    change that makes ingress-nginx reload); status-only updates are not changes."""
    if old is None and new is None:
        return
    if old is None:
        yield Change("added", "created")
        return
    if new is None:
        yield Change("deleted", "deleted")
        return
    if _rendered(old) == _rendered(new):
        return
    keys = sorted({*(_dict(old, "data")), *(_dict(new, "data"))})
    changed = [k for k in keys if _dict(old, "data").get(k) != _dict(new, "data").get(k)]
    old_ann = _meta(old).get("annotations") or {}
    new_ann = _meta(new).get("annotations") or {}
    changed += [k for k in sorted({*old_ann, *new_ann}) if old_ann.get(k) != new_ann.get(k)
                and k not in _NOISE_ANNOTATIONS]
    if (old or {}).get("spec") != (new or {}).get("spec"):
        changed.append("spec")
    yield Change("modified", f"changed ({', '.join(changed[:6])})" if changed else "changed")


def event_change(obj: dict[str, Any], old: dict[str, Any] | None) -> Change | None:
    """A Kubernetes Event (new, or seen again with a higher count), about its object."""
    if old is not None and (old.get("count") or 1) >= (obj.get("count") or 1):
        return None
    involved = obj.get("involvedObject") or obj.get("regarding") or {}
    kind = str(involved.get("kind") or "")
    name = str(involved.get("name") or "")
    reason = str(obj.get("reason") or "") or None
    message = " ".join(str(obj.get("message") or obj.get("note") or "").split())[:300]
    return Change("event", f"{reason}: {message}" if reason else message,
                  pods=(name,) if kind == "Pod" else (), reason=reason,
                  subject=(kind, involved.get("namespace"), name))
