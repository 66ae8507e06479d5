"""Malformed manifests (a field of the wrong type) through ``wsdoctor lint``: one finding
naming the object, field, file and line; never a crash; the other objects still checked.
Also the lint command's small edges: --debug, singular counts, SARIF for stdin, empty
directories and files named twice."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wsdoctor.cli import Environment, main
from wsdoctor.exit import ExitStatus
from wsdoctor.kube import rules
from wsdoctor.kube.rulebase import RuleOptions
from wsdoctor.kube.snapshot import ClusterSnapshot
from wsdoctor.models import Finding

MALFORMED = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "malformed"
NEIGHBOUR = MALFORMED / "malformed-PASSED.yaml"


def run_lint(*argv: str, stdin: str = "") -> tuple[ExitStatus, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = Environment(
        stdin=io.StringIO(stdin), stdout=out, stderr=err, environ={}, stdout_isatty=False
    )
    status = main(["lint", *argv], env)
    return status, out.getvalue(), err.getvalue()


def lint_json(*argv: str, stdin: str = "") -> tuple[ExitStatus, dict[str, Any], str]:
    status, out, err = run_lint(*argv, "--format", "json", stdin=stdin)
    return status, json.loads(out), err


@pytest.mark.parametrize(
    ("case", "kind", "field", "line"),
    [
        ("ingress-backend", "Ingress", "spec.rules[0].http.paths[0].backend", 14),
        ("ingress-rules", "Ingress", "spec.rules", 8),
        ("ingress-paths", "Ingress", "spec.rules[0].http.paths", 11),
        ("deployment-containers", "Deployment", "spec.template.spec.containers", 14),
        ("service-ports", "Service", "spec.ports", 9),
        ("httproute-parentrefs", "HTTPRoute", "spec.parentRefs", 8),
        ("ingressroute-routes", "IngressRoute", "spec.routes", 9),
        ("ingressroute-services", "IngressRoute", "spec.routes[0].services", 12),
        ("virtualservice-route", "VirtualService", "spec.http[0].route", 10),
        ("metadata-labels", "Service", "metadata.labels", 7),
    ],
)
def test_malformed_object_is_one_finding_at_its_line_and_the_rest_is_checked(
    case: str, kind: str, field: str, line: int
) -> None:
    """Given a field of the wrong type, lint reports WSD-K8S-MALFORMED at that field's line,
    exits 1, and the well-formed neighbour still gets its own finding."""
    path = MALFORMED / f"{case}-FAILED.yaml"
    status, report, err = lint_json(str(path), str(NEIGHBOUR))
    assert status is ExitStatus.FINDINGS, err
    assert err == ""
    bad = [lf for lf in report["findings"] if lf["finding"]["code"] == "WSD-K8S-MALFORMED"]
    assert len(bad) == 1, report["findings"]
    finding, location = bad[0]["finding"], bad[0]["location"]
    assert finding["resource"] == {
        "kind": kind,
        "name": "broken",
        "namespace": "chat",
        "field": field,
    }
    assert location == {"file": str(path), "line": line}
    assert field in finding["detail"] and "not checked" in finding["detail"]
    codes = {lf["finding"]["code"] for lf in report["findings"]}
    assert "WSD-NGINX-TIMEOUT-SHORT" in codes
    assert "WSD-INTERNAL-RULE-ERROR" not in codes


def test_malformed_text_report_names_file_and_line() -> None:
    """The QA case (backend: oops) prints a finding with file:line, not 'could not run'."""
    path = MALFORMED / "ingress-backend-FAILED.yaml"
    status, out, err = run_lint(str(path))
    assert status is ExitStatus.FINDINGS
    assert "could not run" not in out + err
    assert f"at: {path}:14" in out
    assert "spec.rules[0].http.paths[0].backend must be a mapping" in out


def test_malformed_service_is_not_called_missing() -> None:
    """A route to a Service that is itself malformed is not told the Service is missing."""
    manifest = (
        (MALFORMED / "service-ports-FAILED.yaml").read_text().replace("name: broken", "name: chat")
    )
    _, report, _ = lint_json("-", str(NEIGHBOUR), stdin=manifest)
    codes = [lf["finding"]["code"] for lf in report["findings"]]
    assert "WSD-K8S-MALFORMED" in codes
    assert "WSD-K8S-SERVICE-MISSING" not in codes


def _crashing_rule(snap: ClusterSnapshot, options: RuleOptions) -> Iterator[Finding]:
    """A rule with a bug: it crashes on any Service named 'boom'."""
    for obj in snap.of_kind("Service"):
        if obj.name == "boom":
            raise KeyError("boom")
    yield from ()


def test_a_crashing_rule_is_reported_per_object_and_the_rest_still_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Given a rule that crashes on one object, lint reports WSD-INTERNAL-RULE-ERROR naming
    that object and still reports the other rules' findings; --debug prints the traceback."""
    monkeypatch.setattr(rules, "CONFIG_RULES", (_crashing_rule, *rules.CONFIG_RULES))
    boom = tmp_path / "boom.yaml"
    boom.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: boom, namespace: chat}\n"
        "spec: {ports: [{port: 80}]}\n"
    )
    status, report, err = lint_json(str(boom), str(NEIGHBOUR), "--debug", "--fail-on", "warn")
    assert status is ExitStatus.FINDINGS
    errors = [lf for lf in report["findings"] if lf["finding"]["code"] == "WSD-INTERNAL-RULE-ERROR"]
    assert len(errors) == 1
    assert errors[0]["finding"]["resource"]["name"] == "boom"
    assert "_crashing_rule crashed on Service chat/boom" in errors[0]["finding"]["detail"]
    assert errors[0]["location"] == {"file": str(boom), "line": 1}
    assert "WSD-NGINX-TIMEOUT-SHORT" in {lf["finding"]["code"] for lf in report["findings"]}
    assert "Traceback" in err and "KeyError" in err


