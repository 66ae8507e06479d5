"""The registry of checks and codes is public API: unique, documented, well-formed."""

import re

from wsdoctor.checks.registry import CHECKS, all_codes
from wsdoctor.docs import page_path

CODE_RE = re.compile(r"^WSD-[A-Z0-9]+(-[A-Z0-9]+)+$")


def test_check_ids_are_unique_and_needs_exist() -> None:
    """Every check id is unique and every need names a registered check."""
    ids = [c.id for c in CHECKS]
    assert len(ids) == len(set(ids))
    for check in CHECKS:
        assert set(check.needs) <= set(ids), check.id


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
    """A page in docs/findings names a registered code (no drift after a rename)."""
    from wsdoctor.docs import docs_dirs

    registered = {c.code for c in all_codes()}
    pages = {p.stem for d in docs_dirs() if d.is_dir() for p in d.glob("WSD-*.md")}
    assert pages <= registered, sorted(pages - registered)


def test_help_lists_every_check_id() -> None:
    """The check ids --help names (without importing the registry) are the registered ones."""
    from wsdoctor.commands.options import CHECK_IDS

    assert tuple(c.id for c in CHECKS) == CHECK_IDS


def test_finding_pages_ship_inside_the_package() -> None:
    """wsdoctor/_docs/findings is docs/findings (a link), so a wheel carries every page and
    `wsdoctor explain` works after `pip install .`, not only in a checkout."""
    from pathlib import Path

    import wsdoctor

    packaged = Path(wsdoctor.__file__).parent / "_docs" / "findings"
    repo = Path(wsdoctor.__file__).parent.parent / "docs" / "findings"
    assert packaged.is_dir() and packaged.resolve() == repo.resolve()
    pyproject = (Path(wsdoctor.__file__).parent.parent / "pyproject.toml").read_text()
    assert '"**/*.md"' in pyproject  # package data that picks the pages up
