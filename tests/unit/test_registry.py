"""The registry of checks and codes is public API: unique, documented, well-formed."""

import re
from pathlib import Path

import wsdoctor
from wsdoctor.checks.registry import CHECKS, all_codes
from wsdoctor.docs import page_path

ROOT = Path(wsdoctor.__file__).resolve().parent.parent
REPO_PAGES = ROOT / "docs" / "findings"
PACKAGE_PAGES = ROOT / "wsdoctor" / "_docs" / "findings"

CODE_RE = re.compile(r"^WSD-[A-Z0-9]+(-[A-Z0-9]+)+$")


def test_check_ids_are_unique_and_needs_exist() -> None:
    """Every check id is unique and every need names a registered check."""
    ids = [c.id for c in CHECKS]
    assert len(ids) == len(set(ids))
    for check in CHECKS:
        assert set(check.needs) <= set(ids), check.id


def test_the_entries_say_what_each_check_says() -> None:
    """The registry's entries (what selection reads without importing the checks) hold the
    same ids, order, defaults and needs as the checks themselves."""
    from wsdoctor.checks.registry import ENTRIES

    assert [(e.id, e.default, e.needs) for e in ENTRIES] == [
        (c.id, c.default, c.needs) for c in CHECKS]


def test_codes_are_unique_and_follow_the_scheme() -> None:
    """Finding codes are WSD-TOPIC-THING and never registered twice."""
    codes = [c.code for c in all_codes()]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert CODE_RE.match(code), code


def test_every_code_has_a_documentation_page() -> None:
    """docs/findings/CODE.md exists for every registered code and starts with the code."""
    missing = [c.code for c in all_codes() if page_path(c.code) is None]
    assert not missing, f"write docs/findings/<code>.md for: {missing}"
    for code in all_codes():
        path = page_path(code.code)
        assert path is not None
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith(f"# {code.code}"), f"{path}: first line must be '# {code.code}'"


def test_no_orphan_documentation_pages() -> None:
    """A page in docs/findings or in the package names a registered code (no drift after a
    rename), and the shipped pages are exactly the registered codes (--suppress and explain
    read them instead of importing the registry)."""
    from wsdoctor.docs import known_codes

    registered = {c.code for c in all_codes()}
    pages = {p.stem for d in (REPO_PAGES, PACKAGE_PAGES) for p in d.glob("WSD-*.md")}
    assert pages <= registered, sorted(pages - registered)
    assert set(known_codes()) == registered


def test_help_lists_every_check_id() -> None:
    """The check ids --help names (without importing the registry) are the registered ones."""
    from wsdoctor.commands.options import CHECK_IDS

    assert tuple(c.id for c in CHECKS) == CHECK_IDS


def test_finding_pages_ship_inside_the_package() -> None:
    """wsdoctor/_docs holds real copies of docs/findings and docs/deploy/probe.yaml (no
    symlink: a Docker COPY or an sdist would carry a dangling link), byte for byte, so that
    `wsdoctor explain` and `wsdoctor probe --example-config` work from an installed wheel and
    never say something else than the repository."""
    assert not PACKAGE_PAGES.is_symlink()
    repo = {p.name: p.read_bytes() for p in REPO_PAGES.glob("*.md")}
    packaged = {p.name: p.read_bytes() for p in PACKAGE_PAGES.glob("*.md")}
    assert not any(p.is_symlink() for p in PACKAGE_PAGES.iterdir())
    example = ROOT / "wsdoctor" / "_docs" / "deploy" / "probe.yaml"
    repo["probe.yaml"] = (ROOT / "docs" / "deploy" / "probe.yaml").read_bytes()
    packaged["probe.yaml"] = example.read_bytes() if example.is_file() else b""
    drift = sorted(n for n in repo.keys() | packaged.keys() if repo.get(n) != packaged.get(n))
    assert not drift, f"run ./dev pages (copies docs/findings into the package): {drift}"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"**/*.md"' in pyproject  # package data that picks the pages up
