"""What the cluster's controllers do during the events that cut WebSockets, played on the fake
API (:class:`~wsdoctor.lab.kubeapi.FakeKubeAPI`) so that watch streams see them as from a
real cluster: a pod terminating (deletionTimestamp, its endpoint removed, a ``Killing``
Event), a rollout's scale-down Event, a configuration change that makes the ingress
controller reload."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime
from typing import Any

from wsdoctor.lab.kubeapi import FakeKubeAPI

_numbers = itertools.count(1)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _find(api: FakeKubeAPI, api_version: str, kind: str, namespace: str | None,
          name: str) -> dict[str, Any]:
    rt = api.type_of(api_version, kind)
    found = api.get(rt, namespace, name) if rt is not None else None
    if found is None:
        raise KeyError(f"{kind} {namespace}/{name} is not in the fake cluster")
    return copy.deepcopy(found)


def record_event(api: FakeKubeAPI, kind: str, namespace: str, name: str, reason: str,
                 message: str, *, event_type: str = "Normal", source: str = "kubelet") -> None:
    """A core/v1 Event about an object, as a controller records it."""
    now = _now()
    api.create({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{name}.{next(_numbers):016x}", "namespace": namespace},
        "involvedObject": {"kind": kind, "namespace": namespace, "name": name,
                           "apiVersion": "apps/v1" if kind in ("Deployment", "ReplicaSet")
                           else "v1"},
        "reason": reason, "message": message, "type": event_type, "count": 1,
        "firstTimestamp": now, "lastTimestamp": now, "source": {"component": source},
    })


def terminate_pod(api: FakeKubeAPI, namespace: str, name: str, *, grace: int = 30,
                  slice_name: str | None = None) -> None:
    """A pod leaving (a rollout or scale-down): the API server sets its deletionTimestamp, the
    EndpointSlice controller removes its endpoint, the kubelet records ``Killing``."""
    pod = _find(api, "v1", "Pod", namespace, name)
    pod["metadata"]["deletionTimestamp"] = _now()
    pod["metadata"]["deletionGracePeriodSeconds"] = grace
    api.update(pod)
    for slice_ in [o for o in api.objects if o.get("kind") == "EndpointSlice"
                   and o["metadata"].get("namespace") == namespace
                   and (slice_name is None or o["metadata"]["name"] == slice_name)]:
        kept = [e for e in slice_.get("endpoints") or []
                if (e.get("targetRef") or {}).get("name") != name]
        if len(kept) != len(slice_.get("endpoints") or []):
            slice_["endpoints"] = kept
            api.update(slice_)
    container = (pod.get("spec", {}).get("containers") or [{}])[0].get("name", "app")
    record_event(api, "Pod", namespace, name, "Killing", f"Stopping container {container}")


def scale_down(api: FakeKubeAPI, namespace: str, deployment: str, replicas: int) -> None:
    """A Deployment scaled down (or a rollout step): its spec and the controller's Event."""
    obj = _find(api, "apps/v1", "Deployment", namespace, deployment)
    before = obj["spec"].get("replicas")
    obj["spec"]["replicas"] = replicas
    api.update(obj)
    record_event(api, "Deployment", namespace, deployment, "ScalingReplicaSet",
                 f"Scaled down replica set {deployment} from {before} to {replicas}",
                 source="deployment-controller")


def change_configmap(api: FakeKubeAPI, namespace: str, name: str, **data: str) -> None:
    """Change keys of a ConfigMap (the ingress controller's: it reloads)."""
    obj = _find(api, "v1", "ConfigMap", namespace, name)
    obj.setdefault("data", {}).update(data)
    api.update(obj)
