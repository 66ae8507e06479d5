"""Installed means complete: the wheel built from the Docker build context (the files the
Dockerfile COPYs, nothing else) carries every finding page and the example configuration, and
an installation of it in a fresh virtual environment explains every code a report links to."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import wsdoctor
from wsdoctor.docs import DOCS_URL

ROOT = Path(wsdoctor.__file__).resolve().parent.parent
DOCKERFILE = ROOT / "docs" / "deploy" / "Dockerfile"

pytestmark = pytest.mark.slow


def build_context(into: Path) -> None:
    """Copy what the Dockerfile's build stage COPYs (from the repository root, its build
    context), as docker does: directories with their symlinks as symlinks."""
    copies = 0
    for line in DOCKERFILE.read_text().splitlines():
        if not line.startswith("COPY "):
            continue
        words = shlex.split(line)
        if any(w.startswith("--from") for w in words):
            continue
        *sources, dest = words[1:]
        target = into / dest.removeprefix("./") if dest not in (".", "./") else into
        for source in sources:
            path = ROOT / source
            if path.is_dir():
                shutil.copytree(path, target, symlinks=True,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.name)
            copies += 1
    assert copies >= 3, "the Dockerfile's COPY lines were not understood"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel built as the Dockerfile builds it (offline:
    the build tools of the dev environment, no dependencies fetched); its bin directory."""
    base = tmp_path_factory.mktemp("packaging")
    context = base / "context"
    build_context(context)
    wheels = base / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index",
                    "--no-build-isolation", "--wheel-dir", str(wheels), str(context)],
                   check=True, capture_output=True, timeout=300)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    (wheel,) = wheels.glob("wsdoctor-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "-q", "--no-index", "--no-deps", "--find-links", str(wheels),
                    str(wheel)], check=True, capture_output=True, timeout=300)
    return venv / "bin"


def wheel_pages(bin_dir: Path) -> set[str]:
    wheel = next((bin_dir.parent.parent / "wheels").glob("wsdoctor-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        return {Path(n).name for n in archive.namelist() if n.startswith("wsdoctor/_docs/")}


def test_the_wheel_carries_every_page_as_a_file(installed: Path) -> None:
    """Every page of docs/findings and the example configuration are files in the wheel
    (built from the Docker context, where a symlink into docs/ would dangle)."""
    pages = {p.name for p in (ROOT / "docs" / "findings").glob("*.md")}
    assert pages and pages | {"probe.yaml"} <= wheel_pages(installed)


def test_explain_and_example_config_need_nothing_else(installed: Path) -> None:
    """In a fresh environment with only the wheel (no dependency installed at all), `wsdoctor
    explain` prints the repository's page and `probe --example-config` the documented file."""
    environ = {"PATH": os.environ.get("PATH", ""), "HOME": str(installed)}
    run = subprocess.run([str(installed / "wsdoctor"), "explain", "wsd-tls-expired"],
                         capture_output=True, text=True, env=environ, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout == (ROOT / "docs" / "findings" / "WSD-TLS-EXPIRED.md").read_text()
    run = subprocess.run([str(installed / "wsdoctor"), "probe", "--example-config"],
                         capture_output=True, text=True, env=environ, timeout=60)
    assert run.returncode == 0 and run.stdout == (ROOT / "docs/deploy/probe.yaml").read_text()


def test_every_docs_link_of_a_report_resolves_when_installed(installed: Path,
                                                              tmp_path: Path) -> None:
    """A report made by the installed wheel (its dependencies lent by the dev environment)
    links each finding to the published page of its code, its text output names
    `wsdoctor explain CODE`, and that command prints the page from the installation."""
    site = installed.parent / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    (site / "site-packages" / "zz-dev-deps.pth").write_text(sysconfig.get_paths()["purelib"])
    environ = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    argv = [str(installed / "wsdoctor"), "ws://127.0.0.1:1/", "--no-kubernetes", "--pings", "0"]
    run = subprocess.run([*argv, "--format", "json"], capture_output=True, text=True,
                         env=environ, timeout=120)
    report = json.loads(run.stdout)
    assert report["findings"], run.stderr
    text = subprocess.run([*argv, "--format", "text"], capture_output=True, text=True,
                          env=environ, timeout=120).stdout
    for finding in report["findings"]:
        code = finding["code"]
        assert finding["docs"] == f"{DOCS_URL}findings/{code}.md"
        assert (ROOT / finding["docs"].removeprefix(DOCS_URL.removesuffix("docs/"))).is_file()
        assert f"see: wsdoctor explain {code} ({finding['docs']})" in text
        page = subprocess.run([str(installed / "wsdoctor"), "explain", code],
                              capture_output=True, text=True, env=environ, timeout=60)
        assert page.returncode == 0 and page.stdout.startswith(f"# {code}"), page.stderr
