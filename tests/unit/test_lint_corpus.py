"""The precision corpus: public manifests linted project by project, with a recorded verdict
for every warn/fail finding (tests/fixtures/k8s/corpus-verdicts.yaml). A finding recorded
right must still be reported; one recorded wrong or not relevant must not come back; a new
warn/fail finding must be judged and recorded before it is accepted."""

from __future__ import annotations

import pytest

from tests.corpus_support import (
    CORPUS,
    VERDICT_VALUES,
    Tally,
    load_cases,
    load_verdicts,
    sources,
    tally,
)
from wsdoctor.kube.manifests import load_manifests
from wsdoctor.kube.rulebase import RuleOptions
from wsdoctor.kube.shapes import split_malformed
from wsdoctor.kube.websocket import websocket_scope

#: Rules that judge WebSocket behaviour: they may only speak about WebSocket routes.
WEBSOCKET_SPECIFIC = {
    "WSD-NGINX-TIMEOUT-SHORT",
    "WSD-NGINX-CONNECT-TIMEOUT",
    "WSD-NGINX-RATE-LIMIT",
    "WSD-NGINX-WORKER-CONNECTIONS",
    "WSD-HAPROXY-TUNNEL-SHORT",
    "WSD-GATEWAY-TIMEOUT-SHORT",
    "WSD-LB-IDLE-SHORT",
    "WSD-ISTIO-H2-UPGRADE",
    "WSD-ISTIO-CONN-LIMIT",
    "WSD-ISTIO-TCP-IDLE",
    "WSD-K8S-SINGLE-REPLICA",
    "WSD-K8S-NO-READINESS-PROBE",
    "WSD-K8S-NO-DRAIN",
    "WSD-K8S-NO-PDB",
    "WSD-K8S-HPA-SCALEDOWN",
}


@pytest.fixture(scope="module")
def corpus_tally() -> Tally:
    return tally()


def test_every_file_cites_repository_path_and_commit() -> None:
    """Each corpus file starts with its source; at least 60 files from at least 8 repositories."""
    found = sources()
    uncited = [name for name, (repo, _, _) in found.items() if not repo]
    assert not uncited, uncited
    assert len(found) >= 60
    assert len({repo for repo, _, _ in found.values()}) >= 8


def test_every_case_names_existing_files_once() -> None:
    """The cases cover every corpus file and name only files that exist."""
    named = [f for case in load_cases() for f in case.files]
    assert all((CORPUS / f).is_file() for f in named)
    assert set(named) == set(sources())
    assert len({case.name for case in load_cases()}) == len(load_cases())


def test_every_warn_or_fail_finding_has_a_verdict(corpus_tally: Tally) -> None:
    """A warn/fail finding nobody judged makes the precision figures meaningless."""
    missing = [f"{j.case}: {j.key}" for j in corpus_tally.judged if j.verdict is None]
    assert not missing, "record a verdict in corpus-verdicts.yaml for:\n" + "\n".join(missing)
    recorded = [e for case in load_verdicts().values() for e in case.values()]
    assert {e["verdict"] for e in recorded} <= set(VERDICT_VALUES)
    assert all(e.get("why") for e in recorded)


def test_findings_recorded_right_are_still_reported(corpus_tally: Tally) -> None:
    """A finding judged right that disappears is a lost true positive."""
    lost = [f"{case}: {key}" for case, key, verdict in corpus_tally.stale if verdict == "right"]
    assert not lost, lost


def test_findings_recorded_wrong_or_not_relevant_do_not_come_back(corpus_tally: Tally) -> None:
    """A finding once judged wrong or not relevant is not reported again."""
    back = [
        f"{j.case}: {j.key}" for j in corpus_tally.judged if j.verdict in ("wrong", "not relevant")
    ]
    assert not back, back


def test_precision_is_at_least_90_percent(corpus_tally: Tally) -> None:
    """At least 90 % of warn/fail findings are right and relevant (issue 9, acceptance 1)."""
    counts = corpus_tally.counts()
    total = sum(counts.values())
    assert total and counts["right"] / total >= 0.9, counts


def test_no_websocket_specific_finding_on_a_route_without_websocket_evidence(
    corpus_tally: Tally,
) -> None:
    """WebSocket-specific warn/fail findings are only about WebSocket routes, the Services and
    workloads behind them and the policies for those Services."""
    cases = {case.name: case for case in load_cases()}
    for judged in corpus_tally.judged:
        code = judged.finding.finding.code
        res = judged.finding.finding.resource
        if code not in WEBSOCKET_SPECIFIC or res is None:
            continue
        case = cases[judged.case]
        namespace = case.args[1] if case.args[:1] == ("-n",) else "default"
        snap = load_manifests([str(CORPUS / f) for f in case.files], namespace=namespace).snapshot
        scope = websocket_scope(split_malformed(snap)[0], RuleOptions())
        obj = snap.find(res.kind, res.namespace, res.name)
        assert obj is not None, judged.key
        covered = (
            scope.route(obj)
            or scope.workload(obj)
            or scope.service(obj.namespace, obj.name)
            or obj.kind in ("ConfigMap", "DestinationRule", "HorizontalPodAutoscaler")
        )
        assert covered, f"{judged.case}: {judged.key} is not about a WebSocket route"
