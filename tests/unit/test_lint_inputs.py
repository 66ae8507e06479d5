"""What ``wsdoctor lint`` reads and how: a file it cannot read is a finding and the others are
still linted; files without objects and Helm templates are reported; YAML bombs, recursive
aliases, FIFOs and endless inputs are refused at once; objects are identified as kubectl does
(``-n``, duplicates, the last definition kept)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from wsdoctor.cli import Environment, main
from wsdoctor.exit import ExitStatus
from wsdoctor.kube import yamlload

INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app-{i}
  namespace: {ns}
spec:
  ingressClassName: nginx
  rules:
  - host: app-{i}.example.com
    http:
      paths:
      - path: /ws
        pathType: Prefix
        backend:
          service: {{name: app-{i}, port: {{number: 80}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: app-{i}, namespace: {ns}}}
spec:
  selector: {{app: app-{i}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = Environment(
        stdout=out, stderr=err, stdin=io.StringIO(stdin), environ={}, stdout_isatty=False
    )
    return int(main(["lint", *argv], env)), out.getvalue(), err.getvalue()


def lint_json(*argv: str, stdin: str = "") -> tuple[int, dict[str, Any], str]:
    status, out, err = run(*argv, "--format", "json", stdin=stdin)
    return status, json.loads(out), err


def codes(report: dict[str, Any]) -> list[str]:
    return [lf["finding"]["code"] for lf in report["findings"]]


def test_one_unparsable_file_among_50_the_others_are_linted(tmp_path: Path) -> None:
    """Given 49 good files and a broken one, the 49 are linted, the JSON and SARIF reports are
    written, the broken file is a finding at its line and a SARIF notification, and the exit
    status is 2 (an input could not be read) with one line on stderr."""
    inputs = tmp_path / "manifests"
    inputs.mkdir()
    for i in range(49):
        (inputs / f"app-{i:02}.yaml").write_text(INGRESS.format(i=i, ns="chat"))
    broken = inputs / "zz-broken.yaml"
    broken.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n")
    out_json, out_sarif = tmp_path / "r.json", tmp_path / "r.sarif"
    status, _, err = run(str(inputs), "--format", "json", "-o", str(out_json))
    assert status == ExitStatus.USAGE
    assert err.count("\n") == 1 and f"{broken}:" in err and "not valid YAML" in err
    report = json.loads(out_json.read_text())
    assert report["objects"] == 98 and report["unread"] == [str(broken)]
    unread = [lf for lf in report["findings"] if lf["finding"]["code"] == "WSD-LINT-UNREADABLE"]
    assert len(unread) == 1 and unread[0]["location"]["file"] == str(broken)
    assert unread[0]["location"]["line"] >= 4
    assert "WSD-NGINX-TIMEOUT-SHORT" in codes(report)  # the others were judged
    status, _, _ = run(str(inputs), "--format", "sarif", "-o", str(out_sarif))
    assert status == ExitStatus.USAGE
    invocation = json.loads(out_sarif.read_text())["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    notes = invocation["toolExecutionNotifications"]
    assert [n["descriptor"]["id"] for n in notes] == ["WSD-LINT-UNREADABLE"]
    assert notes[0]["level"] == "error"


def test_a_file_with_no_kubernetes_objects_is_not_green(tmp_path: Path) -> None:
    """A values file holds no object: a warning names it, with the way to render."""
    values = tmp_path / "values.yaml"
    values.write_text("replicaCount: 2\nimage:\n  repository: nginx\n")
    status, report, _ = lint_json(str(values))
    assert status == ExitStatus.OK and report["status"] == "warn"
    assert codes(report) == ["WSD-LINT-NO-OBJECTS"]
    assert "kustomize" in report["findings"][0]["finding"]["detail"]


def test_a_helm_template_gets_a_hint_to_render_it_first(tmp_path: Path) -> None:
    """A chart template is not linted as if it were manifests; the hint says how to render."""
    tpl = tmp_path / "deployment.yaml"
    tpl.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"x.fullname\" . }}\n"
        "spec:\n  replicas: {{ .Values.replicaCount }}\n"
    )
    _, report, _ = lint_json(str(tpl))
    assert codes(report) == ["WSD-LINT-TEMPLATE"]
    assert "helm template" in report["findings"][0]["finding"]["detail"]
    assert report["findings"][0]["location"]["line"] == 4


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n"
                for i in range(9)
            ),
            "alias bomb",
        ),
        ("a: &x [*x]\n", "refers to the node that contains it"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nest"),
        ("kind: A\nx: \x00\n", "NUL"),
    ],
    ids=["billion-laughs", "recursive-alias", "deep-nesting", "nul-byte"],
)
def test_hostile_yaml_is_one_finding(text: str, words: str) -> None:
    """An alias bomb (1 KB), a recursive alias, absurd nesting or a NUL byte on stdin is
    refused with one finding naming the problem; nothing is expanded."""
    status, report, err = lint_json("-", stdin=text)
    assert status == ExitStatus.USAGE
    assert codes(report) == ["WSD-LINT-UNREADABLE"]
    assert words in report["findings"][0]["finding"]["detail"]
    assert err.count("\n") == 1


def test_a_fifo_and_a_device_never_block(tmp_path: Path) -> None:
    """A FIFO nobody writes to reads as empty at once (lint <(helm template .) reads the
    pipe); /dev/zero is refused."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    _, report, _ = lint_json(str(fifo))
    assert codes(report) == ["WSD-LINT-NO-OBJECTS"]
    status, report, _ = lint_json("/dev/zero")
    assert status == ExitStatus.USAGE
    assert "not a regular file or a pipe" in report["findings"][0]["finding"]["detail"]


