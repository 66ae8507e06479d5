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

UNREADABLE = Code("WSD-K8S-UNREADABLE", Status.WARN, "The cluster could not be read")
READ_FAILED = Code("WSD-K8S-READ-FAILED", Status.WARN, "Some objects could not be read")
CODES = (UNREADABLE, READ_FAILED)

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
        cause=cause,
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


def _cut(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
