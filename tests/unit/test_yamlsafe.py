"""YAML from users, charts and clusters is loaded bounded: an alias bomb, a recursive alias and
absurd nesting are refused in one line with the line number, by lint, the kubeconfig reader
and the exporter's configuration alike; ordinary anchors and large files still load."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_cli
from wsdoctor.kube.kubeconfig import KubeconfigError, merge
from wsdoctor.yamlsafe import MAX_DEPTH, YamlLimitError, documents, load_one

#: About 700 bytes that expand to 10^10 values: ten levels of ten aliases.
BOMB = "bomb:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)
) + "  all: *a9\n"
RECURSIVE = "metadata: &m {name: a, again: [*m]}\n"
DEEP = "x: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
INGRESS = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: bomb}\nspec:\n"


@pytest.mark.parametrize(("text", "problem"), [
    (BOMB, "its aliases expand it to more than 1,000,000 values"),
    (RECURSIVE, "an alias refers to a node that contains it"),
    (DEEP, f"nested deeper than {MAX_DEPTH} levels"),
])
def test_hostile_documents_are_refused_before_they_are_built(text: str, problem: str) -> None:
    """Refused with a mark (a line to name), quickly: nothing walks the expansion."""
    start = time.perf_counter()
    with pytest.raises(YamlLimitError) as raised:
        load_one(text)
    assert time.perf_counter() - start < 0.5
    assert problem in str(raised.value.problem)
    assert raised.value.problem_mark is not None
    with pytest.raises(YamlLimitError):
        list(documents("ok: 1\n---\n" + text))


def test_ordinary_anchors_and_merge_keys_still_load() -> None:
    """Anchors used as people use them (shared labels, ``<<`` merges) are not a bomb."""
    text = ("defaults: &d {app: chat, tier: web}\nlabels: {<<: *d, extra: x}\n"
            "more: [*d, *d, *d]\n")
    data, node = load_one(text)
    assert data["labels"] == {"app": "chat", "tier": "web", "extra": "x"}
    assert node is not None and len(data["more"]) == 3


def test_lint_refuses_a_bomb_and_a_nul_byte_in_one_line(tmp_path: Path) -> None:
    """lint: an alias bomb inside an Ingress (it took minutes and gigabytes) and a file with
    a NUL byte (it was exit 3, 'could not run') are usage errors naming file and line."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(INGRESS + "\n".join("  " + line for line in BOMB.splitlines()) + "\n")
    nul = tmp_path / "nul.yaml"
    nul.write_text("kind: Service\x00\n")
    for path, expected in ((bomb, "bomb.yaml:"), (nul, "control characters are not allowed")):
        result = run_cli("lint", str(path))
        assert result.status == 2, result.stderr
        assert expected in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_a_kubeconfig_bomb_is_a_kubeconfig_error(tmp_path: Path) -> None:
    """The kubeconfig reader refuses it too (the cluster check makes it a finding)."""
    path = tmp_path / "config"
    path.write_text("apiVersion: v1\nkind: Config\npreferences:\n"
                    + "\n".join("  " + line for line in BOMB.splitlines()) + "\n")
    with pytest.raises(KubeconfigError, match="alias bomb"):
        merge([str(path)])


def test_an_exporter_configuration_bomb_fails_check_config(tmp_path: Path) -> None:
    """--check-config: exit 2, one line with the file and the line."""
    path = tmp_path / "probe.yaml"
    path.write_text("targets: []\nx-anchors:\n"
                    + "\n".join("  " + line for line in BOMB.splitlines()) + "\n")
    result = run_cli("probe", "--config", str(path), "--check-config")
    assert result.status == 2 and f"{path}:" in result.stderr and "alias bomb" in result.stderr


def test_libyaml_and_pyyaml_agree_on_what_they_load() -> None:
    """The loader is libyaml's when installed: same data as PyYAML's own safe_load."""
    text = "a: [1, 2.5, true, null, '07', 0o17, 2026-01-01]\nb: {c: d}\n"
    assert load_one(text)[0] == yaml.safe_load(text)
