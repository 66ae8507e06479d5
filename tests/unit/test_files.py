"""Files the user names: reads that cannot hang or run on, writes that replace nothing but a
regular file. Real FIFOs and device nodes, through the real commands."""

from __future__ import annotations

import io
import os
import stat
import time
from pathlib import Path

import pytest

from tests.helpers import run_cli
from wsdoctor.cli import Environment, main
from wsdoctor.exit import ExitStatus
from wsdoctor.files import FileProblem, read_bounded, read_text_stream, write_replacing


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("argv", [
    ["show", "{fifo}"],
    ["show", "/dev/zero"],
    ["lint", "/dev/zero"],
    ["probe", "--config", "/dev/zero", "--check-config"],
    ["example.com", "--cacert", "{fifo}"],
    ["example.com", "--kubeconfig", "{fifo}"],
])
def test_a_fifo_or_a_device_is_one_line_within_a_second(argv: list[str], fifo: Path) -> None:
    """A FIFO nobody writes to and /dev/zero, where a file is expected, end the command
    within a second with one line and exit 2, instead of blocking or reading forever."""
    start = time.monotonic()
    result = run_cli(*(a.format(fifo=fifo) for a in argv))
    assert time.monotonic() - start < 1.0
    assert result.status == ExitStatus.USAGE, result
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("wsdoctor: error: ")


def test_lint_stdin_of_zeros_is_refused_at_once() -> None:
    """``wsdoctor lint - < /dev/zero`` stops at the first NUL byte: one line, exit 2."""
    err = io.StringIO()
    with open("/dev/zero", encoding="utf-8") as zeros:
        env = Environment(stdout=io.StringIO(), stderr=err, stdin=zeros, environ={},
                          stdout_isatty=False)
        start = time.monotonic()
        status = main(["lint", "-"], env)
    assert time.monotonic() - start < 1.0
    assert status == ExitStatus.USAGE
    assert err.getvalue().count("\n") == 1 and "NUL" in err.getvalue()


def test_reads_are_bounded(tmp_path: Path, fifo: Path) -> None:
    """A file over the limit is refused from its size; a FIFO with no writer reads as empty;
    a pipe with a writer is read whole; text on stdin over the limit is refused."""
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    with pytest.raises(FileProblem, match="larger than 100 bytes"):
        read_bounded(str(big), 100)
    assert read_bounded(str(big), 101) == b"x" * 101
    assert read_bounded(str(fifo), 100) == b""  # nobody writes: empty, at once
    read_end, write_end = os.pipe()  # what lint <(helm template .) passes: /dev/fd/N
    os.write(write_end, b"y" * 10)
    os.close(write_end)
    try:
        assert read_bounded(f"/dev/fd/{read_end}", 100) == b"y" * 10
    finally:
        os.close(read_end)
    with pytest.raises(FileProblem, match="larger than"):
        read_text_stream(io.StringIO("z" * 11), 10)
    with pytest.raises(FileProblem, match="is a directory"):
        read_bounded(str(tmp_path), 10)


def test_writes_never_replace_a_device_a_fifo_or_a_symlink(tmp_path: Path, fifo: Path) -> None:
    """/dev/full is written through (and fails: no space), never replaced by a regular file;
    a FIFO with no reader is refused at once; a symlink keeps pointing at its file, which is
    replaced; a regular file is replaced atomically."""
    with pytest.raises(FileProblem, match="No space left"):
        write_replacing("/dev/full", b"data")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    with pytest.raises(FileProblem, match="no reader"):
        write_replacing(str(fifo), b"data")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    real, link = tmp_path / "real.json", tmp_path / "link.json"
    real.write_text("old")
    link.symlink_to(real)
    write_replacing(str(link), b"new")
    assert link.is_symlink() and real.read_text() == "new"
    write_replacing(str(tmp_path / "fresh.json"), b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "fresh.json", "link.json",
                                                          "real.json"]


def test_report_to_a_device_is_one_line_and_keeps_the_node() -> None:
    """``-o /dev/full`` (root included) says why in one line, exit 3, and /dev/full is still
    the device afterwards."""
    result = run_cli("ws://127.0.0.1:1/", "--only", "dns", "-o", "/dev/full")
    assert result.status == ExitStatus.CANNOT_RUN
    assert result.stderr == "wsdoctor: cannot write the report to /dev/full: No space left on " \
        "device\n"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
