"""``wsdoctor lint PATH...``: the cluster rules on manifests, with no network and no cluster.
Formats: text, JSON (:class:`LintReport`) and SARIF 2.1.0 for code-scanning UIs."""

from __future__ import annotations

import json
from pathlib import Path, PurePath
from typing import Any, Literal, TextIO
from urllib.parse import quote

from pydantic import Field

from wsdoctor import __version__
from wsdoctor.docs import page_url
from wsdoctor.kube.manifests import STDIN_NAME, ManifestSet, load_manifests
from wsdoctor.kube.rulebase import RuleOptions
from wsdoctor.kube.rules import CONFIG_CODES, judge_snapshot
from wsdoctor.models import Finding, Model, Status

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {
    Status.FAIL: "error",
    Status.WARN: "warning",
    Status.INFO: "note",
    Status.OK: "none",
}


class LintLocation(Model):
    """Where a finding's resource is defined."""

    file: str
    line: int


class LintFinding(Model):
    """A finding and the file/line of the offending key."""

    finding: Finding
    location: LintLocation | None = None


class LintReport(Model):
    """The result of ``wsdoctor lint``."""

    schema_version: Literal[1] = 1
    tool: str = f"wsdoctor {__version__}"
    files: list[str]
    objects: int
    status: Literal["ok", "warn", "fail"]
    findings: list[LintFinding] = Field(default_factory=list)


def lint(
    paths: list[str], options: RuleOptions, stdin: TextIO | None, suppress: set[str]
) -> tuple[ManifestSet, LintReport]:
    """Load the manifests and judge them; ManifestError when a file cannot be read."""
    manifests = load_manifests(paths, stdin)
    findings = [f for f in judge_snapshot(manifests.snapshot, options) if f.code not in suppress]
    findings.sort(key=lambda f: -f.status.rank)
    located = []
    for finding in findings:
        location = None
        res = finding.resource
        if res is not None:
            loc = manifests.location(res.kind, res.namespace, res.name)
            if loc is not None:
                location = LintLocation(file=loc.file, line=loc.line_of(res.field))
        located.append(LintFinding(finding=finding, location=location))
    worst = max((f.status.rank for f in findings), default=0)
    status: Literal["ok", "warn", "fail"] = (
        "fail" if worst >= Status.FAIL.rank else "warn" if worst >= Status.WARN.rank else "ok"
    )
    report = LintReport(
        files=manifests.files,
        objects=len(manifests.snapshot.objects),
        status=status,
        findings=located,
    )
    return manifests, report


#: The artifact name of standard input: a valid relative URI reference (``<stdin>`` and
#: ``-`` are not usable as one), explained by the artifact's description.
STDIN_URI = "stdin.yaml"


def artifact_uri(file: str) -> str:
    """A file name as a SARIF URI reference: relative paths percent-encoded, absolute ones
    as ``file://`` URIs, standard input as :data:`STDIN_URI`."""
    if file in ("-", STDIN_NAME):
        return STDIN_URI
    path = PurePath(file)
    if path.is_absolute():
        return Path(file).as_uri()
    return quote(path.as_posix())


def _artifact(file: str) -> dict[str, Any]:
    artifact: dict[str, Any] = {"location": {"uri": artifact_uri(file)}}
    if file == "-":
        artifact["description"] = {"text": "the manifests read from standard input"}
    return artifact


def to_sarif(report: LintReport) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log: one rule per code, one result per finding."""
    codes = {c.code: c for c in CONFIG_CODES}
    used = sorted({lf.finding.code for lf in report.findings})
    rules = [
        {
            "id": code,
            "name": code.removeprefix("WSD-").title().replace("-", ""),
            "shortDescription": {"text": codes[code].title if code in codes else code},
            "helpUri": page_url(code),
            "defaultConfiguration": {
                "level": _SARIF_LEVEL[codes[code].status] if code in codes else "warning"
            },
        }
        for code in used
    ]
    results = []
    for lf in report.findings:
        f = lf.finding
        text = f.detail + (f" Fix: {f.fix.summary}" if f.fix else "")
        result: dict[str, Any] = {
            "ruleId": f.code,
            "ruleIndex": used.index(f.code),
            "level": _SARIF_LEVEL[f.status],
            "message": {"text": text},
        }
        location: dict[str, Any] = {}
        if lf.location is not None:
            location["physicalLocation"] = {
                "artifactLocation": {"uri": artifact_uri(lf.location.file)},
                "region": {"startLine": lf.location.line},
            }
        if f.resource is not None:
            location["logicalLocations"] = [
                {"fullyQualifiedName": str(f.resource), "kind": "resource"}
            ]
        if location:
            result["locations"] = [location]
        if f.fix is not None and f.fix.snippet:
            result["properties"] = {"fix": f.fix.snippet}
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "wsdoctor",
                        "version": __version__,
                        "informationUri": "https://github.com/wsdoctor/wsdoctor",
                        "rules": rules,
                    }
                },
                "artifacts": [_artifact(name) for name in report.files],
                "results": results,
            }
        ],
    }


def _count(n: int, noun: str) -> str:
    """``1 file``, ``2 files``, ``0 notes``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def render_text(report: LintReport, out: TextIO, colour: bool, ascii_only: bool) -> None:
    """Findings in the style of the diagnosis text report, each with its file:line."""
    from wsdoctor.reports.text import TextStyle, finding_lines

    style = TextStyle(colour=colour, ascii_only=ascii_only)
    out.write(
        f"wsdoctor lint — {_count(len(report.files), 'file')}, "
        f"{_count(report.objects, 'object')}\n"
    )
    for lf in report.findings:
        out.write("\n")
        lines = finding_lines(lf.finding, style)
        if lf.location is not None:
            lines.insert(1, f"      at: {lf.location.file}:{lf.location.line}")
        out.write("\n".join(lines) + "\n")
    counts = {s: sum(1 for lf in report.findings if lf.finding.status is s) for s in Status}
    mark = style.finding_mark(Status(report.status))
    out.write(
        f"\n{mark} {counts[Status.FAIL]} failed, {_count(counts[Status.WARN], 'warning')}, "
        f"{_count(counts[Status.INFO], 'note')}\n"
    )


def render(report: LintReport, fmt: str, out: TextIO, colour: bool, ascii_only: bool) -> None:
    """Write the report in ``fmt`` (text, json, sarif). What the manifests said is data: JSON
    escapes what a terminal would act on, the text view shows it escaped."""
    from wsdoctor.untrusted import json_safe, safe

    if fmt == "json":
        out.write(json_safe(report.model_dump_json(indent=2)) + "\n")
    elif fmt == "sarif":
        out.write(json.dumps(to_sarif(report), indent=2) + "\n")  # ASCII: \\u escapes
    else:
        render_text(safe(report), out, colour, ascii_only)
