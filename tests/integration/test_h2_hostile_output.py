"""The hostile-output promises on the HTTP/2 path (RFC 8441, the ``http2`` check): a server
that negotiates h2, advertises extended CONNECT and answers it by echoing the request's
``authorization``, ``cookie`` and ``-H`` values with terminal escapes (OSC 8 hyperlinks, CSI,
C1, bidi overrides, BEL) in its response headers, a 403's body, WebSocket messages and close
reason, GOAWAY debug data, a RST_STREAM with an unknown code, or a header value the h2 library
refuses (its error quotes the value): no secret and no raw escape reaches any output.

Outputs: --format json (stdout and -o), text, markdown, junit, --short, ``show`` of the saved
report, and the exporter's /reports/NAME, /metrics and /probe (metrics and debug JSON).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.exporter_support import running_exporter, wait_for, write_config
from tests.helpers import LAB_HOST, pinned_args, run_cli
from tests.hostile_support import Secrets
from wsdoctor.lab.backend import LabLoop
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.echoing_h2 import H2EchoingServer, H2Hostility, start_h2_echoing

TOKEN = "tok-Hq7vN2xYp4Lw9Kd3"
COOKIE = "sid-Rb5Cd1Ef3Gh8Ij6K"
API_KEY = "key-Pn4Js8Ua2Ye6Wo0G"
TENANT = "ten-Mx2Wq8Zr5Tc1Vb7"
HEADERS = [("Authorization", f"Bearer {TOKEN}"), ("Cookie", f"s={COOKIE}"),
           ("X-Api-Key", API_KEY), ("X-Tenant", TENANT)]
SECRETS = Secrets(TOKEN, COOKIE, API_KEY, TENANT, echoed=tuple(v for _, v in HEADERS))
#: What each variant's own content shows in the JSON report (the server did send it, and
#: wsdoctor did record it, escaped and redacted).
SEEN = {
    H2Hostility.ACCEPT: ["<redacted> \\\\x1b[2J", "\\\\x9b31m\\\\u202eevil"],
    H2Hostility.REFUSE: ["(server: nginx \\u001b[2J", "\\u001b]8;;http://evil.test/",
                         "body: '\\u001b[2J",
                         # UTF-8 header values read as such: U+202E is one character
                         "\\u009b31m\\u0085\\u202eevil\\u202c\\u2066x"],
    H2Hostility.RESET: ["a reset (0x1b5b3264)"],
    H2Hostility.GOAWAY: ["GOAWAY ENHANCE_YOUR_CALM, debug data: 'denied", "<redacted>"],
    H2Hostility.BAD_HEADER: ["Illegal character '\\u0000' in header value", "<redacted>"],
}


@pytest.fixture(params=list(H2Hostility))
def h2_echoing(request: pytest.FixtureRequest, lab_loop: LabLoop, lab_ca: LabCA
               ) -> Iterator[H2EchoingServer]:
    server = lab_loop.run(start_h2_echoing(lab_ca.issue([LAB_HOST]), request.param))
    yield server
    lab_loop.run(server.stop())


def _args(server: H2EchoingServer, ca_file: Path) -> list[str]:
    args = [f"wss://{LAB_HOST}:{server.port}/ws", *pinned_args(server.port, ca_file),
            "--no-kubernetes", "--only", "handshake,http2", "--timeout", "1",
            "--send", "hello", "--expect", "^never$"]
    for name, value in HEADERS:
        args += ["-H", f"{name}: {value}"]
    return args


def test_every_format_keeps_the_h2_servers_secrets_and_escapes_out(
    h2_echoing: H2EchoingServer, lab_ca_file: Path, tmp_path: Path
) -> None:
    """Given the HTTP/2 echoing server in each variant, when every format is produced live
    and again with ``show``, then none holds a secret or a raw escape, JSON and JUnit parse,
    and the variant's hostile content is in the report (escaped, redacted)."""
    saved = tmp_path / "report.json"
    outputs: dict[str, str] = {}
    for name, extra in (("json", ["--format", "json", "-o", str(saved)]),
                        ("text", ["--format", "text"]), ("markdown", ["--format", "markdown"]),
                        ("junit", ["--format", "junit"]), ("short", ["--short"])):
        result = run_cli(*_args(h2_echoing, lab_ca_file), *extra)
        assert result.status in (0, 1) and result.stderr == "", result.stderr
        outputs[name] = result.stdout
    outputs["-o"] = saved.read_text(encoding="utf-8")
    for fmt in ("text", "markdown", "junit"):
        outputs[f"show {fmt}"] = run_cli("show", str(saved), "--format", fmt).stdout
    for where, text in outputs.items():
        SECRETS.assert_clean(text, where)
    for where in ("junit", "show junit"):
        ET.fromstring(outputs[where].encode("utf-8"))  # well-formed XML
    report = json.loads(outputs["json"])
    (http2,) = [c for c in report["checks"] if c["id"] == "http2"]
    assert http2["observation"]["attempts"][0]["alpn"] == "h2", http2
    # The test can fail: the variant's echoes and escapes reached the report.
    for seen in SEEN[h2_echoing.hostility]:
        assert seen in outputs["json"], (seen, json.dumps(http2, indent=1))
    if h2_echoing.hostility not in (H2Hostility.ACCEPT, H2Hostility.RESET):  # a finding
        assert "\\x1b" in outputs["text"] and "\\x1b" in outputs["markdown"]


async def test_exporter_keeps_the_h2_servers_secrets_and_escapes_out(
    lab_loop: LabLoop, lab_ca: LabCA, lab_ca_file: Path, tmp_path: Path
) -> None:
    """A scheduled target on the refusing HTTP/2 server with headers from the environment:
    /reports/NAME, /metrics and /probe (metrics and debug JSON) hold no secret and no raw
    escape."""
    server = await start_h2_echoing(lab_ca.issue([LAB_HOST]), H2Hostility.REFUSE)
    url = f"wss://{LAB_HOST}:{server.port}/ws"
    config = write_config(tmp_path, f"""\
        interval: 60s
        jitter: 0
        modules:
          h2:
            checks: [handshake, http2]
            settings: {{timeout: 1, cafile: '{lab_ca_file}'}}
        targets:
          - name: h2echo
            url: {url}
            module: h2
            resolve: ['{LAB_HOST}:{server.port}:127.0.0.1']
            headers:
              Authorization: Bearer ${{TOKEN}}
              Cookie: s=${{COOKIE}}
              X-Api-Key: ${{API_KEY}}
              X-Tenant: ${{TENANT}}
        """)
    probe = f"/probe?target=wss://127.0.0.1:{server.port}/ws&hostname={LAB_HOST}&module=h2"
    try:
        async with running_exporter(config, {"TOKEN": TOKEN, "COOKIE": COOKIE,
                                             "TENANT": TENANT, "API_KEY": API_KEY}) as ex:
            state = ex.exporter.scheduler.targets["h2echo"]
            await wait_for(lambda: state.report is not None, timeout=20)
            bodies = {path: await ex.get(path) for path in (
                "/reports/h2echo", "/metrics", probe, f"{probe}&debug=true")}
    finally:
        await server.stop()
    for path, (status, body) in bodies.items():
        assert status == 200, (path, body)
        SECRETS.assert_clean(body, f"GET {path}")
    report = bodies["/reports/h2echo"][1]
    assert "WSD-HTTP2-WEBSOCKET-REFUSED" in report and "(server: nginx \\u001b[2J" in report
    assert "<redacted>" in report
