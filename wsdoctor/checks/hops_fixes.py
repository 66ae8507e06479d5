"""The fix for the component where a bisected run placed a fault: the application, the
ingress controller (the setting in the cluster that binds, or the annotation that breaks
the upgrade), or the load balancer in front (by provider, from its Service). Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, cast

from wsdoctor.checks.lifetime import heartbeat_hint
from wsdoctor.knowledge import (
    IDLE_TIMEOUT_DEFAULTS,
    IdleTimeoutDefault,
    TimeoutKind,
    describe_components,
    idle_timeout_fix,
    idle_tolerance,
    match_idle_timeout,
)
from wsdoctor.knowledge_hops import (
    CONTROLLER_IDLE_COMPONENTS,
    FRONT_COMPONENTS,
    GENERIC_FRONT_COMPONENTS,
    INGRESS_NGINX_UPGRADE_BREAKERS,
    front_provider,
)
from wsdoctor.models import Fix, Resource

if TYPE_CHECKING:
    from wsdoctor.checks.cluster import ClusterObservation
    from wsdoctor.checks.hops_model import HopResult
    from wsdoctor.checks.hops_table import HopView
    from wsdoctor.checks.idle import IdleObservation
    from wsdoctor.kube.snapshot import KubeObject

#: The idle time a fix raises a timeout to when the application's need is not known.
DEFAULT_WANT = 3600.0
_CHECK_OF = {"upgrade": "handshake", "messages": "messages", "idle": "idle",
             "affinity": "affinity"}
FRONT_AFFINITY_FIX = (
    "The ingress controller pod keeps reconnects on one replica, the public address does "
    "not: what is in front of the controller spreads them over several controller replicas "
    "that do not pin alike, or drops the cookie (a CDN or load balancer that strips Cookie "
    "or Set-Cookie). Let it pass cookies through, or enable its own stickiness towards the "
    "controller replicas (by client address or cookie).")


Language = Literal["yaml", "nginx", "haproxy", "shell", "text", "json"]


def _language(name: str | None) -> Language:
    known = ("yaml", "nginx", "haproxy", "shell", "text", "json")
    return cast(Language, name) if name in known else "text"


def _want(expect: float | None) -> tuple[float, str]:
    if expect is not None:
        return expect, ""
    return DEFAULT_WANT, " (3600 s shown: use the longest silence your clients need)"


def _entries(names: tuple[str, ...] | list[str]) -> list[IdleTimeoutDefault]:
    """The first timeout entry of each component that ends open connections."""
    found = []
    for name in names:
        entry = next((e for e in IDLE_TIMEOUT_DEFAULTS if e.component == name
                      and e.kind is not TimeoutKind.AFTER_RELOAD), None)
        if entry is not None:
            found.append(entry)
    return found


def hop_fix(result: HopResult | None, aspect: str, prefix: str) -> Fix:
    """The fix the hop's own check gave for this aspect, introduced by ``prefix``."""
    wanted = _CHECK_OF.get(aspect)
    findings = [f for f in (result.findings if result is not None else [])
                if f.check == wanted and f.status.rank >= 2]
    if not findings:
        return Fix(summary=prefix.rstrip(": ") + ".")
    first = max(findings, key=lambda f: f.status.rank)
    if first.fix is None:
        return Fix(summary=f"{prefix}{first.title}.")
    return Fix(summary=prefix + first.fix.summary, snippet=first.fix.snippet,
               language=first.fix.language)


def pod_idle_fix(idle: IdleObservation, expect: float | None) -> Fix:
    """The application (or something in its pod) closes idle connections."""
    cut = idle.timeout_s or 0.0
    want, note = _want(expect)
    heartbeat = f"have clients send a heartbeat (ping) every {heartbeat_hint(cut):g} s"
    if idle.closed_by == "application":
        code = f" (close {idle.close_code}" + (f" {idle.close_reason!r})" if idle.close_reason
                                               else ")")
        return Fix(summary=f"The application closes WebSocket connections idle for {cut:.1f} s"
                   f"{code}: raise its own idle/read timeout to at least {want:g} s{note}, or "
                   f"{heartbeat}.")
    return Fix(summary=f"Something inside the pod closes the TCP connection after {cut:.1f} s "
               "without a WebSocket close frame: the application server's read or keep-alive "
               f"timeout, or a sidecar. Raise it to at least {want:g} s{note}, or {heartbeat}.")


