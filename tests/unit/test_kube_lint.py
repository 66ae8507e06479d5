"""`wsdoctor lint`: realistic manifest sets, formats (text, JSON, SARIF 2.1.0), inputs
(files, directories, stdin, List, Helm output) and exit codes."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from wsdoctor.cli import Environment, main
from wsdoctor.exit import ExitStatus
from wsdoctor.kube.lint import LintReport
from wsdoctor.kube.manifests import load_manifests

LINT = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "lint"
GOOD, BAD = LINT / "good", LINT / "bad"

#: What the realistic bad set must report (KNOWLEDGE.md §3, one or more per controller).
EXPECTED_BAD = {
    "WSD-NGINX-TIMEOUT-SHORT",
    "WSD-NGINX-ANNOTATION-INVALID",
    "WSD-NGINX-CONNECT-TIMEOUT",
    "WSD-NGINX-SNIPPET",
    "WSD-NGINX-AFFINITY-HASH",
    "WSD-NGINX-AFFINITY-REGEX-PATH",
    "WSD-NGINX-RATE-LIMIT",
    "WSD-NGINX-CORS-NO-EFFECT",
    "WSD-NGINX-CONFIGMAP-KEY",
    "WSD-NGINX-CONFIGMAP-IGNORED",
    "WSD-NGINX-SERVICE-AFFINITY",
    "WSD-TRAEFIK-OLD-GROUP",
    "WSD-TRAEFIK-HEADERS-REMOVED",
    "WSD-TRAEFIK-STICKY-MISPLACED",
    "WSD-TRAEFIK-UNUSED",
    "WSD-HAPROXY-INGRESS-IGNORED",
    "WSD-HAPROXY-TUNNEL-SHORT",
    "WSD-HAPROXY-TIME-INVALID",
    "WSD-ISTIO-WEBSOCKET-UPGRADE",
    "WSD-ISTIO-LB-CONFLICT",
    "WSD-ISTIO-H2-UPGRADE",
    "WSD-ISTIO-ONE-REQUEST-PER-CONN",
    "WSD-ISTIO-CONN-LIMIT",
    "WSD-ISTIO-DEPRECATED-FIELD",
    "WSD-ISTIO-PORT-PROTOCOL",
    "WSD-ISTIO-TCP-IDLE",
    "WSD-ISTIO-CREDENTIAL-MISSING",
    "WSD-LINKERD-PROXY-PROTOCOL",
    "WSD-LINKERD-SERVER-DEPRECATED",
    "WSD-LINKERD-SERVER-DENIES",
    "WSD-LINKERD-INJECT-ON-SERVICE",
    "WSD-GATEWAY-PARENT-MISSING",
    "WSD-GATEWAY-HOSTNAME-MISMATCH",
    "WSD-GATEWAY-TIMEOUT-SHORT",
    "WSD-K8S-SERVICE-MISSING",
    "WSD-K8S-PORT-MISSING",
    "WSD-K8S-SELECTOR-NO-PODS",
    "WSD-K8S-TARGETPORT-UNDECLARED",
    "WSD-K8S-SINGLE-REPLICA",
    "WSD-K8S-NO-READINESS-PROBE",
    "WSD-K8S-NO-DRAIN",
    "WSD-K8S-HPA-SCALEDOWN",
    "WSD-K8S-NETPOL-BLOCKS",
}

#: The parts of the SARIF 2.1.0 schema (OASIS sarif-schema-2.1.0.json) that wsdoctor emits:
#: required properties, enums and types. Set WSDOCTOR_SARIF_SCHEMA to the official schema
#: file to validate against all of it as well.
SARIF_SUBSET: dict[str, Any] = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "version": {"enum": ["2.1.0"]},
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["tool"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "version": {"type": "string"},
                                    "informationUri": {"type": "string"},
                                    "rules": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["id"],
                                            "properties": {
                                                "id": {"type": "string"},
                                                "shortDescription": {
                                                    "type": "object",
                                                    "required": ["text"],
                                                },
                                                "helpUri": {"type": "string"},
                                                "defaultConfiguration": {
                                                    "type": "object",
                                                    "properties": {
                                                        "level": {
                                                            "enum": [
                                                                "none",
                                                                "note",
                                                                "warning",
                                                                "error",
                                                            ]
                                                        }
                                                    },
                                                },
                                            },
                                        },
                                    },
                                },
                                "additionalProperties": False,
                            }
                        },
                    },
                    "artifacts": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"location": {"type": "object", "required": ["uri"]}},
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["message"],
                            "properties": {
                                "ruleId": {"type": "string"},
                                "ruleIndex": {"type": "integer", "minimum": -1},
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "message": {
                                    "type": "object",
                                    "anyOf": [{"required": ["text"]}, {"required": ["id"]}],
                                },
                                "locations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "physicalLocation": {
                                                "type": "object",
                                                "properties": {
                                                    "artifactLocation": {
                                                        "type": "object",
                                                        "properties": {"uri": {"type": "string"}},
                                                    },
                                                    "region": {
                                                        "type": "object",
                                                        "properties": {
                                                            "startLine": {
                                                                "type": "integer",
                                                                "minimum": 1,
                                                            }
                                                        },
                                                    },
                                                },
                                            },
                                            "logicalLocations": {"type": "array"},
                                        },
                                        "additionalProperties": False,
                                    },
                                },
                                "properties": {"type": "object"},
                            },
                            "additionalProperties": False,
                        },
                    },
                },
            },
        },
    },
}


def run_cli(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = Environment(
        stdout=out, stderr=err, stdin=io.StringIO(stdin), environ={}, stdout_isatty=False
    )
    return int(main(list(argv), env)), out.getvalue(), err.getvalue()


def lint_json(*paths: Path | str) -> LintReport:
    status, out, err = run_cli("lint", *map(str, paths), "--format", "json", "--fail-on", "never")
    assert status == 0, err
    return LintReport.model_validate_json(out)


def test_realistic_bad_set_reports_every_problem_with_resource_field_and_fix() -> None:
    """Given manifests with the problems of KNOWLEDGE.md §3, each is reported with resource,
    field, fix and the file:line of the offending key."""
    report = lint_json(BAD)
    codes = {lf.finding.code for lf in report.findings}
    assert codes >= EXPECTED_BAD, sorted(EXPECTED_BAD - codes)
    for lf in report.findings:
        f = lf.finding
        assert f.resource is not None and f.resource.field, f.code
        assert f.fix is not None and f.fix.summary, f.code
        assert lf.location is not None and lf.location.line >= 1, f.code


def test_realistic_good_set_has_no_warning_or_failure() -> None:
    """Given a correct set (controller, ConfigMap, LB, app, PDB, Ingress), lint exits 0 with
    no warning or failure."""
    status, out, _ = run_cli("lint", str(GOOD), "--fail-on", "warn")
    assert status == ExitStatus.OK, out
    assert "0 failed, 0 warnings" in out


def test_exit_codes_follow_fail_on() -> None:
    """Failures exit 1 by default; --fail-on never exits 0."""
    assert run_cli("lint", str(BAD))[0] == ExitStatus.FINDINGS
    assert run_cli("lint", str(BAD), "--fail-on", "never")[0] == ExitStatus.OK


def test_line_points_at_the_offending_key() -> None:
    """The SARIF/JSON line of an annotation finding is the line of that annotation key."""
    report = lint_json(BAD / "nginx.yaml")
    finding = next(
        lf for lf in report.findings if lf.finding.code == "WSD-NGINX-ANNOTATION-INVALID"
    )
    assert finding.location is not None
    lines = (BAD / "nginx.yaml").read_text().splitlines()
    assert 'proxy-read-timeout: "3600s"' in lines[finding.location.line - 1]


def test_sarif_validates_against_the_2_1_0_schema(tmp_path: Path) -> None:
    """--format sarif -o FILE writes a SARIF 2.1.0 log with a rule per code and a located
    result per finding."""
    out_file = tmp_path / "lint.sarif"
    status, _, err = run_cli("lint", str(BAD), "--format", "sarif", "-o", str(out_file))
    assert status == ExitStatus.FINDINGS, err
    log = json.loads(out_file.read_text())
    jsonschema.validate(log, SARIF_SUBSET)
    official = os.environ.get("WSDOCTOR_SARIF_SCHEMA")
    if official:
        jsonschema.Draft7Validator(json.loads(Path(official).read_text())).validate(log)
    run = log["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        region = result["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1
    assert {r["level"] for r in run["results"]} >= {"error", "warning", "note"}


def test_stdin_list_and_helm_output_are_read() -> None:
    """`-` reads stdin; List items and Helm '# Source:' documents are objects."""
    helm = (GOOD / "controller.yaml").read_text() + "\n---\n" + (GOOD / "app.yaml").read_text()
    status, out, err = run_cli("lint", "-", "--format", "json", stdin=helm)
    assert status == 0, err
    report = LintReport.model_validate_json(out)
    assert report.objects == 7  # 4 controller documents + 3 List items


def test_manifest_loader_keeps_file_and_line_of_each_object() -> None:
    """Each object records its file and the line where it starts."""
    manifests = load_manifests([str(GOOD / "app.yaml")])
    loc = manifests.location("PodDisruptionBudget", "chat", "chat")
    assert loc is not None and loc.file.endswith("app.yaml")
    assert (
        (GOOD / "app.yaml")
        .read_text()
        .splitlines()[loc.line - 1]
        .strip()
        .startswith("- apiVersion: policy/v1")
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["lint"],
        ["lint", "/nonexistent/manifests"],
        ["lint", "PATH", "--format", "xml"],
        ["lint", "PATH", "--expect-idle", "0"],
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], tmp_path: Path) -> None:
    """Bad arguments or unreadable paths: one line on stderr, exit 2."""
    argv = [str(GOOD) if a == "PATH" else a for a in argv]
    status, _out, err = run_cli(*argv)
    assert status == ExitStatus.USAGE, err
    assert err.count("\n") == 1 and err.startswith("wsdoctor: error: ")


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    """A YAML syntax error is a usage error naming file and line."""
    bad = tmp_path / "broken.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n")
    status, _, err = run_cli("lint", str(bad))
    assert status == ExitStatus.USAGE
    assert f"{bad}:" in err and "not valid YAML" in err
