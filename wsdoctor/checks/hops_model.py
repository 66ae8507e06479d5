"""What a bisected run observed: each hop behind the public address (a backend pod, an
ingress controller pod) measured with the same checks as the public address, and the table
that sets the hops side by side."""

from __future__ import annotations

from typing import ClassVar, Literal

from wsdoctor.checks.affinity import AffinityObservation
from wsdoctor.checks.base import Observation
from wsdoctor.checks.handshake import HandshakeObservation
from wsdoctor.checks.idle import IdleObservation
from wsdoctor.checks.messages import MessagesObservation
from wsdoctor.checks.tcp import TcpObservation
from wsdoctor.kube.hops import HopPlan
from wsdoctor.kube.snapshot import PermissionGap
from wsdoctor.modelbase import Field
from wsdoctor.models import CheckStatus, Finding, Model

Reach = Literal["port-forward", "pod-network"]
HopName = Literal["pod", "controller", "public"]


class HopCheck(Model):
    """How one check went on a hop."""

    id: str
    status: CheckStatus
    summary: str = ""
    reason: str | None = None
    duration_s: float = 0.0


class HopResult(Model):
    """One hop behind the public address and what its checks measured."""

    plan: HopPlan
    via: Reach | None = None
    status: Literal["tested", "skipped", "error"]
    reason: str | None = None
    """Why the hop was skipped or could not be tested."""
    permission_gap: PermissionGap | None = None
    """The RBAC permission that was missing, when that is why."""
    tunnel_errors: list[str] = Field(default_factory=list)
    """What the kubelet said on the port-forward's error channel (a refused pod port...)."""
    checks: list[HopCheck] = Field(default_factory=list)
    tcp: TcpObservation | None = None
    handshake: HandshakeObservation | None = None
    messages: MessagesObservation | None = None
    idle: IdleObservation | None = None
    affinity: AffinityObservation | None = None
    findings: list[Finding] = Field(default_factory=list)
    """What the checks' own rules said about this hop (its fixes are quoted by the verdict)."""
    duration_s: float = 0.0

    @property
    def name(self) -> HopName:
        return self.plan.role


class HopRow(Model):
    """One line of the comparison: the same columns for every hop, innermost first."""

    hop: HopName
    name: str
    """``pod chat/chat-5f7d``, ``ingress-nginx pod ingress-nginx/...``, ``public address``."""
    endpoint: str | None = None
    """``10.1.0.11:8080 via port-forward``, ``203.0.113.7:443``."""
    status: CheckStatus
    """The hop's worst check (skipped/error when it could not be tested)."""
    upgrade: str | None = None
    """``101``, ``HTTP 426``, ``closed``, ``connect failed``..."""
    time_to_101_ms: float | None = None
    idle: str | None = None
    """``none within 8 s``, ``4.0 s``, ``dropped silently``; None: not measured."""
    idle_timeout_s: float | None = None
    closed_by: str | None = None
    """``proxy (FIN)``, ``application (close 1000)``."""
    affinity: str | None = None
    note: str | None = None
    """Why the hop was skipped, or what was special about it (a rewritten path)."""


class HopsObservation(Observation):
    """The hops behind the public address, how they were reached, and the comparison."""

    check: Literal["hops"] = "hops"
    detail_fields: ClassVar[tuple[str, ...]] = ("hops",)
    reach: Reach | None = None
    """How pods were reached: the API server's port-forward, or the pod network directly."""
    hops: list[HopResult] = Field(default_factory=list)
    """The pod, then the ingress controller pod."""
    table: list[HopRow] = Field(default_factory=list)
    """Pod, controller, public address (filled in once the public checks have finished)."""