def controller_idle_fix(view: HopView, cluster: ClusterObservation | None,
                        expect: float | None) -> tuple[Fix, Resource | None]:
    """The controller's timeout that matches the cut: the object that sets it, or its default."""
    cut = view.idle.timeout_s if view.idle is not None else None
    cut = cut or 0.0
    want, note = _want(expect)
    component = CONTROLLER_IDLE_COMPONENTS.get(view.component)
    entries = _entries([component]) if component else []
    snippet, language = idle_timeout_fix(entries, want) if entries else (None, None)
    heartbeat = f"or have clients send a heartbeat every {heartbeat_hint(cut):g} s"
    configured = [t for t in (cluster.timeouts if cluster is not None else [])
                  if abs(t.seconds - cut) <= idle_tolerance(cut)]
    if configured:
        t = configured[0]
        return Fix(summary=f"Raise {t.describe()} to at least {want:g} s{note}, {heartbeat}.",
                   snippet=snippet, language=_language(language)), t.resource
    names = {view.component, component}
    longer = [t for t in (cluster.timeouts if cluster is not None else [])
              if t.component in names and t.scope == "idle" and not t.default
              and t.seconds > cut + idle_tolerance(cut)]
    if longer:
        t = longer[0]
        return Fix(summary=f"The cluster sets {t.describe()}, yet the controller pod cut the "
                   f"silent connection after {cut:.1f} s: that setting is not in force on this "
                   "controller. Check what it runs with (its logs for a rejected annotation, "
                   "another Ingress for the same host and path, the ConfigMap its --configmap "
                   f"flag names, a pending reload), then make the timeout it uses at least "
                   f"{want:g} s{note}, {heartbeat}.", snippet=snippet,
                   language=_language(language)), t.resource
    what = describe_components(entries) or f"the {view.component} timeouts for upgraded " \
        "connections"
    return Fix(summary=f"Raise the idle timeout of the ingress controller ({what}) to at least "
               f"{want:g} s{note}, {heartbeat}.", snippet=snippet,
               language=_language(language)), None


def controller_upgrade_fix(view: HopView, cluster: ClusterObservation | None,
                           result: HopResult | None) -> tuple[Fix, Resource | None]:
    """The setting that stops the controller passing the upgrade, when the cluster shows
    one (ingress-nginx annotations); else the controller hop's own advice."""
    route = _route_object(cluster)
    if view.component == "ingress-nginx" and route is not None:
        for key, why in INGRESS_NGINX_UPGRADE_BREAKERS.items():
            value = route.annotations.get(key)
            if value is None or not _breaks_upgrade(key, value):
                continue
            kind = route.kind.lower()
            return Fix(
                summary=f"Remove {key} from {route.ref} ({why}): ingress-nginx forwards Upgrade "
                "and Connection to the pod by itself.",
                snippet=f"kubectl -n {route.namespace} annotate {kind} {route.name} {key}-",
                language="shell",
            ), route.resource(f'metadata.annotations["{key}"]')
    return hop_fix(result, "upgrade", prefix=f"The {view.component} pod does not pass on the "
                   "upgrade the application accepts: "), None


def _breaks_upgrade(key: str, value: str) -> bool:
    lowered = value.lower()
    if key.endswith("proxy-http-version"):
        return value.strip().startswith("1.0")
    if key.endswith("connection-proxy-header"):
        return lowered.strip() != "upgrade"
    return "connection" in lowered or "upgrade" in lowered


def _route_object(cluster: ClusterObservation | None) -> KubeObject | None:
    if cluster is None or not cluster.routes:
        return None
    route = cluster.routes[0]
    return cluster.snapshot.find(route.kind, route.namespace, route.name)


def _front_services(cluster: ClusterObservation | None) -> list[KubeObject]:
    from wsdoctor.kube.backends import load_balancer_services

    if cluster is None or cluster.controller is None:
        return []
    return load_balancer_services(cluster.snapshot, cluster.controller)


def front_resource(cluster: ClusterObservation | None) -> Resource | None:
    """The controller's LoadBalancer Service: where a cloud load balancer is configured."""
    services = _front_services(cluster)
    return services[0].resource("metadata.annotations") if services else None


def front_idle_fix(cluster: ClusterObservation | None, cut: float,
                   expect: float | None) -> Fix:
    """Raise the front load balancer's idle timeout: the provider's setting when its Service
    tells which cloud it is, the components whose default matches the cut, or the usual ones."""
    want, note = _want(expect)
    services = _front_services(cluster)
    provider = next((p for s in services if (p := front_provider(
        s.annotations, [str(e.get("hostname") or "") for e in
                        (s.status.get("loadBalancer") or {}).get("ingress") or []]))), None)
    front = FRONT_COMPONENTS.get(provider or "", GENERIC_FRONT_COMPONENTS)
    matched = [e for e in match_idle_timeout(cut) if e.component in front]
    entries = matched or _entries(front)
    snippet, language = idle_timeout_fix(entries, want)
    which = "whose default matches" if matched else (
        f"of {provider.upper() if provider == 'aws' else provider.capitalize()}" if provider
        else "that may be in front")
    return Fix(
        summary=f"Raise the idle timeout of the load balancer in front of the ingress "
        f"controller to at least {want:g} s{note} — the one {which}: "
        f"{describe_components(entries)} — or have clients send a heartbeat every "
        f"{heartbeat_hint(cut):g} s. The ingress controller itself holds idle connections "
        "longer.",
        snippet=snippet,
        language=_language(language),
    )
