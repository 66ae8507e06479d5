"""The load run keeps the hostile-output promises: against the server that echoes every
request header back (in its refusal's status, headers and body, its greeting naming a
"replica", its close reason) with escape sequences and markup, no secret the user gave and
no raw escape reaches the JSON, text or markdown of ``wsdoctor load``, nor ``show``."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli
from tests.integration.test_hostile_output import HEADERS, _mode, assert_clean, echoing
from wsdoctor.lab.echoing import EchoingServer

__all__ = ["echoing"]  # the fixture, shared with the hostile-output tests


def test_load_outputs_keep_secrets_and_escapes_out(echoing: EchoingServer,
                                                   tmp_path: Path) -> None:
    """Given the echoing server (upgrading, or refusing with 401), a small load run's text
    and saved JSON, and show of that report in every format, hold no secret and no raw
    escape; the refusal, or the replicas the server named (X-Served-By echoes the API key,
    X-Hostile carries escapes and markup), are still quoted: redacted and escaped."""
    plain = ["load", echoing.url(), "-c", "8", "--rate", "100", "--hold", "0.3", "--timeout",
             "2", "--no-kubernetes"]
    for name, value in HEADERS[_mode(echoing)]:
        plain += ["-H", f"{name}: {value}"]
    args = [*plain, "--backend-header", "X-Hostile"] if echoing.upgrade else plain
    saved = tmp_path / "load.json"
    result = run_cli(*args, "--format", "text", "-o", str(saved))
    assert result.stderr == "", result.stderr
    outputs = {"text": result.stdout, "-o": saved.read_text(encoding="utf-8")}
    for fmt in ("text", "markdown", "json"):
        outputs[f"show {fmt}"] = run_cli("show", str(saved), "--format", fmt).stdout
    for where, text in outputs.items():
        assert_clean(text, where)
    # The test can fail: the server's answer is in the report, escaped and redacted.
    if echoing.upgrade:
        assert "\\x9b31m" in outputs["text"] and "[bold red]MARKUP" in outputs["text"]
        named = run_cli(*plain, "--format", "json").stdout
        assert_clean(named, "json named by X-Served-By")
        assert '"name": "<redacted>"' in named  # the replica named by X-Served-By: the API key
    else:
        assert "<redacted>" in outputs["-o"] and "\\x1b[2J" in outputs["text"]
