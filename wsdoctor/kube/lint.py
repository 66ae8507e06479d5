"""``wsdoctor lint PATH...``: the cluster rules on manifests, with no network and no cluster.
Formats: text, JSON (:class:`LintReport`) and SARIF 2.1.0 for code-scanning UIs."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath
from typing import Any, Literal, TextIO
from urllib.parse import quote

from wsdoctor import __version__
from wsdoctor.docs import page_url
from wsdoctor.kube.manifests import (
    DEFAULT_NAMESPACE,
    INPUT_CODES,
    STDIN_NAME,
    UNREADABLE,
    ManifestSet,
    load_manifests,
)
from wsdoctor.kube.rulebase import RuleOptions
from wsdoctor.kube.rules import CONFIG_CODES, judge_snapshot, websocket_routes
from wsdoctor.kube.websocket import RouteJudgement
from wsdoctor.modelbase import Field
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
    unread: list[str] = Field(default_factory=list)
    """Files that could not be read or parsed (each also has a finding)."""
    namespace: str = DEFAULT_NAMESPACE
    """The namespace given to objects that have none (``-n``)."""
    objects: int
    status: Literal["ok", "warn", "fail"]
    routes: list[RouteJudgement] = Field(default_factory=list)
    """Every route, whether it was judged to carry WebSockets, and on what evidence."""
    findings: list[LintFinding] = Field(default_factory=list)


def lint(
    paths: list[str],
    options: RuleOptions,
    stdin: TextIO | None,
    suppress: set[str],
    namespace: str = DEFAULT_NAMESPACE,
) -> tuple[ManifestSet, LintReport]:
    """Load the manifests and judge them. ManifestError only when a path names nothing; a
    file that cannot be read is a finding and the other files are still judged."""
    with paused_gc():
        return _lint(paths, options, stdin, suppress, namespace)


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while a lint run builds its objects: with hundreds of
    thousands of YAML nodes alive, each collection rescans them all (several times slower).
    They are frozen afterwards, so the first collection does not scan them either; they are
    acyclic and freed by reference counting when the run ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _lint(
    paths: list[str],
    options: RuleOptions,
    stdin: TextIO | None,
    suppress: set[str],
    namespace: str,
) -> tuple[ManifestSet, LintReport]:
    manifests = load_manifests(paths, stdin, namespace)
    located: list[LintFinding] = []
    for problem in manifests.problems:
        if problem.code.code not in suppress:
            where = LintLocation(file=problem.file, line=problem.line or 1)
            located.append(LintFinding(finding=problem.finding(), location=where))
    findings = [*judge_snapshot(manifests.snapshot, options), *manifests.duplicates]
    for finding in findings:
        if finding.code in suppress:
            continue
        location = None
        res = finding.resource
        if res is not None:
            loc = manifests.location(res.kind, res.namespace, res.name)
            if loc is not None:
                location = LintLocation(file=loc.file, line=loc.line_of(res.field))
        located.append(LintFinding(finding=finding, location=location))
    located.sort(key=lambda lf: -lf.finding.status.rank)
    worst = max((lf.finding.status.rank for lf in located), default=0)
    status: Literal["ok", "warn", "fail"] = (
        "fail" if worst >= Status.FAIL.rank else "warn" if worst >= Status.WARN.rank else "ok"
    )
    report = LintReport(
        files=manifests.files,
        unread=[p.file for p in manifests.problems if p.code is UNREADABLE],
        namespace=namespace,
        objects=len(manifests.snapshot.objects),
        status=status,
        routes=websocket_routes(manifests.snapshot, options),
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
    """The report as a SARIF 2.1.0 log: one rule per code, one result per finding; files
    that were not linted are the invocation's tool execution notifications."""
    codes = {c.code: c for c in (*CONFIG_CODES, *INPUT_CODES)}
    inputs = [lf for lf in report.findings if lf.finding.code in _INPUT_NOTIFICATIONS]
    findings = [lf for lf in report.findings if lf.finding.code not in _INPUT_NOTIFICATIONS]
    used = sorted({lf.finding.code for lf in findings})
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
    for lf in findings:
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
                "invocations": [
                    {
                        "executionSuccessful": not report.unread,
                        "toolExecutionNotifications": [_notification(lf) for lf in inputs],
                    }
                ],
                "artifacts": [_artifact(name) for name in report.files],
                "results": results,
            }
        ],
    }


#: Codes about the input itself: SARIF tool execution notifications, not results.
_INPUT_NOTIFICATIONS = frozenset(c.code for c in INPUT_CODES if c.code != "WSD-K8S-DUPLICATE")


def _notification(lf: LintFinding) -> dict[str, Any]:
    """A file that was not (wholly) linted, as a SARIF notification."""
    note: dict[str, Any] = {
        "level": _SARIF_LEVEL[lf.finding.status],
        "message": {"text": lf.finding.detail},
        "descriptor": {"id": lf.finding.code},
    }
    if lf.location is not None:
        note["locations"] = [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": artifact_uri(lf.location.file)},
                    "region": {"startLine": lf.location.line},
                }
            }
        ]
    return note


def _count(n: int, noun: str) -> str:
    """``1 file``, ``2 files``, ``0 notes``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def render_text(report: LintReport, out: TextIO, colour: bool, ascii_only: bool) -> None:
    """Findings in the style of the diagnosis text report, each with its file:line."""
    from wsdoctor.reports.text import TextStyle, finding_lines

    style = TextStyle(colour=colour, ascii_only=ascii_only)
    out.write(
        f"wsdoctor lint — {_count(len(report.files), 'file')}, {_count(report.objects, 'object')}\n"
    )
    websocket = [j for j in report.routes if j.websocket]
    if report.routes:
        out.write(
            f"WebSocket routes: {len(websocket)} of {_count(len(report.routes), 'route')} "
            "(the others get the correctness rules only)\n"
        )
    for judged in websocket:
        paths = f" {', '.join(judged.paths)}" if judged.paths else ""
        out.write(f"  {judged.ref}{paths}: {'; '.join(judged.evidence)}\n")
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
