"""`wsdoctor show REPORT.json` off a terminal, and how --format picks the TUI."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.tui.scenarios import failing_report, save_report
from wsdoctor.cli import Environment, main
from wsdoctor.exit import ExitStatus
from wsdoctor.reports.text import TextStyle, render_report, render_short


def run_cli(*argv: str, tty: bool = False) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdout=out, stderr=err, environ={}, stdout_isatty=tty)
    status = main(list(argv), env)
    return int(status), out.getvalue(), err.getvalue()


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_report(failing_report(), tmp_path)


def test_show_off_a_terminal_prints_the_text_report(saved: Path) -> None:
    """Piped, `show` renders the saved report as text, exactly like the text renderer, and exits
    1 because the report has failures."""
    status, out, err = run_cli("show", str(saved))
    expected = io.StringIO()
    render_report(failing_report(), expected, TextStyle(colour=False, ascii_only=True))
    assert (status, err) == (ExitStatus.FINDINGS, "")
    assert out == expected.getvalue()
    assert "WSD-IDLE-TIMEOUT-SHORT" in out


def test_show_short_and_fail_on(saved: Path) -> None:
    """--short gives the one-line-per-failure form; --fail-on never ignores the findings, but
    the check that ended in error still makes the exit status 4 (incomplete), never 0."""
    status, out, _ = run_cli("show", str(saved), "--short", "--fail-on", "never")
    expected = io.StringIO()
    render_short(failing_report(), expected, TextStyle(colour=False, ascii_only=True))
    assert status == ExitStatus.INCOMPLETE and out == expected.getvalue()


def test_show_json_is_the_saved_file_byte_for_byte(saved: Path) -> None:
    """--format json prints the report exactly as it was saved."""
    _, out, _ = run_cli("show", str(saved), "--format", "json")
    assert out == saved.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file or directory"),
        (b"not json", "not a wsdoctor JSON report (Invalid JSON"),
        (b'{"schema_version": 1}', "not a wsdoctor JSON report (target: Field required)"),
    ],
)
def test_show_bad_file_is_one_line_and_exit_2(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    """A missing or invalid report is one line on stderr and exit 2."""
    path = tmp_path / "report.json"
    if content is not None:
        path.write_bytes(content)
    status, out, err = run_cli("show", str(path))
    assert status == ExitStatus.USAGE and out == ""
    assert err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize(
    "argv", [["show", "REPORT", "--format", "tui"], ["127.0.0.1:1", "--format", "tui"]]
)
def test_tui_format_needs_a_terminal(argv: list[str], saved: Path) -> None:
    """--format tui off a terminal is a usage error, not a screen full of escapes."""
    argv = [str(saved) if a == "REPORT" else a for a in argv]
    status, out, err = run_cli(*argv)
    assert status == ExitStatus.USAGE and out == "" and "needs a terminal" in err


def test_auto_format_off_a_terminal_is_text() -> None:
    """Piped, `wsdoctor TARGET` prints the text checklist (the TUI is for terminals)."""
    status, out, _ = run_cli("ws://127.0.0.1:1/")
    assert status == ExitStatus.FINDINGS and "[FAIL] tcp" in out




def test_show_dash_reads_the_report_from_stdin(saved: Path) -> None:
    """`wsdoctor show -` reads the report from a real pipe, renders it as from a file (text
    even on a terminal, whose keyboard the TUI would need), and refuses --format tui."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "wsdoctor", "show", "-", "--ascii"]
    piped = subprocess.run(command, input=saved.read_bytes(), capture_output=True, timeout=30)
    from_file = run_cli("show", str(saved), "--ascii")
    assert (piped.returncode, piped.stdout.decode()) == (from_file[0], from_file[1])
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdout=out, stderr=err, stdin=io.StringIO(saved.read_text()),
                      environ={}, stdout_isatty=True)
    assert main(["show", "-", "--short"], env) == from_file[0] and out.getvalue()
    env = Environment(stdout=out, stderr=err, stdin=io.StringIO(saved.read_text()),
                      environ={}, stdout_isatty=True)
    assert main(["show", "-", "--format", "tui"], env) == ExitStatus.USAGE
    assert "stdin" in err.getvalue()


def test_show_dash_is_bounded_like_a_file() -> None:
    """`wsdoctor show - < /dev/zero` ends at once with one line (NUL is not a report), as
    `show /dev/zero` does; an empty stdin is one line too."""
    import subprocess
    import sys

    for source in ("/dev/zero", "/dev/null"):
        with open(source, "rb") as stdin:
            done = subprocess.run([sys.executable, "-m", "wsdoctor", "show", "-"], stdin=stdin,
                                  capture_output=True, timeout=30)
        assert done.returncode == ExitStatus.USAGE
        assert done.stderr.decode().count("\n") == 1 and b"<stdin>: " in done.stderr
