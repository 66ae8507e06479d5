"""``wsdoctor watch`` against the hostile echoing server (``wsdoctor.lab.echoing``): its text
stream and its JSON keep the secrets out and the server's escape sequences escaped, as every
other output does (its findings were printed raw: a server could clear the screen or write
the clipboard; its JSON left C1 controls raw)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.helpers import run_cli
from wsdoctor.lab.backend import LabLoop
from wsdoctor.lab.echoing import EchoingServer, encodings, start_echoing

TOKEN = "tok-Zq8vN3xYp7Lw2Kd9"
API_KEY = "key-Hj4mR6tWq1Xc8Vb5"
FORBIDDEN = sorted({f for s in (TOKEN, API_KEY) for f in [*encodings(s), s[:10], s[-10:]]})
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")


@pytest.fixture(params=["upgrade", "refuse"])
def echoing(request: pytest.FixtureRequest, lab_loop: LabLoop) -> Iterator[EchoingServer]:
    server = lab_loop.run(start_echoing(upgrade=request.param == "upgrade"))
    yield server
    lab_loop.run(server.stop())


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_watch_outputs_keep_secrets_and_escapes_out(echoing: EchoingServer, fmt: str) -> None:
    """Two seconds of watching, in text and JSON: no secret in any form, no raw escape."""
    result = run_cli("watch", echoing.url(), "--duration", "2s", "--no-kubernetes",
                     "--timeout", "2", "--format", fmt,
                     "-H", f"Authorization: Bearer {TOKEN}", "-H", f"X-Api-Key: {API_KEY}")
    out = result.stdout + result.stderr
    assert "<redacted>" in out or "\\x1b" in out or "\\u001b" in out  # the server did echo
    leaked = [form for form in FORBIDDEN if form in out]
    assert not leaked, leaked
    raw = RAW.search(out)
    assert raw is None, f"raw {raw.group()!r}: {out[raw.start() - 80:raw.start()]!r}"
