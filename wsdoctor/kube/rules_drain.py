"""WebSocket-specific rules on the workloads behind WebSocket routes (Deployments,
StatefulSets and any other owner alike): replicas, readiness, draining on shutdown, a
PodDisruptionBudget, HPA scale-down, restarts. A rollout or a node drain closes every
WebSocket a pod holds; these say whether that happens gracefully."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from wsdoctor.codes import Code
from wsdoctor.kube import backends
from wsdoctor.kube.rulebase import CHECK_ID, RuleOptions
from wsdoctor.kube.rules_workloads import backend_services, labels_of
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, field_path
from wsdoctor.kube.websocket import websocket_scope
from wsdoctor.models import Finding, Fix, Status

SINGLE_REPLICA = Code(
    "WSD-K8S-SINGLE-REPLICA", Status.WARN, "A single replica serves the WebSocket backend"
)
NO_READINESS = Code("WSD-K8S-NO-READINESS-PROBE", Status.WARN, "Container has no readiness probe")
NO_DRAIN = Code(
    "WSD-K8S-NO-DRAIN", Status.WARN, "Pods are stopped without time to drain WebSockets"
)
NO_PDB = Code("WSD-K8S-NO-PDB", Status.WARN, "No PodDisruptionBudget covers the backend")
HPA_SCALEDOWN = Code(
    "WSD-K8S-HPA-SCALEDOWN", Status.WARN, "HPA scales down faster than WebSockets drain"
)
RESTARTS = Code("WSD-K8S-POD-RESTARTS", Status.WARN, "Backend pods restart")
CODES = (SINGLE_REPLICA, NO_READINESS, NO_DRAIN, NO_PDB, HPA_SCALEDOWN, RESTARTS)

#: Seconds a pod needs after its preStop pause to close its WebSockets with a close frame.
MIN_DRAIN = 10
DEFAULT_GRACE = 30
REPLICATED = ("Deployment", "StatefulSet", "ReplicaSet")
_SLEEP = re.compile(r"\bsleep\s+(\d+(?:\.\d+)?)([smh]?)\b")


def prestop_seconds(container: dict[str, Any]) -> float | None:
    """How long a container's preStop hook pauses: ``sleep: {seconds}`` (Kubernetes 1.29+)
    or ``exec: sleep N``; 0 for a hook whose length cannot be read; None without a hook."""
    hook = (container.get("lifecycle") or {}).get("preStop")
    if not isinstance(hook, dict) or not hook:
        return None
    sleep = hook.get("sleep")
    if isinstance(sleep, dict) and isinstance(sleep.get("seconds"), int | float):
        return float(sleep["seconds"])
    command = " ".join(str(part) for part in (hook.get("exec") or {}).get("command") or [])
    match = _SLEEP.search(command)
    if match:
        unit = {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
        return float(match.group(1)) * unit
    return 0.0


def _serving_containers(
    snap: ClusterSnapshot, owner: KubeObject, tpl: dict[str, Any]
) -> list[tuple[int, dict[str, Any]]]:
    """(index, container) of the containers the Services send to: those declaring a
    targetPort of a Service that selects the pod; the first container when none does."""
    targets: set[str | int] = set()
    for svc in backend_services(snap):
        if svc.namespace == owner.namespace and backends.selector_matches(
            svc.spec.get("selector") or {}, labels_of(tpl)
        ):
            targets |= backends.port_targets(svc, None)
    containers = list(enumerate((tpl.get("spec") or {}).get("containers") or []))
    return backends.declaring_containers(tpl, targets) or containers[:1]


def single_instance(snap: ClusterSnapshot, owner: KubeObject, tpl: dict[str, Any]) -> bool:
    """A workload made to run one pod at a time: ``strategy: Recreate``, a shared
    PersistentVolumeClaim that is ReadWriteOnce (or not in the input: most are), or a
    StatefulSet of one replica whose pod keeps its state in a ReadWriteOnce claim of its
    own. Running more replicas, a PDB or a preStop pause to hand over to another pod do not
    apply."""
    if (owner.spec.get("strategy") or {}).get("type") == "Recreate":
        return True
    if owner.kind == "StatefulSet" and owner.spec.get("replicas", 1) == 1:
        # each pod keeps its state in its own claim: a second replica is a second, empty
        # instance, and a StatefulSet replaces its pod in place (no surge to hand over to)
        for claim in owner.spec.get("volumeClaimTemplates") or []:
            modes = (claim.get("spec") or {}).get("accessModes") or []
            if not {"ReadWriteMany", "ReadOnlyMany"} & set(modes):
                return True
    for volume in (tpl.get("spec") or {}).get("volumes") or []:
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if not claim:
            continue
        pvc = snap.find("PersistentVolumeClaim", owner.namespace, str(claim))
        modes = (pvc.spec.get("accessModes") or []) if pvc is not None else []
        if not {"ReadWriteMany", "ReadOnlyMany"} & set(modes):
            return True
    return False


def rules_for_workloads(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Replicas, readiness, drain, PDB and HPA of each workload behind a WebSocket route."""
    scope = websocket_scope(snap, options)
    seen: set[tuple[str, str | None, str]] = set()
    for svc in backend_services(snap):
        if not scope.service(svc.namespace, svc.name):
            continue
        templates = backends.selected_templates(snap, svc.namespace, svc.spec.get("selector") or {})
        for owner, tpl, prefix in [t for t in templates if t[0].kind != "Pod"] or templates:
            key = (owner.kind, owner.namespace, owner.name)
            if key in seen:
                continue
            seen.add(key)
            hpa = _hpa_for(snap, owner)
            single = single_instance(snap, owner, tpl)
            replicas = (hpa or owner).spec.get("minReplicas" if hpa else "replicas", 1)
            if owner.kind in REPLICATED and not single:
                yield from _replicas(owner, hpa)
            if hpa is not None:
                yield from _hpa(hpa)
            yield from _containers(snap, owner, tpl, prefix, single)
            if owner.kind != "Pod" and not single and replicas != 1:
                yield from _pdb(snap, owner, tpl)


