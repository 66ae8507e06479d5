"""The cluster check's rules: the per-controller configuration rules on the objects behind the
host, and configuration held against what the network checks measured. Imported by
:mod:`wsdoctor.checks.cluster` only when a cluster was read."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.checks import cluster_access, cluster_traefik
from wsdoctor.checks.base import Code, Facts
from wsdoctor.kube import crosscheck, measured
from wsdoctor.kube.kinds import ROUTE_KINDS, ROUTE_PLURALS
from wsdoctor.kube.observation import ClusterObservation
from wsdoctor.kube.rulebase import CHECK_ID, DEFAULT_EXPECT_IDLE, RuleOptions
from wsdoctor.kube.rules import CONFIG_CODES, judge_snapshot
from wsdoctor.kube.rules_workloads import NO_READY_ENDPOINTS, no_ready_endpoints
from wsdoctor.models import Finding, Fix, Resource, Status

NO_ROUTE = Code("WSD-K8S-NO-ROUTE", Status.WARN, "No route in the cluster serves the host")
FORBIDDEN = Code("WSD-K8S-FORBIDDEN", Status.INFO, "Some objects could not be read (RBAC)")


def judge_cluster(facts: Facts) -> Iterator[Finding]:
    """Configuration rules on the objects behind the host; zero ready endpoints is reported as
    the root cause of a failed upgrade (listed before the handshake's symptom)."""
    obs = facts.get(ClusterObservation)
    if obs is None:
        return
    yield from cluster_access.judge_access(obs.access_failure, obs.read_failures)
    if obs.access_failure is not None:
        return
    serving = obs.routes[0] if obs.routes else None
    options = RuleOptions(
        expect_idle=facts.settings.expect_idle or DEFAULT_EXPECT_IDLE,
        # The route that serves the target is the WebSocket route, whatever its evidence.
        serving=(serving.kind, serving.namespace, serving.name, serving.path) if serving else None,
    )
    status = measured.upgrade_status(facts)
    for finding in judge_snapshot(obs.snapshot, options):
        if finding.code == NO_READY_ENDPOINTS.code and status in (502, 503, 504):
            res = finding.resource
            svc = obs.snapshot.find(
                "Service", res.namespace if res else None, res.name if res else ""
            )
            if svc is not None:
                counts = {
                    k.removeprefix("endpoints_"): int(v)
                    for k, v in finding.evidence.items()
                    if isinstance(v, int)
                }
                finding = no_ready_endpoints(svc, counts, explains=measured.symptom_codes())
                finding = finding.model_copy(
                    update={
                        "detail": f"The upgrade got HTTP {status} because there are "
                        + finding.detail[0].lower()
                        + finding.detail[1:],
                        "evidence": {**finding.evidence, "upgrade_status": status},
                    }
                )
        yield finding
    unread_routes = {f.kind for f in obs.read_failures} & set(ROUTE_KINDS)
    if not obs.routes and not unread_routes:
        yield _no_route(obs, facts)
    own, gaps = cluster_access.backend_gaps(serving, obs.snapshot.permission_gaps)
    if serving is not None:
        yield from cluster_access.judge_backend_gaps(serving, own)
    if gaps:
        yield FORBIDDEN.finding(
            CHECK_ID,
            "Skipped for lack of permission: "
            + "; ".join(f"{g} ({g.affects})" for g in gaps)
            + ".",
            evidence={"forbidden": [str(g) for g in gaps]},
            fix=Fix(
                summary="Bind the read-only ClusterRole of docs/rbac.yaml to your user.",
                snippet="kubectl apply -f docs/rbac.yaml",
                language="shell",
            ),
        )


def _no_route(obs: ClusterObservation, facts: Facts) -> Finding:
    """No readable route serves the host; when some route kinds could not be listed (a
    ``view`` role does not cover the IngressRoute or VirtualService CRDs), say so: the route
    may be one of those, and the host's spelling is not the first thing to check."""
    blocked = [g for g in obs.snapshot.permission_gaps
               if g.resource.split(".")[0] in ROUTE_PLURALS]
    detail = (
        "No Ingress, HTTPRoute, IngressRoute or VirtualService in "
        f"{obs.context or 'the cluster'} matches {facts.target.host}{facts.target.path}"
        + (f" (in namespace {', '.join(obs.snapshot.namespaces)})"
           if obs.snapshot.namespaces else "")
        + "."
    )
    fix = Fix(summary="Check the host spelling, the namespace (-n), or the context (--context).")
    if blocked:
        detail += (" Listing was forbidden for " + "; ".join(str(g) for g in blocked)
                   + ": the route serving the host may be one of those.")
        fix = Fix(
            summary="Let your user list those route kinds (the read-only ClusterRole of "
            "docs/rbac.yaml covers them), then run again.",
            snippet="kubectl apply -f docs/rbac.yaml",
            language="shell",
        )
    return NO_ROUTE.finding(
        CHECK_ID,
        detail,
        resource=Resource(kind="Host", name=facts.target.host),
        evidence={"forbidden": [str(g) for g in blocked]} if blocked else {},
        fix=fix,
    )


def judge_cross_checks(facts: Facts) -> Iterator[Finding]:
    """Configuration held against measurement: DNS, certificate, idle timeout, affinity."""
    obs = facts.get(ClusterObservation)
    if obs is None or obs.access_failure is not None:
        return
    yield from crosscheck.cross_check_dns(obs, facts)
    yield from crosscheck.cross_check_certificate(obs, facts)
    yield from crosscheck.cross_check_idle(obs, facts)
    yield from crosscheck.cross_check_affinity(obs, facts)
    yield from cluster_traefik.cross_check_traefik_timeouts(obs, facts)
    yield from cluster_traefik.cross_check_traefik_sticky(obs, facts)
    yield from cluster_traefik.cross_check_traefik_weighted(obs, facts)


CODES: tuple[Code, ...] = (
    *CONFIG_CODES,
    NO_ROUTE,
    FORBIDDEN,
    *cluster_access.CODES,
    *crosscheck.CODES,
    *cluster_traefik.CODES,
)
