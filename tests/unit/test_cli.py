"""The command line: start-up cost, one-line usage errors, exit codes."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from wsdoctor.cli import Environment, main
from wsdoctor.exit import ExitStatus


def run_cli(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdout=out, stderr=err, environ=environ or {}, stdout_isatty=False)
    status = main(list(argv), env)
    return int(status), out.getvalue(), err.getvalue()


def test_help_documents_exit_codes() -> None:
    """--help lists every exit status."""
    proc = subprocess.run(
        [sys.executable, "-m", "wsdoctor", "--help"], capture_output=True, text=True, check=True
    )
    for status in ExitStatus:
        assert f"  {int(status)}  " in proc.stdout


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["ftp://x.example"],
        ["example.com:99999"],
        ["[::1"],
        ["wss://user:pw@example.com"],
        ["example.com", "--timeout", "0"],
        ["example.com", "--timeout", "-1"],
        ["example.com", "--timeout", "nan"],
        ["example.com", "--timeout", "soon"],
        ["example.com", "--timeout", "1d"],
        ["example.com", "--kubeconfig", "/nonexistent/kubeconfig"],
        ["example.com", "--format", "xml"],
        ["example.com", "--fail-on", "info"],
        ["example.com", "--resolve", "example.com:443"],
        ["example.com", "--resolve", "example.com:port:127.0.0.1"],
        ["example.com", "--resolve", "example.com:443:not-an-ip"],
        ["example.com", "--dns-server", "resolver.example"],
        ["example.com", "--dns-server", "127.0.0.1:99999"],
        ["example.com", "-H", "no colon"],
        ["example.com", "-H", ": empty name"],
        ["example.com", "--origin", "app.example.com"],
        ["example.com", "--cacert", "/nonexistent/ca.pem"],
        ["example.com", "--cacert", "/etc/passwd"],
        ["example.com", "--cacert", "/tmp"],
        ["example.com", "--origin", "https://a\r\nX-Injected: y"],
        ["example.com", "--subprotocol", "chat v2"],
        ["example.com", "-H", "Host: other.example"],
        ["example.com", "-H", "Sec-WebSocket-Key: abc"],
        ["example.com", "--format", "json", "--short"],
        ["example.com", "--only", "idle", "--skip", "idle"],
        ["example.com", "--only", "nosuchcheck"],
        ["example.com", "--skip", "dns,bogus"],
        ["example.com", "--pings", "-3"],
        ["example.com", "--message-size", "big"],
        ["example.com", "--message-size", "2000000000"],
        ["example.com", "--message-size", "16777217"],
        ["example.com", "--no-such-option"],
        ["[::1]]:80"],
        ["ws:/127.0.0.1"],
        ["ws://[v1.fe]/"],
        ["example.com", "-H", "X-A: 1\r\nX-Injected: 1"],
        ["example.com", "-H", "X-A: 1\nX-Injected: 1"],
        ["example.com", "-H", "X-A: a\x00b"],
        ["example.com", "-H", "X-A: a\x1b[2Jb"],
        ["example.com", "-H", "X-A: caf\u00e9"],
        ["example.com", "-H", "X-Caf\u00e9: 1"],
        ["example.com", "-H", "X\x01A: 1"],
        ["example.com", "--origin", "https://caf\u00e9.example"],
        ["example.com", "--dns-server="],
        ["example.com", "--dns-server", ""],
        ["example.com", "--dns-server", "[::1]x"],
        ["example.com", "--pushgateway", "http://[::1"],
        ["example.com", "--pushgateway", "http://gw:99999/"],
        ["example.com", "--pushgateway", "http://gw/a b"],
        ["example.com", "--kubeconfig", "/dev/null"],
        ["example.com", "--cacert", "/dev/zero"],
        ["explain"],
        ["explain", "WSD-NOPE-NOTHING"],
        ["bisect"],
        ["bisect", "example.com", "--no-kubernetes"],
        ["bisect", "example.com", "--port-forward", "--pod-network"],
        ["bisect", "example.com", "--skip", "hops"],
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv: list[str]) -> None:
    """Given a malformed target or option, wsdoctor prints one line on stderr and exits 2."""
    status, out, err = run_cli(*argv)
    assert status == ExitStatus.USAGE
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("wsdoctor: error: "), err
    assert "Traceback" not in err


def test_bisect_help_has_every_option_of_the_main_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`wsdoctor bisect --help` is the main command's options plus how to reach pods, and
    the main help lists the command."""
    from wsdoctor.commands.bisect import bisect_parser
    from wsdoctor.commands.options import build_parser

    main_options = {o for a in build_parser()._actions for o in a.option_strings}
    bisect_options = {o for a in bisect_parser()._actions for o in a.option_strings}
    assert bisect_options == main_options | {"--port-forward", "--pod-network"}
    assert run_cli("--help")[0] == 0
    assert "wsdoctor bisect TARGET" in capsys.readouterr().out
    assert run_cli("bisect", "--help")[0] == 0
    out = capsys.readouterr().out
    assert "pods/portforward" in out and out.startswith("usage: wsdoctor bisect")


