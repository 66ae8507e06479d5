"""Acceptance of the hostile-output promises against a server that echoes every request
header back (body, headers, status reason, greeting, close reason; raw, percent-encoded,
base64, JSON-escaped, a Basic credential decoded) and sends escape sequences, markup and
XML-invalid characters: no secret the user gave and no raw escape reaches any output.

Outputs covered: --format json (stdout and -o), text (streamed), markdown, junit, --short;
``show`` of the saved report in every format; the TUI (live and from the saved report, every
check and finding selected, its screen text, its save and copy); the exporter's /reports,
/reports/NAME, /probe (metrics and debug JSON), /metrics, its 400 bodies and its log; the error
lines of a URL with a password (CLI and --check-config).
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from tests.exporter_support import running_exporter, wait_for, write_config
from tests.helpers import run_cli
from tests.hostile_support import Secrets
from wsdoctor.lab.backend import LabLoop
from wsdoctor.lab.echoing import EchoingServer, start_echoing
from wsdoctor.report import Report
from wsdoctor.reports.tui import DoctorApp, LiveRun, make_app
from wsdoctor.reports.tui.state import Selection
from wsdoctor.settings import Header, Settings
from wsdoctor.target import parse_target

TOKEN = "tok-Zq8vN3xYp7Lw2Kd9"
API_KEY = "key-Hj4mR6tWq1Xc8Vb5"
COOKIE = "sid-Ab3Cd5Ef7Gh9Ij1K"
PASSWORD = "pw-Tg6Yh8Uj0Ik2Ol4P"
BASIC = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
#: What each mode sends: a Bearer token to the server that upgrades, a Basic credential to the
#: one that refuses (which echoes it decoded too); both get an API key and a cookie.
HEADERS = {
    "upgrade": [("Authorization", f"Bearer {TOKEN}"), ("X-Api-Key", API_KEY),
                ("Cookie", f"session={COOKIE}; theme=dark")],
    "refuse": [("Authorization", f"Basic {BASIC}"), ("X-Api-Key", API_KEY),
               ("Cookie", f"session={COOKIE}; theme=dark")],
}
#: Every form in which a secret must not appear (see :class:`tests.hostile_support.Secrets`).
SECRETS = Secrets(TOKEN, API_KEY, COOKIE, PASSWORD, BASIC, f"alice:{PASSWORD}")
assert_clean = SECRETS.assert_clean


@pytest.fixture(params=["upgrade", "refuse"])
def echoing(request: pytest.FixtureRequest, lab_loop: LabLoop) -> Iterator[EchoingServer]:
    server = lab_loop.run(start_echoing(upgrade=request.param == "upgrade"))
    yield server
    lab_loop.run(server.stop())


def _mode(server: EchoingServer) -> str:
    return "upgrade" if server.upgrade else "refuse"


def _cli_args(server: EchoingServer) -> list[str]:
    args = [server.url(), "--timeout", "2"]
    for name, value in HEADERS[_mode(server)]:
        args += ["-H", f"{name}: {value}"]
    return args


def test_every_format_and_show_keep_secrets_and_escapes_out(
    echoing: EchoingServer, tmp_path: Path
) -> None:
    """Given the echoing server, when every format is produced live and again with ``show``
    from the saved report, then none holds a secret or a raw escape, the server's escapes
    are shown escaped, and the JUnit output parses."""
    saved = tmp_path / "report.json"
    outputs: dict[str, str] = {}
    for name, extra in (("json", ["--format", "json", "-o", str(saved)]),
                        ("text", ["--format", "text"]), ("markdown", ["--format", "markdown"]),
                        ("junit", ["--format", "junit"]), ("short", ["--short"])):
        result = run_cli(*_cli_args(echoing), *extra)
        assert result.status == 1, result.stderr
        assert result.stderr == ""
        outputs[name] = result.stdout
    outputs["-o"] = saved.read_text(encoding="utf-8")
    for fmt in ("text", "markdown", "junit", "json"):
        result = run_cli("show", str(saved), "--format", fmt)
        assert result.stderr == "" and result.status == 1
        outputs[f"show {fmt}"] = result.stdout
    outputs["show --short"] = run_cli("show", str(saved), "--short").stdout
    for where, text in outputs.items():
        assert_clean(text, where)
    for where in ("junit", "show junit"):
        ET.fromstring(outputs[where].encode("utf-8"))  # well-formed XML
    report = Report.load(saved)
    # The test can fail: the server did echo the secrets and send its escapes.
    assert outputs["-o"].count("<redacted>") >= 5
    assert "\\x1b[2J" in outputs["text"] and "\\u202e" in outputs["markdown"]
    assert "\\u001b" in outputs["json"] and "\\u009b" in outputs["json"]
    sent = {h.name: h.value for c in report.checks if c.id == "http" and c.observation
            for h in getattr(c.observation, "request_headers", [])}
    assert sent["X-Api-Key"] == "<redacted>" and sent["Authorization"] == "<redacted>"


def screen_text(app: DoctorApp) -> str:
    """The characters the app puts on the terminal now (its screen, as plain text)."""
    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(),
                      force_terminal=True, color_system="truecolor", record=True,
                      legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


@pytest.mark.parametrize("source", ["live", "saved"])
async def test_tui_keeps_secrets_escapes_and_markup_out(
    echoing: EchoingServer, tmp_path: Path, source: str
) -> None:
    """Given the echoing server, the TUI (a live run, or the saved report as ``show`` opens
    it) shows no secret and no raw escape on any screen, shows server markup literally, and
    saves and copies nothing secret."""
    settings = Settings(headers=[Header(name=n, value=v) for n, v in HEADERS[_mode(echoing)]],
                        timeout=2, kubernetes=False)
    target = parse_target(echoing.url())
    if source == "live":
        app = make_app(LiveRun(target, settings), save_dir=tmp_path, animate=False)
    else:
        saved = tmp_path / "saved.json"
        await asyncio.to_thread(run_cli, *_cli_args(echoing), "--no-kubernetes", "--format",
                                "json", "-o", str(saved))
        app = make_app(Report.load(saved), save_dir=tmp_path, saved_from="saved.json",
                       animate=False)
    async with app.run_test(size=(90, 200)) as pilot:
        await wait_for(lambda: app.report is not None)
        await pilot.pause()
        screens = ""
        for row in list(app.checklist.rows.values()):
            for finding in (None, *range(len(row.findings))):
                app.checks.select(Selection(row.id, finding))
                await pilot.pause()
                text = screen_text(app)
                assert_clean(text, f"TUI ({source}), {row.id} finding {finding}")
                screens += text
                await pilot.press("c")  # copy the fix, if any: the clipboard stays clean
                assert_clean(app.clipboard, "the clipboard")
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
    flat = re.sub(r"[\s│┃║▌▐]", "", screens)
    assert "[boldred]MARKUP[/boldred]" in flat  # shown as text, not read as markup
    assert "\\x1b[2J" in screens or "\\u202e" in screens  # the server's escapes, escaped
    (written,) = list(tmp_path.glob("wsdoctor-*.json"))  # noqa: ASYNC240 (the test's files)
    assert_clean(written.read_text(encoding="utf-8"), "the TUI's saved report")


async def test_exporter_endpoints_and_log_keep_secrets_and_escapes_out(tmp_path: Path) -> None:
    """Given a scheduled target on the echoing server whose headers come from the
    environment, the exporter's /reports, /reports/NAME, /probe (metrics and debug JSON),
    /metrics, a 400 for a URL with a password and its log hold no secret and no raw escape."""
    server = await start_echoing(upgrade=True)
    environ = {"TOKEN": TOKEN, "API_KEY": API_KEY, "COOKIE": COOKIE}
    config = write_config(tmp_path, f"""\
        interval: 60s
        jitter: 0
        targets:
          - name: echo
            url: {server.url()}
            headers:
              Authorization: Bearer ${{TOKEN}}
              X-Api-Key: ${{API_KEY}}
              Cookie: session=${{COOKIE}}
        """)
    log = io.StringIO()
    try:
        async with running_exporter(config, environ, log) as ex:
            state = ex.exporter.scheduler.targets["echo"]
            await wait_for(lambda: state.report is not None, timeout=20)
            bodies = {path: await ex.get(path) for path in (
                "/reports", "/reports/echo", "/metrics",
                f"/probe?target={server.url()}&module=quick",
                f"/probe?target={server.url()}&module=quick&debug=true",
                f"/probe?target=ws://alice:{PASSWORD}@127.0.0.1:1/&module=quick",
                "/probe?target=ws://[::1]]:80/%1b[2J&module=quick")}
    finally:
        await server.stop()
    for path, (status, body) in bodies.items():
        assert_clean(body, f"GET {path} ({status})")
    assert bodies[f"/probe?target=ws://alice:{PASSWORD}@127.0.0.1:1/&module=quick"][0] == 400
    assert "<redacted>" in bodies["/reports/echo"][1]
    assert_clean(log.getvalue(), "the exporter's log")
    assert "target echo: probe fails (" in log.getvalue()


def test_a_url_password_is_refused_without_printing_it(tmp_path: Path) -> None:
    """A target or a configured URL with a password is refused in one line that masks it."""
    cli = run_cli(f"ws://alice:{PASSWORD}@127.0.0.1:1/ws")
    config = write_config(tmp_path, f"""\
        targets:
          - name: t
            url: wss://alice:{PASSWORD}@ws.example.com/ws
        """)
    checked = run_cli("probe", "--config", str(config), "--check-config")
    for result in (cli, checked):
        assert result.status == 2
        assert result.stderr.count("\n") == 1
        assert_clean(result.stderr, "the error line")
    assert "credentials in the URL" in cli.stderr and "<redacted>@127.0.0.1" in cli.stderr


def test_non_ascii_paths_are_sent_percent_encoded(echoing: EchoingServer) -> None:
    """A non-ASCII path and query reach the server percent-encoded: no check crashes."""
    result = run_cli(echoing.url("/café?q=über"), "--format", "json", "--timeout", "2")
    report = Report.model_validate_json(result.stdout)
    assert report.target.path == "/caf%C3%A9?q=%C3%BCber"
    assert [c.id for c in report.checks if c.status == "error"] == []


def test_a_pushgateway_echoing_its_credentials_is_quoted_without_them(lab_loop: LabLoop) -> None:
    """--pushgateway with user:password to a gateway that refuses with the Basic credential it
    got in its reason phrase (and escapes): the error line masks the URL and the echo."""
    gateway = lab_loop.run(start_echoing(upgrade=False))
    try:
        result = run_cli("ws://127.0.0.1:1/", "--no-kubernetes", "--timeout", "1", "--format",
                         "json", "--pushgateway",
                         f"http://alice:{PASSWORD}@127.0.0.1:{gateway.port}")
    finally:
        lab_loop.run(gateway.stop())
    assert result.status == 3 and result.stderr.count("\n") == 1, result.stderr
    assert_clean(result.stderr, "the push error line")
    assert "401: Unauthorized Basic <redacted>" in result.stderr  # the echo was there