def _hpa_for(snap: ClusterSnapshot, owner: KubeObject) -> KubeObject | None:
    for hpa in snap.in_namespace("HorizontalPodAutoscaler", owner.namespace):
        ref = hpa.spec.get("scaleTargetRef") or {}
        if ref.get("name") == owner.name and ref.get("kind", owner.kind) == owner.kind:
            return hpa
    return None


def _replicas(owner: KubeObject, hpa: KubeObject | None) -> Iterator[Finding]:
    count = owner.spec.get("replicas", 1)
    if hpa is not None:
        count = hpa.spec.get("minReplicas", 1)
    if isinstance(count, int) and count == 1:
        yield SINGLE_REPLICA.finding(
            CHECK_ID,
            f"{owner.ref} runs one replica"
            + (f" (its HPA {hpa.name} may scale to one)" if hpa is not None else "")
            + ": every rollout or eviction drops all WebSockets at once.",
            resource=(hpa or owner).resource("spec.minReplicas" if hpa else "spec.replicas"),
            fix=Fix(
                summary="Run at least two replicas.",
                snippet="spec:\n  replicas: 2\n",
                language="yaml",
            ),
        )


def _containers(
    snap: ClusterSnapshot, owner: KubeObject, tpl: dict[str, Any], prefix: str, single: bool
) -> Iterator[Finding]:
    spec = tpl.get("spec") or {}
    serving = _serving_containers(snap, owner, tpl)
    for i, c in serving:
        if not c.get("readinessProbe"):
            yield NO_READINESS.finding(
                CHECK_ID,
                f"{owner.ref}: container {c.get('name')} has no readiness probe; pods get "
                "upgrades before the server listens, and keep them while shutting down.",
                resource=owner.resource(f"{prefix}.containers[{i}].readinessProbe"),
                fix=Fix(
                    summary="Add a readiness probe on the WebSocket server's port.",
                    snippet="readinessProbe:\n  tcpSocket:\n    port: http\n  periodSeconds: 5\n",
                    language="yaml",
                ),
            )
    grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
    if not isinstance(grace, int | float):
        return
    pauses = [(i, prestop_seconds(c)) for i, c in serving]
    index, pause = max(pauses, key=lambda p: p[1] or 0) if pauses else (0, None)
    if pause is None and single:
        return
    if pause is None:
        problem = (
            "no preStop hook: on a rollout the pod gets SIGTERM while endpoints still send it "
            "upgrades"
        )
        where = f"{prefix}.containers[{index}].lifecycle"
    elif grace - pause < MIN_DRAIN:
        problem = (
            f"terminationGracePeriodSeconds {grace:g} leaves {max(grace - pause, 0):g} s after "
            f"the {pause:g} s preStop pause to close WebSockets (the grace period includes "
            "the hook)"
        )
        where = f"{prefix}.terminationGracePeriodSeconds"
    else:
        return
    yield NO_DRAIN.finding(
        CHECK_ID,
        f"{owner.ref}: {problem}; open WebSockets are cut without a close frame.",
        resource=owner.resource(where),
        evidence={"terminationGracePeriodSeconds": grace, "preStop_seconds": pause},
        fix=Fix(
            summary="Pause in preStop until endpoints drop the pod, and give the grace period "
            f"that pause plus time to close WebSockets (at least {MIN_DRAIN} s more).",
            snippet="terminationGracePeriodSeconds: 60\ncontainers:\n- name: app\n  "
            "lifecycle:\n"
            '    preStop:\n      exec:\n        command: ["sleep", "15"]\n',
            language="yaml",
        ),
    )


