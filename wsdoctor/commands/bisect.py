"""``wsdoctor bisect TARGET``: the diagnosis of ``wsdoctor TARGET`` (every option, every
format), plus the same upgrade, message and idle checks against a backend pod and an ingress
controller pod, and the verdict on which hop adds the fault."""

from __future__ import annotations

import argparse

from wsdoctor.console import Environment, UsageError
from wsdoctor.exit import ExitStatus

TYPE_CHECKING = False  # not typing's: `wsdoctor --help` does without importing typing
if TYPE_CHECKING:
    from collections.abc import Sequence

    from wsdoctor.settings import Settings

DESCRIPTION = """\
Bisect the path: find the pod and the ingress controller pod behind TARGET (it needs a
readable cluster), run the upgrade, message and (with --idle) idle checks against each as
against the public address, set them side by side, and name the first hop where a fault
appears, with the fix for that component. A fault already at the pod is the application's.

The ingress controller pod is sent the public Host and SNI, so it routes the request as it
routes the public ones while the cloud load balancer in front is left out. From outside the
cluster pods are reached through the API server's port-forward (--port-forward: needs create
on pods/portforward, docs/deploy/rbac-portforward.yaml); inside it (the DaemonSet/CronJob
deployments) by their IPs. TARGET and every other option are as for 'wsdoctor TARGET': the
hops get the same headers, client certificate and messages, while a proxy (--proxy,
HTTPS_PROXY...) carries only the public address's connections."""

EPILOG = """\
examples:
  wsdoctor bisect wss://chat.example.com/ws --port-forward
  wsdoctor bisect wss://chat.example.com/ws --port-forward --idle --idle-max 120
  wsdoctor bisect chat.example.com --pod-network --format json -o hops.json   # in the cluster

exit status: as for 'wsdoctor TARGET' (0 ok, 1 a finding reaches --fail-on, 2 usage error,
3 could not run, 4 incomplete: a check crashed or overran its time limit)."""


def bisect_parser() -> argparse.ArgumentParser:
    """The main command's parser (every option group it has) plus how to reach pods."""
    from wsdoctor.commands.options import build_parser

    parser = build_parser(prog="wsdoctor bisect", description=DESCRIPTION, epilog=EPILOG)
    group = parser.add_argument_group(
        "reaching the pods (bisect)",
        "Outside the cluster, pods are reached through the API server (opt in);\n"
        "inside it (a service account in a pod), by their IPs.",
    )
    how = group.add_mutually_exclusive_group()
    how.add_argument(
        "--port-forward",
        action="store_true",
        help="reach pods through the API server's port-forward (needs create on "
        "pods/portforward: the optional Role in docs/deploy/rbac-portforward.yaml)",
    )
    how.add_argument(
        "--pod-network",
        action="store_true",
        help="connect to pod IPs directly (automatic inside the cluster; use it where pod "
        "IPs are routable, e.g. from a node or over a VPN)",
    )
    return parser


def with_hops(settings: Settings, args: argparse.Namespace) -> Settings:
    """The run's settings with the hops check on and how to reach the pods."""
    if not settings.kubernetes:
        raise UsageError("bisect finds the hops in the cluster: drop --no-kubernetes")
    if "hops" in settings.skip:
        raise UsageError("bisect runs the hops check: do not --skip it")
    enable = [*settings.enable, "hops"]
    return settings.model_copy(update={"enable": enable, "port_forward": args.port_forward,
                                       "pod_network": args.pod_network})


def bisect_command(argv: Sequence[str], env: Environment) -> ExitStatus:
    """``wsdoctor bisect TARGET``."""
    from wsdoctor.commands.diagnose import diagnose_command

    return diagnose_command(argv, env, parser=bisect_parser(), adjust=with_hops)
