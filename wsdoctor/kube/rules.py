"""The cluster rule registry: every configuration rule and the codes they emit, in the
order findings are reported (the path: routes, controllers, mesh, backends)."""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.checks.base import Code
from wsdoctor.kube import (
    affinity,
    rules_gateway,
    rules_haproxy,
    rules_istio,
    rules_linkerd,
    rules_nginx,
    rules_traefik,
    rules_workloads,
)
from wsdoctor.kube.rulebase import ClusterRule, RuleOptions
from wsdoctor.kube.snapshot import ClusterSnapshot
from wsdoctor.models import Finding

CONFIG_RULES: tuple[ClusterRule, ...] = (
    rules_gateway.rules_for_gateway_api,
    rules_nginx.rules_for_ingress_nginx,
    rules_traefik.rules_for_traefik,
    rules_haproxy.rules_for_haproxy,
    rules_istio.rules_for_istio,
    rules_linkerd.rules_for_linkerd,
    rules_workloads.rules_for_backends,
    rules_workloads.rules_for_pods,
    affinity.rules_for_affinity,
)

CONFIG_CODES: tuple[Code, ...] = (
    *rules_gateway.CODES,
    *rules_nginx.CODES,
    *rules_traefik.CODES,
    *rules_haproxy.CODES,
    *rules_istio.CODES,
    *rules_linkerd.CODES,
    *rules_workloads.CODES,
    *affinity.CODES,
)


def judge_snapshot(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """Every configuration finding for the snapshot, each (code, resource, detail) once."""
    seen: set[tuple[str, str, str]] = set()
    for rule in CONFIG_RULES:
        for finding in rule(snap, options):
            key = (finding.code, str(finding.resource), finding.detail)
            if key not in seen:
                seen.add(key)
                yield finding
