"""Rough edges of the command line found by the reviews of issues 12, 13, 14 and 17: headers
that would break the handshake, empty or garbage list options."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from tests.helpers import run_cli
from wsdoctor.exit import ExitStatus


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("Content-Length: 5", "has no body"),
        ("Transfer-Encoding: chunked", "has no body"),
        ("transfer-encoding: gzip, chunked", "has no body"),
        ("Expect: 100-continue", "no body"),
        ("Keep-Alive: timeout=5", "hop-by-hop"),
        ("TE: trailers", "hop-by-hop"),
        ("Host: other.example", "sets this header itself"),
        ("Upgrade: h2c", "sets this header itself"),
        ("Connection: close", "sets this header itself"),
        ("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==", "sets this header itself"),
        ("Sec-WebSocket-Whatever: 1", "belong to the handshake"),
    ],
)
def test_headers_that_break_the_handshake_are_refused_with_why(header: str, why: str) -> None:
    """Given -H with a header the upgrade request cannot carry, wsdoctor refuses it before any
    connection, in one line that says why (exit 2), for the diagnosis and the watch alike."""
    for argv in (["ws://127.0.0.1:9/", "-H", header],
                 ["watch", "ws://127.0.0.1:9/", "-H", header, "--duration", "1"]):
        result = run_cli(*argv)
        assert result.status == ExitStatus.USAGE, result
        assert result.stderr.count("\n") == 1 and why in result.stderr, result.stderr
        assert header.partition(":")[0] in result.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["ws://127.0.0.1:9/", "--suppress", "not a code"], "wsdoctor explain --list"),
        (["ws://127.0.0.1:9/", "--suppress", ""], "--suppress: an empty value"),
        (["ws://127.0.0.1:9/", "--suppress", ","], "wsdoctor explain --list"),
        (["ws://127.0.0.1:9/", "--only", ""], "CHECK one of dns, tcp, tls"),
        (["ws://127.0.0.1:9/", "--only", "dns,,tcp"], "--only: an empty item in 'dns,,tcp'"),
        (["ws://127.0.0.1:9/", "--only", "nope"], "choose from dns, tcp, tls"),
        (["ws://127.0.0.1:9/", "--skip", " "], "--skip: an empty value"),
        (["ws://127.0.0.1:9/", "--subprotocol", ""], "--subprotocol: an empty value"),
        (["ws://127.0.0.1:9/", "--affinity-cookie", ""], "--affinity-cookie: an empty value"),
        (["watch", "ws://127.0.0.1:9/", "--suppress", "nope"], "wsdoctor explain --list"),
        (["watch", "ws://127.0.0.1:9/", "--suppress", ""], "--suppress: an empty value"),
        (["load", "ws://127.0.0.1:9/", "-c", "2", "--suppress", ""], "an empty value"),
        (["lint", "docs/deploy", "--suppress", ""], "--suppress: an empty value"),
        (["lint", "docs/deploy", "--websocket-route", ""], "give [KIND/][NS/]NAME"),
        (["explain"], "give a CODE, or --list"),
    ],
)
def test_empty_or_garbage_list_values_are_one_usage_line(argv: list[str], expected: str) -> None:
    """Given an empty or unknown value to a list option, wsdoctor says what to give in one line
    and exits 2 before doing anything (an empty --only used to run every check)."""
    result = run_cli(*argv)
    assert result.status == ExitStatus.USAGE, result
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr


def test_explain_list_prints_every_code_with_its_title() -> None:
    """`wsdoctor explain --list` (where an unknown --suppress code points) prints each code
    with its page's title, one a line."""
    from wsdoctor.docs import known_codes

    result = run_cli("explain", "--list")
    assert result.status == ExitStatus.OK
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == known_codes()
    assert any(line.startswith("WSD-WATCH-POD-CLOSED ") and
               line.endswith("Connections were closed when their pod ended") for line in lines)


@pytest.mark.parametrize("command", [["ws://127.0.0.1:9/"], ["lint", "docs/deploy"]])
def test_a_replaced_report_keeps_its_mode(tmp_path: Path, command: list[str]) -> None:
    """Given an existing report file kept private (0600), `-o FILE` replaces it atomically (a
    new inode) and the new file is still 0600; a new file gets the umask's mode."""
    kept = tmp_path / "report.json"
    kept.write_text("{}")
    kept.chmod(0o600)
    before = kept.stat().st_ino
    result = run_cli(*command, "-o", str(kept), "--format", "json")
    assert result.status in (ExitStatus.OK, ExitStatus.FINDINGS), result
    assert json.loads(kept.read_text())["schema_version"]
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and kept.stat().st_ino != before
    fresh = tmp_path / "fresh.json"
    umask = os.umask(0o027)
    try:
        run_cli(*command, "-o", str(fresh), "--format", "json")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.json", "report.json"]


def test_lint_of_proc_is_one_line_at_once() -> None:
    """`wsdoctor lint /proc` (entries vanishing while walked, unreadable directories, files
    of endless content) ends at once with one usage line, never a traceback."""
    started = time.monotonic()
    result = run_cli("lint", "/proc")
    assert time.monotonic() - started < 10
    assert result.status == ExitStatus.USAGE, result
    assert result.stderr.count("\n") == 1 and "/proc: no manifest files" in result.stderr


def test_lint_directory_names_its_special_files_and_lints_the_rest(tmp_path: Path) -> None:
    """Given a directory whose *.yaml entries include a FIFO with a writer that never writes,
    a link to /dev/zero and a broken link, lint reads none of them (each is one 'not linted'
    line and a finding) and still lints the regular manifest beside them."""
    (tmp_path / "ok.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: chat}\nspec: {ports: [{port: 80}]}\n")
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    (tmp_path / "gone.yml").symlink_to(tmp_path / "nowhere")
    (tmp_path / "dir.yaml").mkdir()
    writer = os.open(fifo, os.O_RDWR)  # a writer that never writes: a read would block
    try:
        started = time.monotonic()
        result = run_cli("lint", str(tmp_path), "--format", "json")
        assert time.monotonic() - started < 10
    finally:
        os.close(writer)
    report = json.loads(result.stdout)
    unreadable = sorted(f["finding"]["resource"]["name"] for f in report["findings"]
                        if f["finding"]["code"] == "WSD-LINT-UNREADABLE")
    assert unreadable == [str(tmp_path / n) for n in ("fifo.yaml", "gone.yml", "zero.yaml")]
    assert report["files"] == [str(tmp_path / "ok.yaml")] and report["objects"] == 1
    assert report["unread"] == unreadable
    assert result.stderr.count("not linted:") == 3 and "Traceback" not in result.stderr
