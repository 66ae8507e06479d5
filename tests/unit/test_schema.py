"""The report's JSON Schema is committed under docs/ and pinned."""

import json
from pathlib import Path

from wsdoctor.report import json_schema

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "report.schema.json"


def test_committed_schema_matches_the_model() -> None:
    """docs/report.schema.json is what the Report model generates (run ./dev schema)."""
    assert json.loads(SCHEMA.read_text()) == json_schema(), "schema drifted: run ./dev schema"