def test_standard_input_is_read_up_to_a_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Input past the size limit is refused with one line (lint - < /dev/zero ends)."""
    monkeypatch.setattr(yamlload, "MAX_FILE_BYTES", 1000)
    status, report, _ = lint_json("-", stdin="# " + "x" * 2000 + "\n")
    assert status == ExitStatus.USAGE
    assert "larger than" in report["findings"][0]["finding"]["detail"]


def test_namespace_option_places_objects_as_kubectl_apply_n_does(tmp_path: Path) -> None:
    """An install manifest without namespaces and an Ingress in argocd: without -n the
    Service is not in argocd (a note, with the -n to use), with -n argocd nothing is missing."""
    (tmp_path / "install.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: argocd-server}\n"
        "spec:\n  selector: {app: argocd-server}\n  ports: [{name: https, port: 443}]\n"
    )
    (tmp_path / "ingress.yaml").write_text(
        INGRESS.split("---")[0]
        .format(i=0, ns="argocd")
        .replace("app-0, port: {number: 80}", "argocd-server, port: {number: 443}")
    )
    _, without, _ = lint_json(str(tmp_path))
    notes = [lf for lf in without["findings"] if lf["finding"]["code"] == "WSD-K8S-NOT-IN-INPUT"]
    assert notes and "-n argocd" in notes[0]["finding"]["detail"]
    assert "WSD-K8S-SERVICE-MISSING" not in codes(without)
    _, with_n, _ = lint_json(str(tmp_path), "-n", "argocd")
    assert with_n["namespace"] == "argocd"
    assert not {"WSD-K8S-NOT-IN-INPUT", "WSD-K8S-SERVICE-MISSING"} & set(codes(with_n))
    status, _, err = run(str(tmp_path), "-n", "Not_A_Namespace")
    assert status == ExitStatus.USAGE and "namespace" in err


def test_an_object_defined_twice_is_one_object_the_last_kept(tmp_path: Path) -> None:
    """Two Deployments of one name are one object (not two replicas' worth): the duplicate
    is a note naming both file:line, and the later file's definition is the one judged."""
    deployment = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-0, namespace: chat}}\n"
        "spec:\n  replicas: {n}\n  selector: {{matchLabels: {{app: app-0}}}}\n"
        "  template:\n    metadata: {{labels: {{app: app-0}}}}\n"
        "    spec: {{containers: [{{name: app, image: app:1}}]}}\n"
    )
    first = INGRESS.format(i=0, ns="chat") + "---\n" + deployment.format(n=1)
    (tmp_path / "a.yaml").write_text(first)
    (tmp_path / "b.yaml").write_text(deployment.format(n=1))
    _, report, _ = lint_json(str(tmp_path / "b.yaml"), str(tmp_path / "a.yaml"))
    dup = [lf for lf in report["findings"] if lf["finding"]["code"] == "WSD-K8S-DUPLICATE"]
    assert len(dup) == 1
    detail = dup[0]["finding"]["detail"]
    assert f"{tmp_path / 'a.yaml'}:" in detail and f"{tmp_path / 'b.yaml'}:1" in detail
    assert dup[0]["location"]["file"] == str(tmp_path / "b.yaml")  # b.yaml sorts last: kept
    assert "WSD-K8S-NO-AFFINITY" not in codes(report)  # one replica, not two summed
    assert report["objects"] == 3


def test_report_says_which_routes_carry_websockets_and_why(tmp_path: Path) -> None:
    """Every route is listed with the evidence it was judged on; the annotation and the
    options override the evidence."""
    path = tmp_path / "routes.yaml"
    path.write_text(
        INGRESS.format(i=0, ns="chat")
        + "---\n"
        + INGRESS.format(i=1, ns="chat").replace("path: /ws", "path: /api")
    )
    _, report, _ = lint_json(str(path))
    routes = {r["name"]: r for r in report["routes"]}
    assert routes["app-0"]["websocket"] and routes["app-0"]["evidence"] == ["path '/ws'"]
    assert not routes["app-1"]["websocket"]
    assert "WSD-K8S-NOT-WEBSOCKET" in codes(report)
    _, chosen, _ = lint_json(str(path), "--websocket-route", "Ingress/chat/app-1")
    assert {r["name"] for r in chosen["routes"] if r["websocket"]} == {"app-0", "app-1"}
    _, every, _ = lint_json(str(path), "--all-routes")
    assert all(r["websocket"] for r in every["routes"])
    path.write_text(
        INGRESS.format(i=0, ns="chat").replace(
            "  name: app-0\n  namespace: chat\n",
            '  name: app-0\n  namespace: chat\n  annotations: {wsdoctor.io/websocket: "false"}\n',
            1,
        )
    )
    _, refused, _ = lint_json(str(path))
    assert refused["routes"][0]["websocket"] is False
    assert "WSD-NGINX-TIMEOUT-SHORT" not in codes(refused)
    _status, text, _ = run(str(path.parent), "--all-routes")
    assert "WebSocket routes: 1 of 1 route" in text and "--all-routes" in text


def test_manifests_read_as_pyyaml_reads_them() -> None:
    """The fast construction gives PyYAML's safe values for YAML 1.1's corners: octal
    modes, yes/no booleans, nulls, floats, timestamps, merge keys and anchors."""
    import yaml

    text = (
        "a: 0744\nb: 10\nc: yes\nd: ~\ne: 1.5\nf: 2001-12-14\ng: 0x1F\nh: '007'\n"
        "base: &base {x: 1}\nm:\n  <<: *base\n  y: 2\nn: [*base, 1_000]\n---\n---\nz: off\n"
    )
    ours = [data for _, data in yamlload.documents(text)]
    assert ours == list(yaml.safe_load_all(text))