def test_explain_prints_the_page_case_insensitively() -> None:
    """`wsdoctor explain wsd-tcp-refused` prints the page of WSD-TCP-REFUSED."""
    status, out, _ = run_cli("explain", "wsd-tcp-refused")
    assert status == ExitStatus.OK
    assert out.startswith("# WSD-TCP-REFUSED")
    assert "## How to fix" in out


def test_refused_port_exits_1_with_json_report(tmp_path: object) -> None:
    """A closed loopback port is a fail finding: exit 1, JSON on stdout, report file written."""
    import socket
    from pathlib import Path

    with socket.socket() as sock:  # find a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out_file = Path(str(tmp_path)) / "report.json"
    status, out, err = run_cli(
        f"ws://127.0.0.1:{port}/", "--only", "tcp", "--format", "json", "-o", str(out_file)
    )
    assert status == ExitStatus.FINDINGS, err
    report = json.loads(out)
    assert report["findings"][0]["code"] == "WSD-TCP-REFUSED"
    assert json.loads(out_file.read_text()) == report


def test_fail_on_never_exits_0() -> None:
    """--fail-on never turns findings into exit 0."""
    status, _, _ = run_cli("ws://127.0.0.1:1/", "--only", "tcp", "--fail-on", "never")
    assert status == ExitStatus.OK


def test_unwritable_report_file_exits_3() -> None:
    """A report that cannot be written is 'could not run' (3), with one line."""
    status, _, err = run_cli(
        "ws://127.0.0.1:1/", "--only", "tcp", "-o", "/nonexistent-dir/report.json"
    )
    assert status == ExitStatus.CANNOT_RUN
    assert "cannot write the report" in err


def test_unwritable_report_file_is_found_before_a_long_run() -> None:
    """With --idle (a long wait), an impossible -o is reported before probing: nothing of a
    run (not even the text header) is printed."""
    status, out, err = run_cli("ws://127.0.0.1:1/", "--idle", "-o", "/nonexistent-dir/r.json")
    assert status == ExitStatus.CANNOT_RUN and out == ""
    assert err.count("\n") == 1 and "cannot write the report" in err


def test_a_device_path_that_does_not_exist_is_found_before_the_run() -> None:
    """-o under /dev or /proc is written through only when it exists: a path there whose
    directory does not exist is reported before probing, like any other."""
    status, out, err = run_cli("ws://127.0.0.1:1/", "--idle", "-o", "/proc/nonexistent/r.json")
    assert status == ExitStatus.CANNOT_RUN and out == ""
    assert err == "wsdoctor: cannot write the report to /proc/nonexistent/r.json: " \
        "No such file or directory\n"


def test_a_reader_that_leaves_early_is_not_an_error() -> None:
    """`wsdoctor ... | head -1`: no traceback and no 'could not run' when the pipe closes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsdoctor", "ws://127.0.0.1:1/", "--format", "text",
         "--no-kubernetes", "--skip", "affinity"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith("wsdoctor")
    proc.stdout.close()  # the reader goes away, as `head -1` does
    err = proc.stderr.read()
    proc.wait(timeout=30)
    assert "Traceback" not in err and "could not run" not in err and "Exception" not in err, err


def test_durations_take_units_like_the_probe_config() -> None:
    """--expect-idle 1h and --idle-max 5m are seconds with a unit, as in the exporter's YAML."""
    from wsdoctor.commands.options import build_parser, settings_from_args

    args = build_parser().parse_args(["example.com", "--expect-idle", "1h", "--idle-max", "5m",
                                      "--timeout", "250ms"])
    settings = settings_from_args(args)
    assert (settings.expect_idle, settings.idle_max, settings.timeout) == (3600.0, 300.0, 0.25)


