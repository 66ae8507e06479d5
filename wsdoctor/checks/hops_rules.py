"""The verdict of a bisected run: for each fault seen at the public address (the upgrade, the
messages, the idle timeout), the first hop from the pod outwards where it appears, and the
fix for that component. A fault already at the pod is the application's.

Pure functions of the hops observation, the public checks' observations and the cluster
observation (for the objects to name in fixes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from wsdoctor.checks.affinity import NONE as AFFINITY_NONE
from wsdoctor.checks.affinity import NOT_HONOURED
from wsdoctor.checks.base import Code, Facts
from wsdoctor.checks.cluster import ClusterObservation
from wsdoctor.checks.handshake_advice import classify
from wsdoctor.checks.hops import (
    ALIKE,
    FAULT_AT_CONTROLLER,
    FAULT_AT_POD,
    FAULT_IN_FRONT,
    FAULT_UNPLACED,
    SKIPPED,
)
from wsdoctor.checks.hops_credentials import credentials_refused
from wsdoctor.checks.hops_fixes import (
    FRONT_AFFINITY_FIX,
    controller_idle_fix,
    controller_upgrade_fix,
    front_idle_fix,
    front_resource,
    hop_fix,
    pod_idle_fix,
)
from wsdoctor.checks.hops_model import HopResult, HopsObservation
from wsdoctor.checks.hops_table import (
    HopView,
    affinity_fault,
    cut_sooner,
    idle_cut,
    idle_fault,
    idle_held,
    messages_fault,
    upgrade_fault,
    views,
)
from wsdoctor.checks.idle import APP_CLOSE, SILENT_DROP, TIMEOUT, TIMEOUT_SHORT
from wsdoctor.checks.messages import LARGE_LOST, PING_UNANSWERED, TOO_BIG
from wsdoctor.checks.messages_protocol import CLOSED_AT_ONCE, CLOSED_EARLY
from wsdoctor.kube.crosscheck import IDLE_BINDS, IDLE_BINDS_SHORT, IDLE_OUTSIDE
from wsdoctor.models import EvidenceValue, Finding, Fix, Resource
from wsdoctor.records import dataclass

CHECK_ID = "hops"
_IDLE_SYMPTOMS = (TIMEOUT, TIMEOUT_SHORT, APP_CLOSE, SILENT_DROP, IDLE_OUTSIDE, IDLE_BINDS,
                  IDLE_BINDS_SHORT)
_HOP_WORDS = {"pod": "the pod", "controller": "the ingress controller pod",
              "public": "the public address"}


@dataclass(frozen=True)
class Placed:
    """A fault and where it first appears: ``at`` is the first hop that shows it, ``behind``
    the last hop known not to (None: nothing behind it was known good)."""

    aspect: str
    at: HopView
    behind: HopView | None
    seen: str
    """What the fault looks like at ``at``."""
    gap: bool
    """An untested hop lies between ``behind`` and ``at``: the fault is not placed exactly."""


def judge(facts: Facts) -> Iterator[Finding]:
    """Each fault at the public address, placed at the first hop that shows it; hops that
    could not be tested; or, when nothing differs, that every hop agrees."""
    obs = facts.get(HopsObservation)
    if obs is None:
        return
    hops = views(obs, facts)
    public = hops[-1]
    placed: list[Placed] = []
    if public.tested:
        placed += _place("upgrade", hops, upgrade_fault, lambda v: bool(v.attempts))
        placed += _place("messages", hops, messages_fault,
                         lambda v: v.messages is not None and v.upgraded is not None)
        placed += _place_idle(hops, facts.settings.expect_idle)
        placed += _place_affinity(hops, facts.settings.expect_affinity)
    cluster = facts.get(ClusterObservation)
    by_role: dict[str, HopResult] = {h.plan.role: h for h in obs.hops}
    for fault in placed:
        yield _finding(fault, facts, cluster, by_role)
    refused = credentials_refused(hops, facts, cluster)
    if refused is not None:
        yield refused
    skipped = [h for h in obs.hops if h.status != "tested"]
    if skipped:
        yield _skipped(skipped)
    tested = [v for v in hops if v.tested]
    clean = all(upgrade_fault(v) is None and messages_fault(v) is None
                and idle_fault(v, facts.settings.expect_idle) is None
                and affinity_fault(v, facts.settings.expect_affinity) is None for v in tested)
    if not placed and clean and public.tested and len(tested) > 1:
        yield ALIKE.finding(
            CHECK_ID,
            "The same measurements at " + ", ".join(_HOP_WORDS[v.name] + f" ({v.label})"
                                                     for v in tested)
            + ": no hop adds a fault to what the one behind it does.",
            evidence={f"{v.name}_upgrade": "101" if v.upgraded else None for v in tested},
        )


def _place(aspect: str, hops: Sequence[HopView], fault_of: Callable[[HopView], str | None],
           known: Callable[[HopView], bool]) -> list[Placed]:
    """The first hop whose fault the public address shows too (nothing when it does not)."""
    if not known(hops[-1]) or fault_of(hops[-1]) is None:
        return []
    behind: HopView | None = None
    gap = False
    for view in hops:
        if not (view.tested and known(view)):
            gap = True
            continue
        seen = fault_of(view)
        if seen is None:
            behind, gap = view, False
            continue
        if behind is None and view.name == "public":
            return []  # nothing behind it was measured: the public checks' own findings stand
        return [Placed(aspect, view, behind, seen, gap)]
    return []


def _place_idle(hops: Sequence[HopView], expect: float | None) -> list[Placed]:
    """Every hop that cuts idle connections sooner than the hop behind it let them live."""
    if idle_fault(hops[-1], expect) is None:
        return []
    found: list[Placed] = []
    behind: HopView | None = None
    allowed: float | None = None
    gap = False
    for view in hops:
        if not view.tested or view.idle is None:
            gap = True
            continue
        cut = idle_cut(view)
        if cut is None:
            held = idle_held(view)
            if held is not None:
                behind, allowed, gap = view, held if allowed is None else min(allowed, held), False
            continue
        adds = idle_fault(view, expect) is not None and (
            allowed is None or cut_sooner(cut, allowed))
        if adds and not (allowed is None and view.name == "public"):
            how = f"the {view.idle.closed_by} closed it" if view.idle.closed_by else "closed"
            found.append(Placed("idle", view, behind, f"cut after {cut:.1f} s without traffic "
                                f"({how})", gap))
        behind, allowed, gap = view, cut if allowed is None else min(allowed, cut), False
    return found


def _place_affinity(hops: Sequence[HopView], expect: bool) -> list[Placed]:
    """Where session affinity is lost: the pod is one replica (nothing to lose); the
    controller pod is measured only when the run asked (--expect-affinity,
    --affinity-cookie), and without that measurement there is nothing to place."""
    controller = next((v for v in hops if v.name == "controller"), None)
    if controller is not None and controller.tested and controller.affinity is None:
        return []
    return _place("affinity", hops, lambda v: affinity_fault(v, expect),
                  lambda v: v.name == "pod" or v.affinity is not None)


# -- one finding per placed fault ------------------------------------------------------------


def _symptoms(fault: Placed, public: HopView) -> tuple[Code, ...]:
    """Codes of the public checks' findings this fault explains."""
    if fault.aspect == "idle":
        return _IDLE_SYMPTOMS
    if fault.aspect == "affinity":
        return (AFFINITY_NONE, NOT_HONOURED)
    if fault.aspect == "upgrade":
        failed = next((a for a in public.attempts if a.outcome != "upgraded"), None)
        code = classify(failed) if failed is not None else None
        return (code,) if code is not None else ()
    return (CLOSED_EARLY, CLOSED_AT_ONCE, PING_UNANSWERED, TOO_BIG, LARGE_LOST)


