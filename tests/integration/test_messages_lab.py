"""messages against real websockets replicas: no echo, a message-size limit, an early close."""

import json
from collections.abc import Callable
from typing import Any

from tests.helpers import run_cli
from wsdoctor.lab.backend import Backend


def diagnose(backend: Backend, *extra: str) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    result = run_cli(f"ws://127.0.0.1:{backend.port}/", "--format", "json", "--timeout", "2",
                     *extra)
    report = json.loads(result.stdout)
    messages = next(c for c in report["checks"] if c["id"] == "messages")
    found = [f for f in report["findings"] if f["check"] == "messages"]
    return result.status, messages, found


def test_app_that_does_not_echo_gets_pings_only(start_backend: Callable[..., Backend]) -> None:
    """No echo within the wait: an info finding, pings still measured, large message
    delivered (a ping after it is answered), exit 0."""
    status, messages, found = diagnose(start_backend(echo=False))
    assert status == 0
    obs = messages["observation"]
    assert obs["echoes"] is False and obs["binary_echo"] is None
    assert obs["pings"]["answered"] == 5
    assert obs["large_message"]["outcome"] == "delivered"
    assert [f["code"] for f in found] == ["WSD-MESSAGES-NO-ECHO"]


def test_message_size_limit_is_close_1009(start_backend: Callable[..., Backend]) -> None:
    """A replica with a 64 KiB limit closes the 512 KiB message with 1009: a warning."""
    status, messages, found = diagnose(start_backend(max_size=65536))
    assert status == 0
    large = messages["observation"]["large_message"]
    assert large["outcome"] == "closed" and large["close_code"] == 1009
    assert [f["code"] for f in found] == ["WSD-MESSAGES-TOO-BIG"]
    assert messages["status"] == "warn"


def test_smaller_message_size_passes_the_limit(start_backend: Callable[..., Backend]) -> None:
    """--message-size below the replica's limit: the large message is echoed."""
    _, messages, found = diagnose(start_backend(max_size=65536), "--message-size", "60000")
    assert messages["observation"]["large_message"]["outcome"] == "echoed"
    assert found == []


def test_server_closing_during_the_test_is_reported(start_backend: Callable[..., Backend]) -> None:
    """A replica that closes after 50 ms of silence ends the connection during the echo
    step: a fail naming the step and the close code and reason."""
    status, messages, found = diagnose(start_backend(echo=False, close_after=0.05))
    assert status == 1
    end = messages["observation"]["end"]
    assert end == end | {"by": "server", "ending": "close_frame", "code": 1000,
                         "during": "text echo"}
    assert [f["code"] for f in found] == ["WSD-MESSAGES-CLOSED-EARLY"]
    assert "idle timeout (application)" in found[0]["detail"]
