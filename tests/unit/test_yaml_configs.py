"""A kubeconfig and the exporter's configuration are YAML a user (or a tool) wrote: they are
loaded under the same limits as manifests (``wsdoctor.kube.yamlload``), so an alias bomb, a
recursive alias or absurd nesting is one line with its line number, never minutes and
gigabytes; a manifest file with a NUL byte is a usage error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import run_cli
from wsdoctor.kube.kubeconfig import KubeconfigError, merge

#: About 700 bytes that expand to 10^10 values: ten levels of ten aliases.
BOMB = "bomb:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)
) + "  all: *a9\n"
RECURSIVE = "extensions: &m [{name: a, extension: *m}]\n"


def indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines()) + "\n"


@pytest.mark.parametrize(("text", "problem"), [
    (BOMB, "alias bomb"),
    (RECURSIVE, "refers to the node that contains it"),
], ids=["alias-bomb", "recursive-alias"])
def test_a_hostile_kubeconfig_is_one_kubeconfig_error(
    tmp_path: Path, text: str, problem: str
) -> None:
    """The kubeconfig reader refuses it at once with the line (the cluster check makes it a
    finding); it was read with yaml.safe_load, unbounded."""
    path = tmp_path / "config"
    path.write_text("apiVersion: v1\nkind: Config\npreferences:\n" + indented(text))
    start = time.perf_counter()
    with pytest.raises(KubeconfigError, match=problem) as raised:
        merge([str(path)])
    assert time.perf_counter() - start < 1.0
    assert str(raised.value).startswith(f"kubeconfig {path}: ") and "(line " in str(raised.value)


def test_an_exporter_configuration_bomb_fails_check_config(tmp_path: Path) -> None:
    """--check-config: exit 2, one line with the file and the line."""
    path = tmp_path / "probe.yaml"
    path.write_text("targets: []\nx-anchors:\n" + indented(BOMB))
    result = run_cli("probe", "--config", str(path), "--check-config")
    assert result.status == 2, result.stderr
    assert f"{path}:" in result.stderr and "alias bomb" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_manifest_file_with_a_nul_byte_is_a_usage_error(tmp_path: Path) -> None:
    """lint FILE with a NUL byte: exit 2 and one line naming the file (it was exit 3, 'could
    not run: ReaderError')."""
    path = tmp_path / "nul.yaml"
    path.write_text("kind: Service\x00\n")
    result = run_cli("lint", str(path))
    assert result.status == 2, result.stderr
    assert str(path) in result.stderr and result.stderr.count("\n") == 1, result.stderr