def _finding(fault: Placed, facts: Facts, cluster: ClusterObservation | None,
             by_role: dict[str, HopResult]) -> Finding:
    at, behind = fault.at, fault.behind
    hops = views(facts.get(HopsObservation) or HopsObservation(), facts)
    public = hops[-1]
    evidence: dict[str, EvidenceValue] = {"aspect": fault.aspect, "first_hop": at.name}
    for view in hops:
        if fault.aspect == "idle" and view.idle is not None:
            evidence[f"{view.name}_idle_s"] = idle_cut(view)
            evidence[f"{view.name}_held_s"] = idle_held(view)
        elif fault.aspect == "upgrade" and view.attempts:
            evidence[f"{view.name}_upgrade"] = upgrade_fault(view) or "101"
        elif fault.aspect == "affinity" and view.affinity is not None:
            evidence[f"{view.name}_replicas"] = view.affinity.distinct_replicas
    behind_text = f"; at {_HOP_WORDS[behind.name]} ({behind.label}) {_fine(fault, behind)}" \
        if behind is not None else ""
    detail = f"{fault.aspect.capitalize()}: at {_HOP_WORDS[at.name]} ({at.label}) " \
        f"{_seen(fault)}{behind_text}."
    explains = _symptoms(fault, public)
    result = by_role.get(at.name)
    if at.name == "pod":
        code, fix, resource = FAULT_AT_POD, _pod_fix(fault, facts, result), _pod_resource(at)
        detail += " The fault is already there without any proxy: it is the application's."
        title = f"{_aspect_title(fault)} already at the pod: the application"
    elif at.name == "controller" and not fault.gap:
        code, resource = FAULT_AT_CONTROLLER, _pod_resource(at)
        fix, named = _controller_fix(fault, facts, cluster, result)
        resource = named or resource
        detail += f" The pod behind it does not show it: the ingress controller ({at.component})" \
            " adds it."
        title = f"{_aspect_title(fault)} at the ingress controller ({at.component}), not at the pod"
    elif at.name == "public" and not fault.gap:
        code = FAULT_IN_FRONT
        fix = _front_fix(fault, facts, cluster)
        resource = front_resource(cluster)
        detail += " The ingress controller pod, reached directly with the same Host and SNI, " \
            "does not show it: a load balancer, CDN or proxy in front of the controller adds it."
        title = f"{_aspect_title(fault)} only at the public address: the load balancer in front"
    else:
        code, resource = FAULT_UNPLACED, None
        where = "the ingress controller or what is in front of it" if at.name == "public" \
            else "the ingress controller or the application"
        detail += f" A hop between could not be tested: the fault comes from {where}."
        fix = Fix(summary=f"Test the missing hop (see WSD-HOPS-SKIPPED), or check {where}.")
        start = _HOP_WORDS[behind.name] if behind else "the application"
        title = f"{_aspect_title(fault)}: between {start} and {_HOP_WORDS[at.name]}"
    return code.finding(CHECK_ID, detail, evidence=evidence, resource=resource, fix=fix,
                        title=title, explains=explains)


