"""Finding documentation pages: one Markdown file per code under ``docs/findings``."""

from __future__ import annotations

from pathlib import Path


class DocsError(LookupError):
    """No such code, or its page is missing."""


def docs_dirs() -> list[Path]:
    """Where pages are looked for: inside the package (installed) or the source checkout."""
    here = Path(__file__).resolve().parent
    return [here / "_docs" / "findings", here.parent / "docs" / "findings"]


def page_path(code: str) -> Path | None:
    """The page of ``code`` (exact name), if it exists."""
    for directory in docs_dirs():
        candidate = directory / f"{code}.md"
        if candidate.is_file():
            return candidate
    return None


def explain(code_text: str) -> str:
    """The documentation page of a code, matched case-insensitively."""
    from wsdoctor.checks.registry import all_codes

    wanted = code_text.strip().upper()
    codes = {c.code: c for c in all_codes()}
    if wanted not in codes:
        close = sorted(c for c in codes if wanted.replace("WSD-", "") in c)[:5]
        hint = f"; did you mean {', '.join(close)}?" if close else "; see docs/findings/"
        raise DocsError(f"unknown finding code {code_text!r}{hint}")
    path = page_path(wanted)
    if path is None:
        code = codes[wanted]
        raise DocsError(f"{wanted} ({code.title}) has no documentation page installed")
    return path.read_text(encoding="utf-8")
