"""Reaching the cluster: turning what failed into findings. When the user pointed wsdoctor at
a cluster (a kubeconfig exists, ``--kubeconfig``, ``--context``, ``-n``, or in a pod), not
being able to read it is a warning with the precise cause, never a quiet skip; a kind that
failed alone is named with its error while the rest is judged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from wsdoctor.checks.base import Code
from wsdoctor.kube.failures import AccessFailure, ReadFailure
from wsdoctor.kube.rulebase import CHECK_ID
from wsdoctor.models import Finding, Fix, Resource, Status

if TYPE_CHECKING:
    from wsdoctor.kube.client import ApiError
    from wsdoctor.kube.config import ClusterAccess
    from wsdoctor.kube.observation import RouteSummary
    from wsdoctor.kube.snapshot import PermissionGap

UNREADABLE = Code("WSD-K8S-UNREADABLE", Status.WARN, "The cluster could not be read")
READ_FAILED = Code("WSD-K8S-READ-FAILED", Status.WARN, "Some objects could not be read")
BACKEND_FORBIDDEN = Code(
    "WSD-K8S-BACKEND-FORBIDDEN", Status.WARN, "The route's own backends may not be read (RBAC)"
)
CODES = (UNREADABLE, READ_FAILED, BACKEND_FORBIDDEN)

_FIXES = {
    "config": "Fix the kubeconfig (or point --kubeconfig/--context at a working one); "
    "`kubectl config view` shows what kubectl reads.",
    "unreachable": "Check that the API server URL is reachable from here (VPN, firewall, "
    "private endpoint); `kubectl cluster-info` should answer.",
    "tls": "Use the cluster's CA in the kubeconfig (certificate-authority-data), or fix "
    "tls-server-name.",
    "proxy": "Check the kubeconfig's proxy-url (or HTTPS_PROXY): the proxy must accept the "
    "connection to the API server.",
    "unauthorized": "Log in again (refresh the kubeconfig's credentials), then retry.",
    "forbidden": "Bind the read-only ClusterRole of docs/rbac.yaml to your user.",
    "throttled": "The API server is rate-limiting this client (API Priority and Fairness); "
    "retry later, or give wsdoctor's user its own FlowSchema.",
    "timeout": "The API server answered too slowly; retry with a larger --timeout, or "
    "narrow the read with -n.",
    "deadline": "Retry with a larger --timeout, or narrow the read with -n.",
}


def access_failure(exc: ApiError, access: ClusterAccess) -> AccessFailure:
    """Discovery failed: nothing can be read. The message names context, server and cause."""
    where = f"context {access.context} ({access.server})"
    if exc.status == 401:
        message = (
            f"the API server of {where} rejected the credentials ({access.credentials}): "
            f"401 {exc.message}; log in again (kubectl) or fix the kubeconfig"
        )
        cause = "unauthorized"
    elif exc.status == 403:
        message = f"{where}: API discovery is forbidden: {exc.message}"
        cause = "forbidden"
    else:
        message = f"{where}: {exc.message}"
        cause = exc.cause
    return AccessFailure(
        cause=cause,  # type: ignore[arg-type]  # AccessError.cause is one of these
        message=message,
        context=access.context,
        server=access.server,
        status=exc.status or None,
    )


def judge_access(failure: AccessFailure | None, failures: list[ReadFailure]) -> Iterator[Finding]:
    """One finding for an unreadable cluster; one per kind that could not be read."""
    if failure is not None:
        yield UNREADABLE.finding(
            CHECK_ID,
            f"The cluster could not be read, so its objects were not judged: {failure.message}",
            title=_cut(f"{UNREADABLE.title}: {failure.message}"),
            evidence={
                k: v
                for k, v in {
                    "cause": failure.cause,
                    "context": failure.context,
                    "server": failure.server,
                    "status": failure.status,
                }.items()
                if v is not None
            },
            fix=Fix(summary=_FIXES.get(failure.cause, _FIXES["unreachable"])),
        )
    for read in failures:
        yield READ_FAILED.finding(
            CHECK_ID,
            f"{read.kind} could not be read ({read}); what needs it ({read.affects}) was not "
            "judged, the rest was.",
            title=_cut(f"{read.kind} could not be read: {read.message}"),
            resource=Resource(kind=read.kind, name="*", namespace=read.namespace),
            evidence={
                k: v
                for k, v in {
                    "request": f"{read.verb} {read.resource}",
                    "namespace": read.namespace,
                    "cause": read.cause,
                    "status": read.status,
                    "error": read.message,
                }.items()
                if v is not None
            },
            fix=Fix(
                summary=_FIXES.get(
                    read.cause,
                    "Retry; if it persists, check the API "
                    "server's health (`kubectl get --raw /readyz`).",
                )
            ),
        )


#: What stands behind a route: its Services, their endpoints, the pods and their owners.
_BACKEND_RESOURCES = frozenset({
    "services", "endpointslices.discovery.k8s.io", "pods", "deployments.apps",
    "statefulsets.apps", "daemonsets.apps",
})


def backend_gaps(
    route: RouteSummary | None, gaps: list[PermissionGap]
) -> tuple[list[PermissionGap], list[PermissionGap]]:
    """(refusals in the namespaces of the serving route's backends, the others). The first
    hide whether the target itself has endpoints and pods: a warning, not a footnote."""
    namespaces = {b.service.split("/", 1)[0] for b in route.backends} if route else set()
    own = [g for g in gaps if g.namespace in namespaces and g.resource in _BACKEND_RESOURCES]
    return own, [g for g in gaps if g not in own]


def judge_backend_gaps(route: RouteSummary, gaps: list[PermissionGap]) -> Iterator[Finding]:
    """One warning per refused list in the serving route's backend namespace, naming the
    verb, resource and namespace to grant."""
    services = ", ".join(f"Service {b.service}" for b in route.backends)
    for gap in gaps:
        namespace = str(gap.namespace)
        resource, _, group = gap.resource.partition(".")
        api_group = f'"{group}"' if group else '""'
        yield BACKEND_FORBIDDEN.finding(
            CHECK_ID,
            f"Your user may not {gap.verb} {gap.resource} in namespace {namespace}, where "
            f"{route.kind} {route.namespace}/{route.name} sends the target ({services}): "
            f"{gap.affects or 'what needs them'} of the target's own backends were not checked."
            " A failure there (no ready endpoint, pods restarting) would not show here.",
            title=f"Forbidden: {gap.verb} {gap.resource} in namespace {namespace}",
            resource=Resource(kind=route.kind, namespace=route.namespace, name=route.name),
            evidence={"forbidden": str(gap), "namespace": namespace, "services": services},
            fix=Fix(
                summary=f"Let your user {gap.verb} {gap.resource} in namespace {namespace} "
                "(the read-only ClusterRole of docs/rbac.yaml covers it), then run again; "
                f"`kubectl auth can-i {gap.verb} {gap.resource} -n {namespace}` says yes "
                "when it is granted.",
                snippet="apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n"
                f"  name: wsdoctor-backends\n  namespace: {namespace}\nrules:\n"
                f"  - apiGroups: [{api_group}]\n    resources: [{resource}]\n"
                '    verbs: ["get", "list"]\n',
                language="yaml",
            ),
        )


def _cut(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
