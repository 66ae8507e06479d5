"""Finding codes: the :class:`Code` constants every rule declares next to itself.

Kept apart from ``wsdoctor.checks`` so that rules outside the probes (the cluster rules in
``wsdoctor.kube``) declare codes without importing the check registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from wsdoctor.docs import page_url
from wsdoctor.models import EvidenceValue, Finding, Fix, Resource, Status
from wsdoctor.records import dataclass


@dataclass(frozen=True)
class Code:
    """A finding code: public API, never renumbered or reused. Severity and title live here."""

    code: str
    status: Status
    title: str

    @property
    def docs(self) -> str:
        """The published URL of the code's documentation page (``wsdoctor explain CODE``
        prints the same page from the installed package)."""
        return page_url(self.code)

    def finding(
        self,
        check: str,
        detail: str,
        *,
        evidence: Mapping[str, EvidenceValue] | None = None,
        resource: Resource | None = None,
        fix: Fix | None = None,
        title: str | None = None,
        explains: Sequence[Code] = (),
    ) -> Finding:
        """A finding of this code. ``title`` may specialise the registered one."""
        return Finding(
            code=self.code,
            check=check,
            status=self.status,
            title=title or self.title,
            detail=detail,
            evidence=dict(evidence or {}),
            resource=resource,
            fix=fix,
            docs=self.docs,
            explains=[c.code for c in explains],
        )
