"""The Report: the canonical result of a run. JSON is ``model_dump_json()``; every other
format (text, TUI, metrics) is rendered from it, including from a saved file."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from wsdoctor import __version__
from wsdoctor.models import CheckStatus, Field, Finding, Model, Observation, Status, Target

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import CoreSchema

SCHEMA_VERSION: Literal[1] = 1

ReportStatus = Literal["ok", "warn", "fail", "error"]


class _EveryObservation:
    """The observation of a check report is one of every check's observation types, told apart
    by ``check`` (:data:`wsdoctor.report_union.ObservationUnion`). Those types are imported
    when pydantic builds a schema from it (reading a saved report, the JSON Schema), not with
    this module: a run builds its report from the observations it holds and dumps each by its
    own type, so it imports only the checks it runs."""

    def __get_pydantic_core_schema__(
        self, source: object, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        from wsdoctor.report_union import ObservationUnion

        return handler.generate_schema(ObservationUnion)


if TYPE_CHECKING:
    from wsdoctor.report_union import ObservationUnion
else:
    ObservationUnion = Annotated[Observation, _EveryObservation()]


class CheckReport(Model):
    """Whether a check ran (and why not), how long it took and what it observed."""

    id: str
    title: str
    hop: str
    status: CheckStatus
    summary: str = ""
    """One-line verdict drawn from the observation."""
    reason: str | None = None
    """Why the check was skipped or failed to run."""
    duration_s: float = 0.0
    observation: ObservationUnion | None = None
    traceback: str | None = None
    """Only for status 'error': the probe's traceback, to attach to a bug report."""


class Tool(Model):
    """Who wrote the report."""

    name: Literal["wsdoctor"] = "wsdoctor"
    version: str = __version__


class Report(Model):
    """Everything one diagnosis found, in the order a person should read it."""

    schema_version: Literal[1] = SCHEMA_VERSION
    tool: Tool = Field(default_factory=Tool)
    target: Target
    started_at: datetime
    duration_s: float
    status: ReportStatus
    """The worst finding (info counts as ok); ``error`` when a check crashed or overran its
    time limit and nothing failed: the diagnosis is incomplete."""
    options: dict[str, str | int | float | bool | list[str] | None] = Field(default_factory=dict)
    """The settings that shaped the run, with secrets redacted."""
    checks: list[CheckReport]
    findings: list[Finding]

    def check(self, check_id: str) -> CheckReport | None:
        """The check with this id, if it was run."""
        return next((c for c in self.checks if c.id == check_id), None)

    def worst(self) -> Status:
        """The most severe finding status (ok when there is none)."""
        return max((f.status for f in self.findings), key=lambda s: s.rank, default=Status.OK)

    def to_json(self) -> str:
        """The canonical JSON text (indented, one trailing newline), with what a terminal
        would act on written as ``\\u`` escapes: every JSON output is this."""
        from wsdoctor.untrusted import json_safe

        return json_safe(self.model_dump_json(indent=2)) + "\n"

    @classmethod
    def load(cls, path: Path) -> Report:
        """Read a saved JSON report."""
        return cls.model_validate_json(path.read_bytes())


def report_status(findings: list[Finding], checks: Iterable[CheckReport]) -> ReportStatus:
    """Overall status: the worst finding, with info counted as ok (as for one check); a
    check that ended in ``error`` makes an incomplete run ``error`` unless something failed."""
    verdict = CheckStatus.from_findings([f.status for f in findings])
    if verdict is CheckStatus.FAIL:
        return "fail"
    if any(c.status is CheckStatus.ERROR for c in checks):
        return "error"
    if verdict is CheckStatus.WARN:
        return "warn"
    return "ok"


def json_schema() -> dict[str, object]:
    """The JSON Schema of the report, as committed under docs/."""
    schema = Report.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/wsdoctor/wsdoctor/docs/report.schema.json"
    return schema
