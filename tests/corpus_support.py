"""The precision corpus: public manifests linted case by case (tests/fixtures/k8s/
corpus-cases.yaml) and the verdict recorded for every warn/fail finding
(corpus-verdicts.yaml): right, wrong or not relevant. Shared by the test that pins the
verdicts and by bench/lint_precision.py, which prints the counts."""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from wsdoctor.cli import Environment, main
from wsdoctor.kube.lint import LintFinding, LintReport

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "k8s"
CORPUS = FIXTURES / "corpus"
CASES = FIXTURES / "corpus-cases.yaml"
VERDICTS = FIXTURES / "corpus-verdicts.yaml"
VERDICT_VALUES = ("right", "wrong", "not relevant")
SOURCE = re.compile(
    r"^# source: https://github\.com/(?P<repo>[^/]+/[^/]+)/blob/(?P<commit>[0-9a-f]{40})/(?P<path>\S+)$"
)


@dataclass(frozen=True)
class Case:
    """One project's files, linted together with the options its docs apply them with."""

    name: str
    files: tuple[str, ...]
    args: tuple[str, ...] = ()


@dataclass
class Judged:
    """A warn/fail finding of a case and the verdict recorded for it (None: unrecorded)."""

    case: str
    key: str
    finding: LintFinding
    verdict: str | None
    why: str = ""


@dataclass
class Tally:
    """Counts over the whole corpus."""

    judged: list[Judged] = field(default_factory=list)
    stale: list[tuple[str, str, str]] = field(default_factory=list)
    """(case, key, verdict) recorded but not reported any more."""

    def counts(self) -> Counter[str]:
        """Findings per verdict ("unrecorded" for those without one)."""
        return Counter(j.verdict or "unrecorded" for j in self.judged)


def load_cases() -> list[Case]:
    """The cases, in file order."""
    raw = yaml.safe_load(CASES.read_text(encoding="utf-8"))
    return [
        Case(name=c["name"], files=tuple(c["files"]), args=tuple(c.get("args") or ())) for c in raw
    ]


def load_verdicts() -> dict[str, dict[str, dict[str, str]]]:
    """case → finding key → {verdict, why}."""
    raw: dict[str, Any] = yaml.safe_load(VERDICTS.read_text(encoding="utf-8")) or {}
    return {
        case: {entry["finding"]: entry for entry in entries or []} for case, entries in raw.items()
    }


def sources() -> dict[str, tuple[str, str, str]]:
    """Corpus file → (repository, commit, path) from its first line."""
    found = {}
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file():
            match = SOURCE.match(path.read_text(encoding="utf-8").splitlines()[0])
            rel = str(path.relative_to(CORPUS))
            found[rel] = (
                (match.group("repo"), match.group("commit"), match.group("path"))
                if match
                else ("", "", "")
            )
    return found


def lint_case(case: Case, *extra: str) -> LintReport:
    """The JSON report of ``wsdoctor lint`` on the case's files, run in-process."""
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdout=out, stderr=err, environ={}, stdout_isatty=False)
    argv = ["lint", *(str(CORPUS / f) for f in case.files), *case.args, *extra]
    main([*argv, "--format", "json", "--fail-on", "never"], env)
    return LintReport.model_validate_json(out.getvalue())


def finding_key(lf: LintFinding) -> str:
    """What identifies a finding across runs: code and resource (with its field)."""
    f = lf.finding
    return f"{f.code} {f.resource}" if f.resource is not None else f.code


def tally() -> Tally:
    """Lint every case and match each warn/fail finding with its recorded verdict."""
    verdicts = load_verdicts()
    result = Tally()
    for case in load_cases():
        recorded = verdicts.get(case.name, {})
        seen = set()
        for lf in lint_case(case).findings:
            if lf.finding.status.value not in ("warn", "fail"):
                continue
            key = finding_key(lf)
            seen.add(key)
            entry = recorded.get(key)
            result.judged.append(
                Judged(
                    case=case.name,
                    key=key,
                    finding=lf,
                    verdict=entry["verdict"] if entry else None,
                    why=entry.get("why", "") if entry else "",
                )
            )
        for key, entry in recorded.items():
            if key not in seen:
                result.stale.append((case.name, key, entry["verdict"]))
    return result
