"""A documentation page that states a severity states the one registered in code."""

import re

from wsdoctor.checks.registry import all_codes
from wsdoctor.docs import page_path

SEVERITY = re.compile(r"^Severity: \*\*(\w+)\*\*", re.MULTILINE)


def test_page_severity_matches_the_code() -> None:
    """Severity lives in the Code; a page that repeats it must not drift from it."""
    drifted = []
    for code in all_codes():
        path = page_path(code.code)
        match = SEVERITY.search(path.read_text(encoding="utf-8")) if path else None
        if match and match.group(1) != code.status.value:
            drifted.append(f"{code.code}: page says {match.group(1)}, code says {code.status}")
    assert not drifted, drifted