def _seen(fault: Placed) -> str:
    """What the fault looks like at its first hop, as a clause."""
    if fault.aspect == "upgrade":
        return f"the upgrade {fault.seen}"
    if fault.aspect in ("messages", "affinity"):
        return fault.seen
    return f"a silent connection was {fault.seen}"


def _fine(fault: Placed, view: HopView) -> str:
    """How the hop behind it behaved, as a clause."""
    if fault.aspect == "upgrade":
        return "it upgraded (101)"
    if fault.aspect == "messages":
        return "messages passed"
    if fault.aspect == "affinity":
        obs = view.affinity
        return "every reconnect reaches that one pod" if obs is None else \
            f"the cookie {obs.affinity_cookie} pinned reconnects to one replica" \
            if obs.affinity_cookie else "reconnects stayed on one replica"
    held, cut = idle_held(view), idle_cut(view)
    if held is not None:
        return f"it stayed open {held:.1f} s and answered a ping"
    return f"it was cut only after {cut:.1f} s" if cut is not None else "it was not cut"


def _aspect_title(fault: Placed) -> str:
    if fault.aspect == "idle":
        cut = idle_cut(fault.at)
        return f"Idle connections cut after {cut:.1f} s" if cut is not None else \
            "Idle connections cut"
    if fault.aspect == "upgrade":
        return "The upgrade fails"
    if fault.aspect == "affinity":
        return "Session affinity is lost"
    return "Messages fail"


