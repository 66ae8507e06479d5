"""`wsdoctor probe` as a real process: SIGHUP with a broken file keeps the old configuration
and says why on stderr; SIGTERM stops it cleanly with exit 0."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from tests.exporter_support import parse_exposition, value, write_config
from wsdoctor.lab.listeners import closed_port
from wsdoctor.lab.proxies import free_port

CONFIG = """\
interval: 0.2s
modules:
  tcp: {checks: [tcp], time_limit: 2s, settings: {timeout: 1}}
targets:
  - name: one
    url: ws://127.0.0.1:%d/
    module: tcp
"""


def scrape(port: int) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return parse_exposition(response.read().decode())


def test_sighup_with_a_broken_file_keeps_the_old_configuration(tmp_path: Path) -> None:
    """After SIGHUP with a broken file, stderr names file, line and key, the old target keeps
    being served and reload_successful drops to 0; a fixed file is then taken."""
    config = write_config(tmp_path, CONFIG % closed_port())
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsdoctor", "probe", "-c", str(config), "--listen",
         f"127.0.0.1:{port}"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr or []],
                     daemon=True).start()

    def expect(fragment: str) -> str:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if fragment in line:
                return line
        raise AssertionError(f"no stderr line with {fragment!r}")

    try:
        expect("listening on 127.0.0.1:")
        expect("target one: probe fails (WSD-TCP-REFUSED: Connection refused")
        assert value(scrape(port), "probe_success", target="one", module="tcp") == 0.0
        config.write_text(config.read_text().replace("module: tcp", "module: tpc"))
        proc.send_signal(signal.SIGHUP)
        line = expect("reload failed")
        assert line == (f"wsdoctor probe: reload failed, still running the previous "
                        f"configuration: {config}:7: targets[0].module: unknown module 'tpc' "
                        "(known: full, quick, tcp, watch; blackbox names: http_2xx (quick), "
                        "tcp_connect (tcp))\n")
        samples = scrape(port)
        assert value(samples, "wsdoctor_exporter_config_last_reload_successful") == 0.0
        assert value(samples, "probe_success", target="one", module="tcp") == 0.0
        config.write_text(config.read_text().replace("module: tpc", "module: tcp")
                          .replace("name: one", "name: two"))
        proc.send_signal(signal.SIGHUP)
        expect("reloaded")
        time.sleep(0.5)
        samples = scrape(port)
        assert value(samples, "wsdoctor_exporter_config_last_reload_successful") == 1.0
        assert value(samples, "probe_success", target="two", module="tcp") == 0.0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
