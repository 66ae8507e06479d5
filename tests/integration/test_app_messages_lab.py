"""The application's own messages (--send/--expect), the default large message against the
default limits of common servers, and the largest message found by bisection — against real
websockets servers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers import run_cli
from wsdoctor.lab.backend import Backend

APP = {"hello": "{\"type\":\"welcome\",\"motd\":\"hi\u0007\"}\n", "big": "x" * 1000}


def diagnose(backend: Backend, *extra: str) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    result = run_cli(f"ws://127.0.0.1:{backend.port}/", "--format", "json", "--timeout", "2",
                     "--no-kubernetes", *extra)
    report = json.loads(result.stdout)
    messages = next(c for c in report["checks"] if c["id"] == "messages")
    found = [f for f in report["findings"] if f["check"] == "messages"]
    return result.status, messages, found


def test_non_echoing_app_answering_a_known_message_passes(
    start_backend: Callable[..., Backend], tmp_path: Path,
) -> None:
    """A binary and a text message sent in order; the reply matches --expect: no finding,
    the reply's time measured, no echo probe sent to an app that would not understand it."""
    blob = tmp_path / "frame.bin"
    blob.write_bytes(b"\x00\xffbinary")
    status, messages, found = diagnose(start_backend(echo=False, replies=APP),
                                       "--send", f"@{blob}", "--send", "hello",
                                       "--expect", r'"type":\s*"welcome"')
    assert status == 0, found
    assert [f["code"] for f in found] == []
    app = messages["observation"]["app"]
    assert app["matched"] is True and app["reply_s"] > 0
    assert app["sent"] == [f"@{blob}, 8 bytes", "text, 5 bytes"]
    assert messages["observation"]["text_echo"] is None
    assert messages["summary"].startswith("reply matched in ")


def test_a_reply_that_does_not_match_fails_quoting_it_escaped(
    start_backend: Callable[..., Backend],
) -> None:
    """--expect that the reply does not match: a failure quoting the reply with its control
    characters escaped, and a long reply cut short."""
    backend = start_backend(echo=False, replies=APP)
    status, _, found = diagnose(backend, "--send", "hello", "--expect", "goodbye",
                                "--timeout", "0.5")
    assert status == 1
    finding = next(f for f in found if f["code"] == "WSD-MESSAGES-EXPECT-MISMATCH")
    assert '\'{"type":"welcome","motd":"hi\\x07"}\\n\'' in finding["detail"]
    _, _, found = diagnose(backend, "--send", "big", "--expect", "y", "--timeout", "0.5")
    quoted = next(f for f in found if f["code"] == "WSD-MESSAGES-EXPECT-MISMATCH")
    assert "… (1000 bytes)" in quoted["detail"] and "x" * 201 not in quoted["detail"]


def test_no_reply_at_all_is_named(start_backend: Callable[..., Backend]) -> None:
    """A message the app ignores, with --expect: the failure says nothing arrived."""
    status, _, found = diagnose(start_backend(echo=False), "--send", "unknown",
                                "--expect", "anything", "--timeout", "0.5")
    assert status == 1
    assert "nothing arrived" in found[0]["detail"]


def test_default_large_message_passes_default_server_limits(
    start_backend: Callable[..., Backend],
) -> None:
    """websockets' default max_size (1 MiB, the compressed frame included) and socket.io's
    maxHttpBufferSize (1e6 bytes) accept the default large message: no warning."""
    for limit in (2**20, 1_000_000):
        status, messages, found = diagnose(start_backend(max_size=limit))
        assert status == 0 and found == [], (limit, found)
        assert messages["observation"]["large_message"]["outcome"] == "echoed"


def test_find_max_message_bisects_to_the_limit(start_backend: Callable[..., Backend]) -> None:
    """--find-max-message against a 100 kB limit: the largest size that passed is just under
    it, the smallest refused just over, refused with close 1009."""
    _, messages, found = diagnose(start_backend(max_size=100_000), "--find-max-message")
    result = messages["observation"]["max_message"]
    assert 90_000 <= result["largest_ok"] <= 100_000 < result["smallest_refused"] <= 110_000
    assert result["refused_how"] == "close 1009"
    assert "WSD-MESSAGES-MAX-SIZE" in [f["code"] for f in found]
