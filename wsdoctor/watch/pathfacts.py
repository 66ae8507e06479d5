"""From the cluster check's observation to the facts the watch's attribution names things with:
the controller and its drain time after a reload, the configured timeouts on the path, and how
each backend pod ends (preStop hook, grace period). Pure."""

from __future__ import annotations

from wsdoctor.checks.cluster import ClusterObservation
from wsdoctor.kube import backends
from wsdoctor.kube.rulebase import parse_go_duration, parse_haproxy_time
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject
from wsdoctor.watch.causes import POD_GRACE_DEFAULT_S, PathContext, PodFacts

#: Each controller's setting that bounds how long the old configuration keeps connections after
#: a reload: (ConfigMap key, default seconds, parser). KNOWLEDGE.md §1 (AFTER_RELOAD entries).
SHUTDOWN_SETTINGS = {
    "ingress-nginx": ("worker-shutdown-timeout", 240.0, parse_go_duration),
    "haproxytech": ("hard-stop-after", 1800.0, parse_haproxy_time),
}


def shutdown_timeout(snap: ClusterSnapshot, controller: str | None) -> tuple[float, str] | None:
    """(seconds, description) of the controller's drain time after a reload, if known."""
    if controller not in SHUTDOWN_SETTINGS:
        return None
    key, default, parse = SHUTDOWN_SETTINGS[controller]
    for namespace, name in backends.controller_configmaps(snap, controller):
        cm = snap.find("ConfigMap", namespace, name)
        raw = cm.data.get(key) if cm is not None else None
        value = parse(raw) if raw is not None else None
        if value is not None:
            return value, f"{key} {value:g} s in ConfigMap {namespace}/{name}"
    return default, f"{key} {default:g} s ({controller}'s default)"


def _pod_facts(pod: KubeObject) -> PodFacts:
    containers = pod.spec.get("containers") or []
    pre_stop = any(isinstance(c, dict) and ((c.get("lifecycle") or {}).get("preStop"))
                   for c in containers)
    grace = pod.spec.get("terminationGracePeriodSeconds")
    return PodFacts(pre_stop=bool(pre_stop),
                    grace_s=float(grace) if isinstance(grace, int | float) else
                    POD_GRACE_DEFAULT_S)


def path_context(obs: ClusterObservation) -> PathContext:
    """The facts of one cluster observation."""
    snap = obs.snapshot
    shutdown = shutdown_timeout(snap, obs.controller)
    wanted = {pod for route in obs.routes for backend in route.backends for pod in backend.pods}
    pods = {p.name: _pod_facts(p) for p in snap.of_kind("Pod") if p.name in wanted}
    return PathContext(
        controller=obs.controller,
        shutdown_s=shutdown[0] if shutdown else None,
        shutdown_setting=shutdown[1] if shutdown else None,
        timeouts=tuple(obs.timeouts),
        pods=pods,
    )