def _pod_resource(view: HopView) -> Resource | None:
    label = view.label.rsplit(" ", 1)[-1]
    namespace, _, name = label.partition("/")
    return Resource(kind="Pod", namespace=namespace, name=name) if name else None


def _pod_fix(fault: Placed, facts: Facts, result: HopResult | None) -> Fix:
    if fault.aspect == "idle" and fault.at.idle is not None:
        return pod_idle_fix(fault.at.idle, facts.settings.expect_idle)
    return hop_fix(result, fault.aspect, prefix="Fix the application: ")


def _controller_fix(fault: Placed, facts: Facts, cluster: ClusterObservation | None,
                    result: HopResult | None) -> tuple[Fix, Resource | None]:
    if fault.aspect == "idle":
        return controller_idle_fix(fault.at, cluster, facts.settings.expect_idle)
    if fault.aspect == "upgrade":
        return controller_upgrade_fix(fault.at, cluster, result)
    if fault.aspect == "affinity":  # the route object is where affinity is configured
        route = cluster.routes[0] if cluster is not None and cluster.routes else None
        named = Resource(kind=route.kind, namespace=route.namespace, name=route.name) \
            if route is not None else None
        return hop_fix(result, "affinity", prefix=f"Fix the {fault.at.component} "
                       "configuration: "), named
    return hop_fix(result, fault.aspect, prefix=f"Fix the {fault.at.component} "
                   "configuration: "), None


def _front_fix(fault: Placed, facts: Facts, cluster: ClusterObservation | None) -> Fix:
    if fault.aspect == "idle":
        cut = idle_cut(fault.at) or 0.0
        return front_idle_fix(cluster, cut, facts.settings.expect_idle)
    if fault.aspect == "affinity":
        return Fix(summary=FRONT_AFFINITY_FIX)
    from wsdoctor.knowledge_hops import FRONT_UPGRADE_FIX

    return Fix(summary=FRONT_UPGRADE_FIX)


def _skipped(skipped: list[HopResult]) -> Finding:
    gaps = [h.permission_gap for h in skipped if h.permission_gap is not None]
    lines = [f"{h.plan.label}: {h.status}: {h.reason}" for h in skipped]
    if gaps:
        gap = gaps[0]
        namespaces = sorted({g.namespace or "" for g in gaps})
        fix = Fix(
            summary=f"Grant {gap.verb} on {gap.resource} in namespace "
            f"{', '.join(namespaces)} (the optional Role of docs/deploy/"
            "rbac-portforward.yaml), or run wsdoctor inside the cluster (pod IPs directly).",
            snippet="kubectl apply -f docs/deploy/rbac-portforward.yaml\n"
            + "".join(f"kubectl -n {ns} create rolebinding wsdoctor-portforward "
                      f"--clusterrole=wsdoctor-portforward --user=YOU\n" for ns in namespaces),
            language="shell",
        )
    elif any("--port-forward" in (h.reason or "") for h in skipped):
        fix = Fix(summary="Run again with --port-forward (needs create on pods/portforward), "
                  "or from inside the cluster.")
    else:
        fix = None
    return SKIPPED.finding(
        CHECK_ID,
        "Not tested: " + "; ".join(lines) + ". The hops that were tested are compared "
        "without them.",
        evidence={"skipped": [h.plan.role for h in skipped],
                  "forbidden": [f"{g.verb} {g.resource} in namespace {g.namespace}"
                                for g in gaps]},
        fix=fix,
        title=f"{len(skipped)} hop{'s' if len(skipped) > 1 else ''} could not be tested"
        + (f": {gaps[0].verb} {gaps[0].resource} is forbidden" if gaps else ""),
    )
