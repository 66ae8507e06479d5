#!/usr/bin/env python3
"""Bench for issue 9 acceptance line 1: ``wsdoctor lint`` on the precision corpus (public
manifests from tests/fixtures/k8s/corpus, linted project by project as
tests/fixtures/k8s/corpus-cases.yaml says) and the recorded verdict of every warn/fail
finding. Prints the counts and the share right and relevant; not part of pytest.

    .venv/bin/python bench/lint_precision.py [--list]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.corpus_support import load_cases, load_verdicts, sources, tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every judged finding")
    args = parser.parse_args()
    found = sources()
    repos = Counter(repo for repo, _, _ in found.values())
    result = tally()
    counts = result.counts()
    total = sum(counts.values())
    print(f"corpus: {len(found)} files from {len(repos)} repositories, {len(load_cases())} cases")
    print(f"warn/fail findings now: {total}")
    for verdict in ("right", "wrong", "not relevant", "unrecorded"):
        print(f"  {verdict:<13} {counts.get(verdict, 0)}")
    share = counts.get("right", 0) / total if total else 0.0
    print(f"right and relevant: {share:.1%} (goal: at least 90 %)")
    recorded = Counter(
        entry["verdict"]
        for case, entries in load_verdicts().items()
        for key, entry in entries.items()
        if (case, key) in {(c, k) for c, k, _ in result.stale}
    )
    if recorded:
        gone = ", ".join(f"{n} {v}" for v, n in sorted(recorded.items()))
        print(f"recorded findings no longer reported (fixed): {gone}")
    if args.list:
        for judged in result.judged:
            print(f"{judged.verdict or 'UNRECORDED':<13} {judged.case}: {judged.key}")
    return 0 if share >= 0.9 and not counts.get("unrecorded") else 1


if __name__ == "__main__":
    sys.exit(main())
