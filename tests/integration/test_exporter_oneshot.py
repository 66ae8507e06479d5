"""One-shot runs for CronJobs: --textfile (valid exposition, replaced atomically) and
--pushgateway (a real HTTP PUT to a loopback server speaking the Pushgateway API)."""

from __future__ import annotations

import base64
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.exporter_support import parse_exposition, value
from tests.helpers import run_cli
from wsdoctor.lab.listeners import closed_port


def test_textfile_is_valid_exposition_and_replaced_atomically(tmp_path: Path) -> None:
    """The file parses with prometheus_client; it is a new inode renamed over the old one
    (a hard link to the old file keeps the old content), and no temporary file is left."""
    path = tmp_path / "wsdoctor.prom"
    path.write_text("# previous run\n")
    os.link(path, tmp_path / "old-inode")
    url = f"ws://127.0.0.1:{closed_port()}/"
    result = run_cli(url, "--only", "tcp", "--textfile", str(path))
    assert result.status == 1, result.stderr
    samples = parse_exposition(path.read_text())
    assert value(samples, "probe_success", target=url) == 0.0
    assert value(samples, "wsdoctor_findings", target=url, code="WSD-TCP-REFUSED",
                 status="fail") == 1.0
    assert (tmp_path / "old-inode").read_text() == "# previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old-inode", "wsdoctor.prom"]
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_readers_never_see_a_partial_textfile(tmp_path: Path) -> None:
    """While runs rewrite the file, a reader always finds a complete exposition."""
    path = tmp_path / "wsdoctor.prom"
    url = f"ws://127.0.0.1:{closed_port()}/"
    run_cli(url, "--only", "tcp", "--textfile", str(path))
    complete = path.read_text()
    stop = threading.Event()
    seen: list[str] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(path.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(10):
            run_cli(url, "--only", "tcp", "--textfile", str(path))
    finally:
        stop.set()
        reader.join()
    assert seen
    for text in seen:
        assert text.endswith("\n") and len(text) > len(complete) // 2
        parse_exposition(text)


@pytest.mark.parametrize(("option", "value"), [("--textfile", "metrics.txt"),
                                               ("--pushgateway", "ftp://gw:9091")])
def test_metrics_options_are_checked_before_running(option: str, value: str) -> None:
    """A textfile the collector would ignore, or a Pushgateway URL that is not http(s), is a
    one-line usage error (exit 2)."""
    result = run_cli("ws://127.0.0.1:1/", option, value)
    assert result.status == 2
    assert result.stderr.startswith(f"wsdoctor: error: {option} ")
    assert result.stderr.count("\n") == 1


def test_textfile_in_a_missing_directory_exits_3(tmp_path: Path) -> None:
    """A textfile that cannot be written is one line on stderr and exit 3."""
    result = run_cli(f"ws://127.0.0.1:{closed_port()}/", "--only", "tcp", "--textfile",
                     str(tmp_path / "nope" / "x.prom"))
    assert result.status == 3
    assert result.stderr.startswith("wsdoctor: cannot write metrics to ")
    assert result.stderr.count("\n") == 1


class _Pushgateway(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str, str]] = []
    authorization: list[str | None] = []
    status = 200

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        self.received.append(("PUT", self.path, body))
        self.authorization.append(self.headers.get("Authorization"))
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pushgateway() -> Iterator[tuple[str, type[_Pushgateway]]]:
    """A loopback HTTP server answering the Pushgateway's PUT /metrics/job/... API."""
    handler = type("Handler", (_Pushgateway,), {"received": [], "authorization": [],
                                                 "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_pushgateway_receives_the_run_grouped_by_target(
    pushgateway: tuple[str, type[_Pushgateway]],
) -> None:
    """The metrics are PUT under job wsdoctor and the target URL as grouping key."""
    url, handler = pushgateway
    target = f"ws://127.0.0.1:{closed_port()}/"
    result = run_cli(target, "--only", "tcp", "--pushgateway", url, "--push-job", "cron")
    assert result.status == 1, result.stderr
    [(method, path, body)] = handler.received
    encoded = base64.urlsafe_b64encode(target.encode()).decode()
    assert method == "PUT"
    assert path == f"/metrics/job/cron/target@base64/{encoded}"
    assert value(parse_exposition(body), "probe_success", target=target) == 0.0


def test_a_failed_push_exits_3(pushgateway: tuple[str, type[_Pushgateway]]) -> None:
    """A Pushgateway answering an error is one line on stderr and exit 3."""
    url, handler = pushgateway
    handler.status = 500
    result = run_cli(f"ws://127.0.0.1:{closed_port()}/", "--only", "tcp", "--pushgateway", url)
    assert result.status == 3
    assert result.stderr.startswith(f"wsdoctor: cannot push metrics to {url}: ")


def test_pushgateway_credentials_go_as_basic_auth_and_are_never_printed(
    pushgateway: tuple[str, type[_Pushgateway]],
) -> None:
    """user:password in the --pushgateway URL is sent as Basic auth; a failed push names the
    gateway with the credentials masked."""
    url, handler = pushgateway
    with_credentials = url.replace("http://", "http://alice:PA55%3Aword@")
    target = f"ws://127.0.0.1:{closed_port()}/"
    result = run_cli(target, "--only", "tcp", "--pushgateway", with_credentials)
    assert result.status == 1, result.stderr
    expected = base64.b64encode(b"alice:PA55:word").decode()
    assert handler.authorization == [f"Basic {expected}"]
    handler.status = 500
    failed = run_cli(target, "--only", "tcp", "--pushgateway", with_credentials)
    assert failed.status == 3 and failed.stderr.count("\n") == 1
    assert "PA55" not in failed.stderr and "<redacted>@127.0.0.1" in failed.stderr
