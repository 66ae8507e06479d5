"""Finding documentation pages: one Markdown file per code. Written in the repository's
``docs/findings``, shipped as package data in ``wsdoctor/_docs/findings`` (a copy that a test
keeps equal, so an installed wsdoctor has every page) and published under :data:`DOCS_URL`.

Nothing here imports the check registry: ``wsdoctor explain`` and the validation of
``--suppress`` read the shipped pages, which a test keeps in step with the registered codes."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

DOCS_URL = "https://github.com/wsdoctor/wsdoctor/blob/main/docs/"
"""Where the documentation is published: a page's URL is ``DOCS_URL + findings/CODE.md``, the
same path as in the repository and in the package (``wsdoctor explain CODE`` prints it)."""


class DocsError(LookupError):
    """No such code, or its page is missing."""


def page_url(code: str) -> str:
    """The published page of ``code`` (the link in every report)."""
    return f"{DOCS_URL}findings/{code}.md"


def pages_dir() -> Path:
    """The finding pages shipped inside the package."""
    return Path(__file__).resolve().parent / "_docs" / "findings"


def example_config() -> str:
    """The annotated example configuration of ``wsdoctor probe`` (docs/deploy/probe.yaml,
    shipped in the package like the pages)."""
    return (Path(__file__).resolve().parent / "_docs" / "deploy" / "probe.yaml").read_text(
        encoding="utf-8")


def page_path(code: str) -> Path | None:
    """The shipped page of ``code`` (exact name), if it exists."""
    candidate = pages_dir() / f"{code}.md"
    return candidate if candidate.is_file() else None


def known_codes() -> list[str]:
    """Every code with a shipped page: the registered codes (a test keeps them equal)."""
    return sorted(p.stem for p in pages_dir().glob("WSD-*.md"))


def nearest(text: str, known: Iterable[str]) -> list[str]:
    """The known codes closest to a mistyped one: those containing what was typed, else the
    closest spellings."""
    import difflib

    choices = list(known)
    wanted = text.strip().upper()
    stem = wanted.removeprefix("WSD-")
    containing = [c for c in choices if stem and stem in c]
    if containing:
        return containing[:3]
    return difflib.get_close_matches(wanted, choices, n=3, cutoff=0.6)


def canonical_codes(texts: Iterable[str]) -> list[str]:
    """Codes as typed (any case) → their registered spelling; DocsError names the first
    unknown one and the nearest known codes."""
    known = known_codes()
    by_upper = {c.upper(): c for c in known}
    out: list[str] = []
    for text in texts:
        code = by_upper.get(text.strip().upper())
        if code is None:
            close = nearest(text, known)
            hint = f"; did you mean {', '.join(close)}?" if close else \
                "; `wsdoctor explain --list` prints every code"
            raise DocsError(f"unknown finding code {text!r}{hint}")
        out.append(code)
    return out


def code_list() -> str:
    """Every code with its title, one a line (the first line of each page)."""
    lines = []
    for code in known_codes():
        path = page_path(code)
        first = path.read_text(encoding="utf-8").partition("\n")[0] if path else ""
        title = first.removeprefix("#").strip().removeprefix(code).lstrip(": ")
        lines.append(f"{code:<36} {title}".rstrip())
    return "\n".join(lines) + "\n"


def explain(code_text: str) -> str:
    """The documentation page of a code, matched case-insensitively."""
    if not known_codes():
        raise DocsError(f"no finding pages are installed (expected them in {pages_dir()})")
    (code,) = canonical_codes([code_text])
    path = page_path(code)
    assert path is not None  # known_codes lists the pages that exist
    return path.read_text(encoding="utf-8")