def _hpa(hpa: KubeObject) -> Iterator[Finding]:
    window = ((hpa.spec.get("behavior") or {}).get("scaleDown") or {}).get(
        "stabilizationWindowSeconds"
    )
    if isinstance(window, int) and window < 300:
        yield HPA_SCALEDOWN.finding(
            CHECK_ID,
            f"{hpa.ref}: scale-down stabilisation {window} s (default 300 s); WebSocket load "
            "lags connection counts, so pods holding connections are removed too soon.",
            resource=hpa.resource("spec.behavior.scaleDown.stabilizationWindowSeconds"),
            evidence={"stabilizationWindowSeconds": window},
            fix=Fix(
                summary="Keep at least the default 300 s.",
                snippet="spec:\n  behavior:\n    scaleDown:\n      stabilizationWindowSeconds: "
                "600\n",
                language="yaml",
            ),
        )


def _pdb(snap: ClusterSnapshot, owner: KubeObject, tpl: dict[str, Any]) -> Iterator[Finding]:
    """A replicated WebSocket workload with no PodDisruptionBudget selecting its pods. The
    workload is in the input, so the budget that protects it belongs there too; live, only
    where budgets could be listed."""
    if snap.source == "cluster" and not snap.could_contain("PodDisruptionBudget",
                                                          owner.namespace):
        return  # not readable (the permission gap says so): absence proves nothing
    labels = labels_of(tpl)
    pdbs = snap.in_namespace("PodDisruptionBudget", owner.namespace)
    if any(backends.selector_matches(p.spec.get("selector") or {}, labels) for p in pdbs):
        return
    yield NO_PDB.finding(
        CHECK_ID,
        f"{owner.ref} has no PodDisruptionBudget: a node drain may evict every pod (and "
        "every WebSocket) at once.",
        resource=owner.resource("metadata.labels"),
        fix=Fix(
            summary="Add a PodDisruptionBudget for the pods.",
            snippet=f"apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  "
            f"name: {owner.name}\n"
            f"  namespace: {owner.namespace}\nspec:\n  maxUnavailable: 1\n  selector:\n"
            f"    matchLabels:\n" + "".join(f"      {k}: {v}\n" for k, v in labels.items()),
            language="yaml",
        ),
    )


def rules_for_pods(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Live only: restarting backend pods (crash loops cut every connection they hold)."""
    for svc in backend_services(snap):
        for owner, _, _ in backends.selected_templates(
            snap, svc.namespace, svc.spec.get("selector") or {}
        ):
            if owner.kind != "Pod":
                continue
            restarts = sum(
                int(s.get("restartCount", 0)) for s in owner.status.get("containerStatuses") or []
            )
            if restarts >= 3:
                yield RESTARTS.finding(
                    CHECK_ID,
                    f"{owner.ref} restarted {restarts} times; each restart drops its WebSockets.",
                    resource=owner.resource(field_path("status", "containerStatuses")),
                    evidence={"restarts": restarts},
                    fix=Fix(
                        summary="Read the previous container's logs.",
                        snippet=f"kubectl -n {owner.namespace} logs {owner.name} --previous",
                        language="shell",
                    ),
                )
