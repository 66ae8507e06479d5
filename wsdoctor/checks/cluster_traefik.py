"""Cross-checks for routes Traefik serves, from what the real binary was measured to do
(``wsdoctor.knowledge_traefik``): which of its configured timeouts can explain a measured
idle cut (none but the shutdown grace period), and stickiness configured where Traefik's
Kubernetes CRD provider does not read it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from wsdoctor.checks.base import Code, Facts
from wsdoctor.models import Finding, Fix, Resource, Status
from wsdoctor.records import dataclass

if TYPE_CHECKING:
    from wsdoctor.checks.cluster import ClusterObservation
    from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject

# The kube modules are imported where used: wsdoctor.kube imports the check registry.
CHECK_ID = "cluster"

TIMEOUTS = Code("WSD-K8S-TRAEFIK-TIMEOUTS", Status.INFO,
                "Traefik's timeouts do not end upgraded WebSockets")
STICKY_IGNORED = Code("WSD-K8S-TRAEFIK-STICKY-IGNORED", Status.FAIL,
                      "Traefik ignores the sticky-cookie annotation for an IngressRoute")
STICKY_WEIGHTED = Code("WSD-K8S-TRAEFIK-STICKY-WEIGHTED", Status.FAIL,
                       "Traefik's weighted sticky cookie pins the service, not the pod")
CODES = (TIMEOUTS, STICKY_IGNORED, STICKY_WEIGHTED)

STICKY_ANNOTATION = "traefik.ingress.kubernetes.io/service.sticky.cookie"
_PREFIX = "--entrypoints."


@dataclass(frozen=True)
class TraefikFlag:
    """A timeout set by a flag of the Traefik controller (static configuration)."""

    setting: str
    """``respondingTimeouts.readTimeout`` (the knowledge's name)."""
    entry_point: str
    seconds: float
    resource: Resource


def _seconds(value: str) -> float | None:
    from wsdoctor.kube.rulebase import parse_go_duration

    value = value.strip()
    return float(value) if value.isdigit() else parse_go_duration(value)


def traefik_timeout_flags(snap: ClusterSnapshot) -> list[TraefikFlag]:
    """Timeouts of the Traefik controller's entry points set by its container args
    (``--entryPoints.websecure.transport.respondingTimeouts.readTimeout=3s``)."""
    from wsdoctor.knowledge_traefik import timeout_named
    from wsdoctor.kube import backends

    found = []
    for owner in backends.controller_workloads(snap, "traefik"):
        args = backends.container_args(backends.template_of(owner))
        for arg in args:
            flag, _, value = arg.partition("=")
            if not flag.lower().startswith(_PREFIX) or ".transport." not in flag.lower():
                continue
            entry_point = flag[len(_PREFIX):].split(".", 1)[0]
            entry = timeout_named(flag.rsplit(".transport.", 1)[1].lower())
            seconds = _seconds(value) if value else None
            if entry is None or seconds is None:
                continue
            prefix = "spec.template.spec" if owner.kind != "Pod" else "spec"
            found.append(TraefikFlag(entry.setting, entry_point, seconds, owner.resource(
                f"{prefix}.containers[].args ({flag})")))
    return found


def cross_check_traefik_timeouts(obs: ClusterObservation, facts: Facts) -> Iterator[Finding]:
    """When the idle check ran on a Traefik route: its configured timeouts explain no idle
    cut (measured), and say what does end WebSockets through Traefik."""
    from wsdoctor.checks.idle import IdleObservation
    from wsdoctor.knowledge_traefik import MEASURED_VERSION, not_cutting_summary, timeout_named
    from wsdoctor.kube import measured

    idle = facts.get(IdleObservation)
    if obs.controller != "traefik" or idle is None:
        return
    flags = traefik_timeout_flags(obs.snapshot)
    cutting = [f for f in flags if (e := timeout_named(f.setting)) and e.cuts_websocket]
    quiet = [f for f in flags if f not in cutting]
    seconds = measured.measured_idle(facts)
    configured = ", ".join(f"{f.setting.rsplit('.', 1)[-1]} {f.seconds:g} s on entry point "
                           f"{f.entry_point}" for f in quiet)
    detail = (f"Traefik {MEASURED_VERSION} was measured: an upgraded WebSocket is not ended by "
              f"{not_cutting_summary()}, whatever their values"
              + (f" (configured here: {configured})" if configured else "") + ".")
    same = [f for f in quiet if seconds is not None and abs(f.seconds - seconds) <= 1.0]
    if seconds is not None:
        detail += (f" The measured {seconds:.1f} s cut therefore comes from elsewhere: a load "
                   "balancer in front of Traefik, or the application")
        if same:
            detail += (f" — not from Traefik's {same[0].setting.rsplit('.', 1)[-1]}, although "
                       "it has the same value")
        detail += "."
    grace = f"{cutting[0].seconds:g} s here" if cutting else "10 s by default"
    detail += (" What does end them is a Traefik rollout: open WebSockets are cut "
               f"lifeCycle.graceTimeOut ({grace}) after Traefik is told to stop.")
    yield TIMEOUTS.finding(
        CHECK_ID, detail,
        resource=(same[0].resource if same else quiet[0].resource if quiet else None),
        evidence={"measured_s": seconds, "configured": [f"{f.entry_point} {f.setting} "
                                                        f"{f.seconds:g}s" for f in flags]},
        fix=Fix(summary="Do not raise Traefik's respondingTimeouts for WebSockets; to keep "
                "them across Traefik rollouts raise graceTimeOut (and the pods' "
                "terminationGracePeriodSeconds), and let clients reconnect.",
                snippet="--entryPoints.websecure.transport.lifeCycle.graceTimeOut=60s\n",
                language="text"),
    )


def _sticky_services(snap: ClusterSnapshot, obs: ClusterObservation) -> list[KubeObject]:
    route = obs.routes[0]
    found = []
    for backend in route.backends:
        name = backend.service.split("/", 1)
        svc = snap.find("Service", name[0], name[-1])
        if svc is not None and svc.annotations.get(STICKY_ANNOTATION, "").lower() == "true":
            found.append(svc)
    return found


def cross_check_traefik_sticky(obs: ClusterObservation, facts: Facts) -> Iterator[Finding]:
    """A Service annotated for Traefik stickiness behind an IngressRoute: the CRD provider
    never reads Service annotations, so no cookie is set (explains the affinity failure)."""
    from wsdoctor.checks.affinity import NONE, NOT_HONOURED
    from wsdoctor.kube import measured

    if not obs.routes or obs.routes[0].kind != "IngressRoute" or obs.affinity is not None:
        return
    services = _sticky_services(obs.snapshot, obs)
    if not services:
        return
    route = obs.routes[0]
    cookies = measured.cookies_seen(facts)
    seen = (f" The upgrade responses set {', '.join(cookies) or 'no cookie'}."
            if cookies is not None else "")
    svc = services[0]
    yield STICKY_IGNORED.finding(
        CHECK_ID,
        f"{svc.ref} has {STICKY_ANNOTATION}: \"true\", but {route.kind} "
        f"{route.namespace}/{route.name} routes this host, and Traefik's Kubernetes CRD "
        "provider takes stickiness only from the IngressRoute (or a TraefikService), never "
        f"from Service annotations (they are read for Ingress objects).{seen} Reconnects are "
        "not sticky.",
        resource=svc.resource(f'metadata.annotations["{STICKY_ANNOTATION}"]'),
        evidence={"route": f"{route.kind} {route.namespace}/{route.name}",
                  "cookies_seen": list[str | int | float | bool | None](cookies or [])},
        fix=Fix(summary=f"Set sticky.cookie on the service of IngressRoute "
                f"{route.namespace}/{route.name} (spec.routes[].services[].sticky.cookie), "
                "and remove the annotation.",
                snippet=f"apiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata:\n"
                f"  name: {route.name}\n  namespace: {route.namespace}\nspec:\n  routes:\n"
                f"    - match: Host(`{facts.target.host}`) && PathPrefix(`{route.path}`)\n"
                f"      services:\n        - name: {svc.name}\n          port: <port>\n"
                "          sticky:\n            cookie:\n              secure: true\n"
                "              httpOnly: true\n              sameSite: lax\n",
                language="yaml"),
        explains=(NONE, NOT_HONOURED),
    )


def cross_check_traefik_weighted(obs: ClusterObservation, facts: Facts) -> Iterator[Finding]:
    """Stickiness only on a weighted TraefikService, measured not to pin: the weighted cookie
    picks the child service; each child needs its own sticky cookie to pin the pod."""
    from wsdoctor.checks.affinity import NOT_HONOURED, AffinityObservation

    config = obs.affinity
    seen = facts.get(AffinityObservation)
    if config is None or config.controller != "traefik" or seen is None:
        return
    if config.resource.field != "spec.weighted.sticky.cookie" or seen.replay_pinned is not False:
        return
    yield STICKY_WEIGHTED.finding(
        CHECK_ID,
        f"{config.resource.kind} {config.resource.namespace}/{config.resource.name} sets the "
        f"sticky cookie {config.cookie or '(generated)'} on the weighted service only: Traefik "
        "uses it to keep a client on one of the weighted services, and each of those still "
        f"balances over its pods. Reconnects replaying it reached {seen.distinct_replicas} "
        "replicas.",
        resource=config.resource,
        evidence={"cookie": config.cookie, "replicas": seen.distinct_replicas},
        fix=Fix(summary="Add a sticky cookie to each service of the weighted TraefikService "
                "(spec.weighted.services[].sticky.cookie), which pins the pod.",
                snippet="spec:\n  weighted:\n    services:\n      - name: <service>\n"
                "        port: <port>\n        sticky:\n          cookie:\n"
                "            secure: true\n            httpOnly: true\n", language="yaml"),
        explains=(NOT_HONOURED,),
    )
