"""Hostile servers on loopback: each yields a finding within the time limit, never a
traceback, and the report is still written."""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_cli
from wsdoctor.lab.backend import LabLoop
from wsdoctor.lab.hostile import HostileServer, Hostility, start_hostile
from wsdoctor.report import Report

#: The finding each hostility must yield, and its check (a reset TLS handshake is
#: diagnosed by the tls check; the handshake check then points there).
EXPECTED = {
    Hostility.NEVER_ANSWERS: ("handshake", "WSD-HANDSHAKE-TIMEOUT"),
    Hostility.GARBAGE: ("handshake", "WSD-HANDSHAKE-NOT-HTTP"),
    Hostility.HUGE_HEADER: ("handshake", "WSD-HANDSHAKE-MALFORMED-RESPONSE"),
    Hostility.CLOSES_MID_HANDSHAKE: ("handshake", "WSD-HANDSHAKE-NO-RESPONSE"),
    Hostility.WRONG_ACCEPT: ("handshake", "WSD-HANDSHAKE-INVALID-101"),
    Hostility.REDIRECT_LOOP: ("handshake", "WSD-HANDSHAKE-REDIRECT"),
    Hostility.TLS_RESET: ("tls", "WSD-TLS-HANDSHAKE-RESET"),
}


@pytest.fixture
def hostile(lab_loop: LabLoop) -> Iterator[list[HostileServer]]:
    started: list[HostileServer] = []
    yield started
    for server in started:
        lab_loop.run(server.stop())


@pytest.mark.parametrize("hostility", list(Hostility), ids=lambda h: h.value)
def test_hostile_server_yields_a_finding_and_a_report(
    hostility: Hostility, lab_loop: LabLoop, hostile: list[HostileServer], tmp_path: Path
) -> None:
    """Given a hostile server, when diagnosed with --timeout 1, then the expected finding is
    there, the handshake check fails, within the time limit, and the JSON report is written."""
    server = lab_loop.run(start_hostile(hostility))
    hostile.append(server)
    out = tmp_path / "report.json"
    start = time.monotonic()
    result = run_cli(server.url(), "--timeout", "1", "--format", "json", "-o", str(out),
                     "--insecure")
    took = time.monotonic() - start
    assert result.status == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr == ""
    report = Report.load(out)
    assert json.loads(result.stdout)["findings"] == json.loads(out.read_text())["findings"]
    fails = [f for f in report.findings if f.status == "fail"]
    check_id, code = EXPECTED[hostility]
    # The http check (plain GET, same hop) may also fail on these servers; each check's own
    # diagnosis is exact.
    (own,) = [f for f in fails if f.check == check_id and f.code == code]
    assert own.fix is not None and own.resource is not None
    assert fails[0].check in ("tls", "http", "handshake"), fails[0]
    handshake = report.check("handshake")
    assert handshake is not None and handshake.status == "fail"
    assert all(c.status != "error" for c in report.checks), [c.reason for c in report.checks]
    assert took < 4, f"took {took:.1f} s with --timeout 1"


def test_redirect_loop_is_named_a_loop(lab_loop: LabLoop, hostile: list[HostileServer]) -> None:
    """A 302 back to the requested URL is called a redirect loop, with its Location quoted."""
    server = lab_loop.run(start_hostile(Hostility.REDIRECT_LOOP))
    hostile.append(server)
    result = run_cli(server.url("/chat"), "--timeout", "1", "--format", "json")
    (finding,) = [f for f in json.loads(result.stdout)["findings"] if f["check"] == "handshake"]
    assert "redirect loop" in finding["detail"]
    assert finding["evidence"]["header Location"] == f"http://127.0.0.1:{server.port}/chat"


def test_garbage_is_quoted_with_control_characters_escaped(
    lab_loop: LabLoop, hostile: list[HostileServer]
) -> None:
    """Bytes that are not HTTP are quoted printably, never raw control characters."""
    server = lab_loop.run(start_hostile(Hostility.GARBAGE))
    hostile.append(server)
    result = run_cli(server.url(), "--timeout", "1", "--format", "json")
    checks = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
    attempt = checks["handshake"]["observation"]["attempts"][0]
    assert attempt["outcome"] == "garbage"
    assert attempt["status_line"].startswith("SSH-2.0-OpenSSH")
    assert all(c.isprintable() for c in attempt["status_line"])
