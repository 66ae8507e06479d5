"""No lint result depends on the order of files on the command line or of the documents in
them (issue 9, acceptance 2): real projects from the precision corpus are linted with their
files and documents shuffled, and every report is the same."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from tests.corpus_support import CORPUS, lint_case, load_cases
from tests.unit.test_lint_inputs import lint_json

CASES = (
    "socketio-scaling",
    "nginx-custom-headers",
    "istio-bookinfo",
    "linkerd-emojivoto-policy",
    "haproxytech-e2e-config",
    "home-assistant-robmorgan",
    "traefik-reference-crd",
    "code-server",
)
_DOC_SPLIT = re.compile(r"^---[ \t]*$", re.M)
_LINE = re.compile(r"(\.ya?ml):\d+")


def shuffled_copy(src: Path, dst: Path, rng: random.Random) -> None:
    """``src`` with its documents in a random order (its comments and separators kept)."""
    documents = [d for d in _DOC_SPLIT.split(src.read_text(encoding="utf-8")) if d.strip()]
    rng.shuffle(documents)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("\n---\n".join(d.strip("\n") for d in documents) + "\n", encoding="utf-8")


def normalised(report: dict[str, Any], root: str) -> dict[str, Any]:
    """The report without what moving documents must change: file prefixes and line numbers."""
    findings = []
    for lf in report["findings"]:
        finding = dict(lf["finding"])
        finding["detail"] = _LINE.sub(r"\1:N", finding["detail"].replace(root, ""))
        finding["evidence"] = {
            k: _LINE.sub(r"\1:N", v.replace(root, "")) if isinstance(v, str) else v
            for k, v in finding["evidence"].items()
        }
        where = lf["location"]["file"].replace(root, "") if lf["location"] else None
        findings.append((finding, where))
    return {
        "findings": findings,
        "routes": report["routes"],
        "objects": report["objects"],
        "status": report["status"],
        "files": sorted(f.replace(root, "") for f in report["files"]),
    }


@pytest.mark.parametrize("name", CASES)
def test_shuffling_files_and_documents_never_changes_the_report(name: str, tmp_path: Path) -> None:
    """Given a project's files, five shuffles of file and document order give one report."""
    case = next(c for c in load_cases() if c.name == name)
    assert lint_case(case).findings  # a case with something to compare
    reports = []
    for seed in range(6):
        rng = random.Random(seed)
        root = tmp_path / f"s{seed}"
        files = list(case.files)
        for rel in files:
            if seed == 0:  # the files as published
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text((CORPUS / rel).read_text(encoding="utf-8"))
            else:
                shuffled_copy(CORPUS / rel, root / rel, rng)
        rng.shuffle(files)
        _, report, _ = lint_json(*(str(root / f) for f in files), *case.args)
        reports.append(normalised(report, str(root) + "/"))
    assert all(r == reports[0] for r in reports[1:])