def test_lint_accepts_debug() -> None:
    """--debug is a lint option (it was 'unrecognized arguments')."""
    status, out, err = run_lint(str(NEIGHBOUR), "--debug")
    assert status is ExitStatus.OK, err
    assert "WSD-NGINX-TIMEOUT-SHORT" in out
    assert "unrecognized" not in err


def test_text_counts_are_singular_for_one() -> None:
    """One file, one object, one warning read '1 file, 1 object', never '1 files'."""
    _, out, _ = run_lint(str(NEIGHBOUR), "--fail-on", "never")
    assert "1 file, 1 object\n" in out
    assert "1 files" not in out and "1 objects" not in out and "1 notes" not in out


def test_sarif_uri_for_stdin_is_a_valid_relative_reference() -> None:
    """Manifests from stdin appear in SARIF as stdin.yaml, described as standard input."""
    status, out, _ = run_lint(
        "-", "--format", "sarif", stdin=(MALFORMED / "ingress-rules-FAILED.yaml").read_text()
    )
    assert status is ExitStatus.FINDINGS
    run = json.loads(out)["runs"][0]
    assert run["artifacts"] == [
        {
            "location": {"uri": "stdin.yaml"},
            "description": {"text": "the manifests read from standard input"},
        }
    ]
    uris = {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for result in run["results"]
        for loc in result["locations"]
        if "physicalLocation" in loc
    }
    assert uris == {"stdin.yaml"}


def test_sarif_uri_of_a_path_with_a_space_is_percent_encoded() -> None:
    """A relative path is a URI reference: a space is %20, not a raw space."""
    from wsdoctor.kube.lint import artifact_uri

    assert artifact_uri("my dir/app.yaml") == "my%20dir/app.yaml"
    assert artifact_uri("/abs/app.yaml") == "file:///abs/app.yaml"


def test_directory_without_manifests_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A directory with no *.yaml/*.yml/*.json is a usage error naming the directory."""
    (tmp_path / "README.txt").write_text("not a manifest")
    status, out, err = run_lint(str(tmp_path))
    assert status is ExitStatus.USAGE
    assert out == ""
    assert err.count("\n") == 1 and f"{tmp_path}: no manifest files" in err


def test_the_same_file_twice_is_linted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file named twice (also as ./name and via its directory) is read and reported once."""
    monkeypatch.chdir(MALFORMED)
    _, once, _ = lint_json("malformed-PASSED.yaml")
    _, report, _ = lint_json("malformed-PASSED.yaml", "./malformed-PASSED.yaml", str(NEIGHBOUR))
    assert report["files"] == ["malformed-PASSED.yaml"]
    assert report["objects"] == 1
    assert report["findings"] == once["findings"]
    assert not [f for f in report["findings"] if f["finding"]["code"] == "WSD-K8S-DUPLICATE"]
