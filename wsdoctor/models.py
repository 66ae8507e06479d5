"""The typed data shared by every layer: statuses, findings, check results, targets.

Observations (what a probe measured) subclass :class:`Observation` and live next to their
probe in ``wsdoctor.checks`` (the cluster's in ``wsdoctor.kube.observation``);
the ``Report`` that ties everything together lives in ``wsdoctor.report``.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar, Literal

from wsdoctor.modelbase import Field as Field  # re-exported: the models' field specifier
from wsdoctor.modelbase import Model as Model  # re-exported: the base of every model


class Observation(Model):
    """Base of every probe's observation. Subclasses set ``check: Literal["<id>"]``."""

    detail_fields: ClassVar[tuple[str, ...]] = ()
    """Fields compact views (the TUI's details pane) leave out: nested detail that is in
    the JSON report and summarised by other fields."""


class Status(enum.StrEnum):
    """Verdict of a finding. Ordered by severity: ok < info < warn < fail."""

    OK = "ok"
    INFO = "info"
    WARN = "warn"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        """Severity as an integer, for ordering and thresholds."""
        return _STATUS_RANK[self]

    @property
    def mark(self) -> str:
        """Unicode mark in the style of ``linkerd check``."""
        return _MARKS[self][0]

    @property
    def ascii_mark(self) -> str:
        """ASCII fallback of :attr:`mark`."""
        return _MARKS[self][1]


_STATUS_RANK = {Status.OK: 0, Status.INFO: 1, Status.WARN: 2, Status.FAIL: 3}
_MARKS = {
    Status.OK: ("√", "[ok]"),
    Status.INFO: ("i", "[info]"),
    Status.WARN: ("‼", "[warn]"),
    Status.FAIL: ("×", "[FAIL]"),
}


class CheckStatus(enum.StrEnum):
    """Outcome of one check: whether it ran, and if so its worst finding."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIPPED = "skipped"
    ERROR = "error"

    @classmethod
    def from_findings(cls, statuses: list[Status]) -> CheckStatus:
        """A check that ran is as bad as its worst finding (info counts as ok)."""
        worst = max((s.rank for s in statuses), default=0)
        if worst >= Status.FAIL.rank:
            return cls.FAIL
        if worst >= Status.WARN.rank:
            return cls.WARN
        return cls.OK


Scalar = str | int | float | bool | None
EvidenceValue = Scalar | list[Scalar]


def endpoint(address: str, port: int) -> str:
    """``addr:port``, with brackets around an IPv6 address (``[::1]:443``)."""
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{port}"


class Resource(Model):
    """What a finding is about: a Kubernetes object and field, or a network hop.

    Network hops use kinds such as ``Address`` (``name`` = ``127.0.0.1:443``) or ``URL``.
    """

    kind: str
    name: str
    namespace: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}" + (f" ({self.field})" if self.field else "")


class Fix(Model):
    """What to change, with a ready snippet for the component actually in use."""

    summary: str
    snippet: str | None = None
    language: Literal["yaml", "nginx", "haproxy", "shell", "text", "json"] | None = None


class Finding(Model):
    """One judged fact: a stable code, its verdict, what was seen and what to change."""

    code: str
    check: str
    status: Status
    title: str
    detail: str
    evidence: dict[str, EvidenceValue] = Field(default_factory=dict)
    resource: Resource | None = None
    fix: Fix | None = None
    docs: str
    explains: list[str] = Field(
        default_factory=list,
        description="Codes of symptom findings this one is the root cause of; it is listed first.",
    )


class Scheme(enum.StrEnum):
    """WebSocket URL scheme."""

    WS = "ws"
    WSS = "wss"


class Target(Model):
    """The WebSocket endpoint under diagnosis, normalised from what the user typed."""

    url: str
    scheme: Scheme
    host: str
    port: int
    path: str

    @property
    def secure(self) -> bool:
        """True for ``wss``: TLS is part of the path."""
        return self.scheme is Scheme.WSS

    @property
    def host_header(self) -> str:
        """Value of the Host header: the port only when it is not the scheme's default."""
        default = 443 if self.secure else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


class CheckResult(Model):
    """Whether a check ran (and why not), how long it took and what it observed."""

    id: str
    status: CheckStatus
    reason: str | None = None
    duration_s: float = 0.0
    observation: Any = None
    traceback: str | None = Field(
        default=None, description="Only for status 'error': the probe's traceback, for bug reports."
    )
