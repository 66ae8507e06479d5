"""Servers that upgrade correctly and then break the protocol (wsdoctor.lab.badframes): each
violation is its own finding, quoting the offending bytes, the messages check never crashes,
and the run fails (exit 1)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import run_cli
from wsdoctor.exit import ExitStatus
from wsdoctor.lab.backend import LabLoop
from wsdoctor.lab.badframes import (
    AT_ONCE_CODE,
    AT_ONCE_REASON,
    FLOOD_PINGS,
    BadFrameServer,
    FrameFault,
    start_bad_frames,
)

#: The finding each fault yields, and a piece of the bytes it quotes (escaped as \xNN).
EXPECTED: dict[FrameFault, tuple[str, str]] = {
    FrameFault.MASKED_FRAME: ("WSD-FRAMES-MASKED", "\\x81\\x8c\\x124Vx"),
    FrameFault.RSV_BITS: ("WSD-FRAMES-RSV-BITS", "\\xc1\\x14rsv1 without deflate"),
    FrameFault.RESERVED_OPCODE: ("WSD-FRAMES-RESERVED-OPCODE", "\\x83\\x0copcode three"),
    FrameFault.CONTROL_TOO_LONG: ("WSD-FRAMES-CONTROL-TOO-LONG", "\\x89~\\x00~pppp"),
    FrameFault.CONTROL_FRAGMENTED: ("WSD-FRAMES-CONTROL-FRAGMENTED", "\\x09\\x0bhalf a ping"),
    FrameFault.LENGTH_2_63: ("WSD-FRAMES-LENGTH-INVALID", "\\x82\\x7f\\x80\\x00\\x00"),
    FrameFault.CLOSE_1005: ("WSD-FRAMES-CLOSE-CODE-INVALID", "\\x88\\x02\\x03\\xed"),
    FrameFault.CLOSE_1006: ("WSD-FRAMES-CLOSE-CODE-INVALID", "\\x88\\x0a\\x03\\xeeabnormal"),
    FrameFault.CLOSE_ONE_BYTE: ("WSD-FRAMES-CLOSE-TOO-SHORT", "\\x88\\x01\\x03"),
    FrameFault.CLOSE_TOO_LONG: ("WSD-FRAMES-CONTROL-TOO-LONG", "\\x88~\\x00~\\x03\\xe8rrr"),
    FrameFault.CLOSE_REASON_NOT_UTF8: ("WSD-FRAMES-CLOSE-REASON-NOT-UTF8", "caf\\xe9 ferm\\xe9"),
    FrameFault.TEXT_NOT_UTF8: ("WSD-FRAMES-TEXT-NOT-UTF8", "price: 10 \\xff\\xfe euros"),
}


@pytest.fixture
def serve(lab_loop: LabLoop) -> Iterator[list[BadFrameServer]]:
    started: list[BadFrameServer] = []
    yield started
    for server in started:
        lab_loop.run(server.stop())


def diagnose(lab_loop: LabLoop, serve: list[BadFrameServer], fault: FrameFault
             ) -> tuple[int, dict[str, Any], float]:
    """Run wsdoctor (handshake and messages) against a server with ``fault``: exit status,
    JSON report, seconds taken."""
    server = lab_loop.run(start_bad_frames(fault))
    serve.append(server)
    start = time.monotonic()
    result = run_cli(server.url(), "--only", "messages", "--timeout", "2", "--format", "json")
    assert result.stderr == "" and "Traceback" not in result.stdout
    return result.status, json.loads(result.stdout), time.monotonic() - start


@pytest.mark.parametrize("fault", list(EXPECTED), ids=lambda f: f.value)
def test_each_violation_is_named_with_its_bytes(
    fault: FrameFault, lab_loop: LabLoop, serve: list[BadFrameServer]
) -> None:
    """Given a server that breaks the protocol after the first message, the messages check
    ends (no crash), its finding names the violation with the bytes quoted, and the run
    fails with exit 1 instead of "the server ended the connection with a TCP FIN"."""
    status, report, took = diagnose(lab_loop, serve, fault)
    code, quoted = EXPECTED[fault]
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["messages"]["status"] == "fail", checks["messages"]
    assert checks["handshake"]["status"] == "ok"
    (finding,) = [f for f in report["findings"] if f["check"] == "messages"]
    assert finding["code"] == code
    assert quoted in finding["evidence"]["bytes"] and quoted in finding["detail"]
    assert finding["evidence"]["bytes"].isascii() and finding["evidence"]["bytes"].isprintable()
    end = checks["messages"]["observation"]["end"]
    assert end["ending"] == "protocol_error" and end["violation"]["close_code"] in (1002, 1007,
                                                                                   1009)
    assert report["status"] == "fail" and status == ExitStatus.FINDINGS
    assert took < 6


@pytest.mark.parametrize("fault", [FrameFault.CLOSE_AT_ONCE, FrameFault.CLOSE_SOON],
                         ids=lambda f: f.value)
def test_accepted_then_closed_at_once(
    fault: FrameFault, lab_loop: LabLoop, serve: list[BadFrameServer]
) -> None:
    """A close frame right behind the 101 (in its TCP segment or the next) is a server that
    accepted and closed at once, with its code and reason — not an invalid 101."""
    status, report, _ = diagnose(lab_loop, serve, fault)
    codes = [f["code"] for f in report["findings"]]
    assert codes == ["WSD-MESSAGES-CLOSED-AT-ONCE"], codes
    (finding,) = report["findings"]
    assert finding["evidence"] == {"ending": "close_frame", "code": AT_ONCE_CODE,
                                   "reason": AT_ONCE_REASON}
    assert f"code {AT_ONCE_CODE}" in finding["detail"] and AT_ONCE_REASON in finding["detail"]
    assert status == ExitStatus.FINDINGS


def test_ping_flood_is_reported(lab_loop: LabLoop, serve: list[BadFrameServer]) -> None:
    """A server that answers every message with a burst of pings is a ping-flood warning;
    every ping is answered and the check still completes."""
    status, report, _ = diagnose(lab_loop, serve, FrameFault.PING_FLOOD)
    (flood,) = [f for f in report["findings"] if f["code"] == "WSD-FRAMES-PING-FLOOD"]
    assert flood["evidence"]["pings"] >= FLOOD_PINGS
    messages = next(c for c in report["checks"] if c["id"] == "messages")
    observation = messages["observation"]
    assert observation["echoes"] is True and observation["pings"]["answered"] == 5
    assert observation["end"]["by"] == "client" and observation["end"]["ending"] == "close_frame"
    assert report["status"] == "warn" and status == ExitStatus.OK


def test_a_deflate_bomb_is_refused_at_the_size_limit(
    lab_loop: LabLoop, serve: list[BadFrameServer]
) -> None:
    """Messages that inflate to 16 MiB from 16 KB are refused at wsdoctor's limit (1 MiB:
    websockets' own default, more than twice the default --message-size of 512 KiB) while
    inflating, with close 1009 and a warning naming the limit."""
    status, report, _ = diagnose(lab_loop, serve, FrameFault.DEFLATE_BOMB)
    (finding,) = [f for f in report["findings"] if f["check"] == "messages"]
    assert finding["code"] == "WSD-FRAMES-TOO-BIG"
    assert finding["evidence"]["message"] == "frame exceeds limit of 1048576 bytes"
    assert finding["evidence"]["close_code_sent"] == 1009
    assert finding["evidence"]["bytes"].startswith("\\xc1~")  # RSV1 text, 16-bit length
    assert report["status"] == "warn" and status == ExitStatus.OK


def test_idle_checks_skip_a_server_that_closed_at_once(
    lab_loop: LabLoop, serve: list[BadFrameServer]
) -> None:
    """The idle and keepalive checks do not report a "0 s idle timeout" for a server that
    closes right after its 101: they skip, pointing to the messages check's finding."""
    server = lab_loop.run(start_bad_frames(FrameFault.CLOSE_SOON))
    serve.append(server)
    result = run_cli(server.url(), "--only", "messages,idle,keepalive", "--idle-max", "2",
                     "--timeout", "2", "--format", "json")
    report = json.loads(result.stdout)
    checks = {c["id"]: c for c in report["checks"]}
    for check in ("idle", "keepalive"):
        assert checks[check]["status"] == "skipped"
        assert "right after its 101 (close 1008 'no anonymous clients')" in checks[check]["reason"]
    assert [f["code"] for f in report["findings"]] == ["WSD-MESSAGES-CLOSED-AT-ONCE"]
    assert result.status == ExitStatus.FINDINGS
