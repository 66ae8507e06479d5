"""What changed between two versions of an object on a watch stream, as the attribution needs
it: pods terminating or restarting, endpoints removed, rollouts and scale-downs, HPAs,
Events, and configuration changes (status-only updates are not changes)."""

from __future__ import annotations

import copy
from typing import Any

from wsdoctor.watch.kubediff import (
    config_changes,
    endpoint_changes,
    event_change,
    hpa_changes,
    pod_changes,
    workload_changes,
)


def pod(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "chat-a", "namespace": "chat"},
            "spec": {"terminationGracePeriodSeconds": 30}, "status": status}


def test_a_pod_with_a_new_deletion_timestamp_is_terminating_with_its_grace() -> None:
    """deletionTimestamp set (grace from deletionGracePeriodSeconds): terminating."""
    old = pod()
    new = copy.deepcopy(old)
    new["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z",
                           deletionGracePeriodSeconds=5)
    [change] = pod_changes(old, new)
    assert (change.change, change.grace_s, change.pods) == ("terminating", 5.0, ("chat-a",))
    assert list(pod_changes(new, new)) == []


def test_a_container_restart_is_reported_with_why_it_ended() -> None:
    """restartCount going up: restarted, quoting the last termination (OOMKilled, 137)."""
    old = pod(containerStatuses=[{"name": "app", "restartCount": 0}])
    new = pod(containerStatuses=[{"name": "app", "restartCount": 1, "lastState": {
        "terminated": {"reason": "OOMKilled", "exitCode": 137}}}])
    [change] = pod_changes(old, new)
    assert change.change == "restarted" and "OOMKilled, exit 137" in change.detail


def test_a_deleted_pod_and_a_new_pod() -> None:
    """DELETED and ADDED pods are reported as such."""
    assert [c.change for c in pod_changes(pod(), None)] == ["deleted"]
    assert [c.change for c in pod_changes(None, pod())] == ["added"]


def slice_of(*endpoints: tuple[str, str, dict[str, bool]]) -> dict[str, Any]:
    return {"metadata": {"name": "chat-x", "namespace": "chat"}, "endpoints": [
        {"addresses": [ip], "conditions": cond, "targetRef": {"kind": "Pod", "name": name}}
        for name, ip, cond in endpoints]}


READY = {"ready": True, "serving": True, "terminating": False}


def test_an_endpoint_removed_or_terminating_names_its_pod() -> None:
    """An endpoint gone: endpoint_removed; one turned terminating: endpoint_not_ready."""
    before = slice_of(("chat-a", "10.0.0.1", READY), ("chat-b", "10.0.0.2", READY))
    removed = slice_of(("chat-b", "10.0.0.2", READY))
    [change] = endpoint_changes(before, removed)
    assert (change.change, change.pods) == ("endpoint_removed", ("chat-a",))
    terminating = slice_of(("chat-a", "10.0.0.1", {"ready": False, "terminating": True}),
                           ("chat-b", "10.0.0.2", READY))
    [change] = endpoint_changes(before, terminating)
    assert change.change == "endpoint_not_ready" and "terminating" in change.detail


def test_a_deployment_scaled_or_rolled_out() -> None:
    """replicas 3 → 2: scaled; the pod template changed: modified (a rollout)."""
    old = {"metadata": {"name": "chat"}, "spec": {"replicas": 3, "template": {"x": 1}}}
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 2
    assert [(c.change, c.detail) for c in workload_changes(old, scaled)] == \
        [("scaled", "replicas 3 → 2")]
    rolled = copy.deepcopy(old)
    rolled["spec"]["template"] = {"x": 2}
    assert [c.change for c in workload_changes(old, rolled)] == ["modified"]


def test_an_hpa_deciding_on_fewer_replicas() -> None:
    """status.desiredReplicas changing: scaled."""
    old = {"metadata": {"name": "chat"}, "status": {"desiredReplicas": 4}}
    new = {"metadata": {"name": "chat"}, "status": {"desiredReplicas": 2}}
    assert [c.detail for c in hpa_changes(old, new)] == ["desired replicas 4 → 2"]


def test_a_status_only_update_is_not_a_configuration_change() -> None:
    """An Ingress whose status (load balancer address) changes renders the same: no change;
    an annotation or data key changing is one, and names the key."""
    old = {"metadata": {"name": "chat", "annotations": {"a": "1"}}, "spec": {"rules": []},
           "status": {}}
    status_only = copy.deepcopy(old)
    status_only["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
    assert list(config_changes(old, status_only)) == []
    annotated = copy.deepcopy(old)
    annotated["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"] = "60"
    [change] = config_changes(old, annotated)
    assert "proxy-read-timeout" in change.detail
    cm_old, cm_new = {"data": {"a": "1"}}, {"data": {"a": "1", "worker-shutdown-timeout": "3s"}}
    [change] = config_changes(cm_old, cm_new)
    assert change.detail == "changed (worker-shutdown-timeout)"


def test_an_event_is_reported_once_and_again_only_when_its_count_grows() -> None:
    """A Killing Event about a pod names the pod; the same Event unchanged is not repeated."""
    event = {"involvedObject": {"kind": "Pod", "namespace": "chat", "name": "chat-a"},
             "reason": "Killing", "message": "Stopping container app", "count": 1}
    change = event_change(event, None)
    assert change is not None and change.pods == ("chat-a",)
    assert change.detail == "Killing: Stopping container app"
    assert event_change(event, event) is None
    assert event_change({**event, "count": 2}, event) is not None