def test_the_message_size_cap_is_the_settings_cap() -> None:
    """--help cannot import the settings model; its copy of the cap must not drift."""
    from wsdoctor.commands.options import MAX_MESSAGE_SIZE as OPTION_CAP
    from wsdoctor.settings import MAX_MESSAGE_SIZE

    assert OPTION_CAP == MAX_MESSAGE_SIZE
    status, _, _ = run_cli("ws://127.0.0.1:9/", "--only", "tcp", "--message-size",
                           str(MAX_MESSAGE_SIZE))
    assert status != ExitStatus.USAGE


@pytest.mark.parametrize("argv", [
    ["wss://alice:PA55word@example.com/"],
    ["example.com", "-H", "Authorization Bearer PA55word"],
    ["example.com", "-H", "Authorization: Bearer PA55word\r\nX: 1"],
    ["example.com", "--pushgateway", "http://alice:PA55word@[::1/"],
])
def test_usage_errors_never_print_a_secret(argv: list[str]) -> None:
    """A refused URL password or header value is not repeated in the error line."""
    status, _, err = run_cli(*argv)
    assert status == ExitStatus.USAGE and err.count("\n") == 1
    assert "PA55word" not in err


def test_error_lines_escape_what_a_terminal_would_act_on() -> None:
    """An escape sequence in an argument reaches stderr escaped, never raw."""
    status, _, err = run_cli("example.com", "--only", "\x1b]52;c;cHduZWQ=\x07")
    assert status == ExitStatus.USAGE
    assert "\x1b" not in err and "\\x1b" in err


def test_the_console_script_ends_as_a_normal_exit_would(tmp_path: Path) -> None:
    """The console entry point ends without the interpreter's teardown, yet as a normal exit
    would: the exit handlers ran, everything written reached the reader, the status is the
    command's."""
    marker = tmp_path / "atexit-ran"
    script = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))\n"
        "atexit.register(lambda: print('written by a handler'))\n"
        "from wsdoctor.cli import run\n"
        "sys.argv = ['wsdoctor', *sys.argv[1:]]\n"
        "run()\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, "explain", "WSD-TLS-EXPIRED"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# WSD-TLS-EXPIRED")
    assert proc.stdout.endswith("written by a handler\n")
    assert marker.read_text() == "ran"
    proc = subprocess.run([sys.executable, "-c", script, "explain", "WSD-NOPE"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == ExitStatus.USAGE and "WSD-NOPE" in proc.stderr


def test_the_console_script_does_not_look_for_pydantic_plugins(tmp_path: Path) -> None:
    """The console entry point spares pydantic's search for plugins (every installed
    distribution's entry points) unless the environment sets PYDANTIC_DISABLE_PLUGINS itself
    (empty: look for them, as pydantic does by default). Reading a saved report is a path
    that uses pydantic (a run itself does not import it)."""
    import os

    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "wsdoctor", "ws://127.0.0.1:1/", "--only", "tcp",
                    "--format", "json", "--no-kubernetes", "-o", str(report)],
                   capture_output=True, timeout=60, check=False)
    assert report.exists()

    script = (
        "import sys, importlib.metadata as metadata\n"
        "seen = []\n"
        "real = metadata.entry_points\n"
        "def spy(**kw):\n"
        "    seen.append(kw.get('group'))\n"
        "    return real(**kw)\n"
        "metadata.entry_points = spy\n"
        "import atexit\n"
        "atexit.register(lambda: print('GROUPS', seen, file=sys.stderr))\n"
        "from wsdoctor.cli import run\n"
        f"sys.argv = ['wsdoctor', 'show', {str(report)!r}, '--format', 'json']\n"
        "run()\n"
    )
    environ = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    environ["HOME"] = str(tmp_path)
    for value, looked in ((None, False), ("", True)):
        env = environ if value is None else {**environ, "PYDANTIC_DISABLE_PLUGINS": value}
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env=env, timeout=60)
        groups = next(x for x in proc.stderr.splitlines() if x.startswith("GROUPS "))
        assert ("'pydantic'" in groups) is looked, (value, proc.stderr)
