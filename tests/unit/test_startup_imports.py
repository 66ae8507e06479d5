"""Start-up cost: each command imports only the heavy libraries its run needs. A failure names
the chain of imports that pulled the library in, so the fix (import it where it is used) is
obvious. Timings live in bench/startup_and_diagnosis.py; this test pins what is imported."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

#: Libraries that cost tens of milliseconds (or more) to import.
HEAVY = frozenset({
    "aiohttp", "cryptography", "dns", "h2", "kubernetes", "prometheus_client", "pydantic",
    "rich", "scapy", "textual", "websockets", "yaml",
})

MANIFEST = """\
apiVersion: v1
kind: Service
metadata: {name: chat, namespace: chat}
spec:
  selector: {app: chat}
  ports: [{name: http, port: 80, targetPort: 8080}]
"""


#: Runs in the child: records, for the first import of each heavy library, the stack of
#: wsdoctor frames that asked for it (module bodies and functions alike), innermost first.
SPY = """\
import atexit, json, sys, traceback
HEAVY = set(sys.argv.pop(1).split(","))
seen = {}
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name in HEAVY and name not in seen:
            frames = [f for f in traceback.extract_stack()[:-1]
                      if "wsdoctor" in f.filename and "importlib" not in f.filename]
            seen[name] = [f"{f.filename.rsplit('wsdoctor/', 1)[-1]}:{f.lineno} ({f.name})"
                          for f in reversed(frames)]
        return None
sys.meta_path.insert(0, Spy())
atexit.register(lambda: print("HEAVY-IMPORTS " + json.dumps(seen), file=sys.stderr))
from wsdoctor.cli import main
sys.exit(int(main(sys.argv[1:])))
"""


def heavy_imports(argv: list[str], tmp_path: Path,
                  watched: frozenset[str] = HEAVY) -> tuple[int, dict[str, str]]:
    """Run ``wsdoctor ARGV`` in a fresh interpreter; its exit status and, for each heavy
    library (or ``watched`` module) it imported, the chain ``lib <- file:line (function) <- ...``
    that pulled it in."""
    environ = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    environ["HOME"] = str(tmp_path)  # no ~/.kube/config: the cluster check skips
    proc = subprocess.run([sys.executable, "-c", SPY, ",".join(sorted(watched)), *argv],
                          capture_output=True, text=True, env=environ, timeout=60,
                          stdin=subprocess.DEVNULL)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("HEAVY-IMPORTS "))
    seen: dict[str, list[str]] = json.loads(line.removeprefix("HEAVY-IMPORTS "))
    return proc.returncode, {lib: " <- ".join([lib, *frames]) for lib, frames in seen.items()}


def saved_report(tmp_path: Path) -> Path:
    """A real report of a refused connection, saved as JSON."""
    path = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "wsdoctor", "ws://127.0.0.1:1/", "--format",
                           "json", "--no-kubernetes", "-o", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert json.loads(path.read_text())["target"]["url"] == "ws://127.0.0.1:1/", proc.stderr
    return path


CASES = {
    # name: (argv, heavy libraries that path may import, exit statuses it may end with)
    "--help": (["--help"], set(), {0}),
    "--version": (["--version"], set(), {0}),
    "lint --help": (["lint", "--help"], set(), {0}),
    "probe --help": (["probe", "--help"], set(), {0}),
    "show --help": (["show", "--help"], set(), {0}),
    "watch --help": (["watch", "--help"], set(), {0}),
    "bisect --help": (["bisect", "--help"], set(), {0}),
    "load --help": (["load", "--help"], set(), {0}),
    "explain": (["explain", "wsd-tls-expired"], set(), {0}),
    "explain unknown": (["explain", "WSD-TLS-EXPRED"], set(), {2}),
    "lint": (["lint", "MANIFEST"], {"yaml"}, {0, 1}),
    "show": (["show", "REPORT", "--format", "text"], {"pydantic", "websockets"}, {1}),
    "diagnose ws:// text": (["ws://127.0.0.1:1/", "--format", "text"], {"websockets"}, {1}),
    "diagnose ws:// json": (["ws://127.0.0.1:1/", "--format", "json"], {"websockets"}, {1}),
    "load ws:// text": (["load", "ws://127.0.0.1:1/", "-c", "2", "--hold", "0",
                         "--steady-refusals", "0", "--no-kubernetes", "--format", "text"],
                        {"websockets"}, {1}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_path_imports_only_what_it_uses(case: str, tmp_path: Path) -> None:
    """Given a command, when it runs, it imports no heavy library beyond those it needs
    (no pydantic for a run or a lint: it reads outside data only; no cryptography for ws://,
    no kubernetes without a kubeconfig, no renderer it does not use, nothing at all for
    --help and explain)."""
    argv, allowed, statuses = CASES[case]
    manifest = tmp_path / "chat.yaml"
    manifest.write_text(MANIFEST)
    replace = {"MANIFEST": str(manifest)}
    if "REPORT" in argv:
        replace["REPORT"] = str(saved_report(tmp_path))
    status, chains = heavy_imports([replace.get(a, a) for a in argv], tmp_path)
    assert status in statuses, f"wsdoctor {' '.join(argv)} exited {status}"
    extra = {lib: chain for lib, chain in chains.items() if lib not in allowed}
    assert not extra, f"wsdoctor {' '.join(argv)} imports what it does not use; import it " \
        "where it is used:\n" + "\n".join(f"  {chain}" for chain in extra.values())


#: wsdoctor's own modules a default diagnosis without a cluster does not use: the checks it does
#: not run (their observation types are imported only to read a saved report), the cluster's
#: client, observation and rules (nothing read, nothing to judge without a kubeconfig), the
#: fixes that name cluster objects, the watch, the other reports' renderers, and the check of
#: a certificate's self-signature (no certificate on a ws:// run).
UNUSED_BY_A_DIAGNOSIS = frozenset({
    "wsdoctor.checks.load", "wsdoctor.load.engine", "wsdoctor.load.model",
    "wsdoctor.checks.idle", "wsdoctor.checks.keepalive", "wsdoctor.checks.capture",
    "wsdoctor.checks.hops", "wsdoctor.checks.hops_model", "wsdoctor.report_union",
    "wsdoctor.checks.cluster_rules", "wsdoctor.kube.rules", "wsdoctor.kube.affinity",
    "wsdoctor.kube.timeouts", "wsdoctor.kube.observation", "wsdoctor.kube.snapshot",
    "wsdoctor.watch.model", "wsdoctor.reports.markdown", "wsdoctor.kube.client",
    "wsdoctor.kube.serving", "wsdoctor.x509lite", "wsdoctor.selfsig",
})


def test_a_diagnosis_imports_only_the_checks_it_runs(tmp_path: Path) -> None:
    """Given a default diagnosis (JSON) without a kubeconfig, when it runs, none of the modules
    of checks it does not run, of the cluster rules or of the other reports is imported; a
    saved report read back does import every observation type (the control: the spy sees
    them when they are imported)."""
    status, chains = heavy_imports(["ws://127.0.0.1:1/", "--format", "json"], tmp_path,
                                   UNUSED_BY_A_DIAGNOSIS)
    assert status == 1
    assert not chains, "a diagnosis imports modules it does not use:\n" + "\n".join(
        f"  {chain}" for chain in chains.values())
    _, chains = heavy_imports(["show", str(saved_report(tmp_path)), "--format", "json"],
                              tmp_path, UNUSED_BY_A_DIAGNOSIS)
    assert {"wsdoctor.report_union", "wsdoctor.load.model", "wsdoctor.watch.model"} <= set(chains)


def test_the_chain_names_the_importer(tmp_path: Path) -> None:
    """The chain of a library that is imported names the wsdoctor code that pulled it in,
    down to the function of a lazy import (so a failure above says where to look)."""
    _, chains = heavy_imports(["lint", "--help"], tmp_path)
    assert chains == {}
    manifest = tmp_path / "chat.yaml"
    manifest.write_text(MANIFEST)
    _, chains = heavy_imports(["lint", str(manifest)], tmp_path)
    assert chains["yaml"].startswith("yaml <- kube/yamlload.py:"), chains
    assert chains["yaml"].endswith("cli.py:" + chains["yaml"].rsplit("cli.py:", 1)[1])
    assert "(lint_command)" in chains["yaml"]


@pytest.fixture
def http11_tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A TLS server on loopback that chooses http/1.1 in ALPN and answers every request with
    a 404 (a WebSocket server without HTTP/2, as most are); its port and its CA file."""
    ca = trustme.CA()
    cert = ca.issue_cert("h1.example")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    context.set_alpn_protocols(["http/1.1"])
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(raw, server_side=True) as conn:
                    conn.settimeout(2)
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], ca_file
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_a_server_without_http2_costs_no_h2_import(
    http11_tls_server: tuple[int, Path], tmp_path: Path
) -> None:
    """Given a TLS server that chooses http/1.1 in ALPN, when a whole diagnosis runs, the
    http2 check learns that from the TLS handshake alone and the h2 library is not imported."""
    port, ca_file = http11_tls_server
    status, chains = heavy_imports(
        [f"wss://h1.example:{port}/ws", "--resolve", f"h1.example:{port}:127.0.0.1",
         "--cacert", str(ca_file), "--format", "json"], tmp_path)
    assert status == 1  # the 404 refuses the upgrade
    assert "h2" not in chains, chains["h2"]


def test_a_verified_chain_is_read_without_cryptography(
    http11_tls_server: tuple[int, Path], tmp_path: Path
) -> None:
    """Given a wss:// server whose chain verifies (--cacert), when a whole diagnosis runs, its
    certificates are described (names, key, expiry) without importing cryptography; without
    --cacert the chain fails verification and cryptography reads it (the control: the spy
    sees cryptography when it is imported)."""
    port, ca_file = http11_tls_server
    target = [f"wss://h1.example:{port}/ws", "--resolve", f"h1.example:{port}:127.0.0.1",
              "--format", "json"]
    report = tmp_path / "report.json"
    status, chains = heavy_imports([*target, "--cacert", str(ca_file), "-o", str(report)],
                                   tmp_path)
    assert status == 1  # the 404 refuses the upgrade
    assert "cryptography" not in chains, chains["cryptography"]
    tls = next(c for c in json.loads(report.read_text())["checks"] if c["id"] == "tls")
    attempt = tls["observation"]["attempts"][0]
    assert attempt["verified"] is True
    assert attempt["chain"][0]["sans"] == ["h1.example"]
    assert attempt["chain"][0]["key_type"] in ("RSA", "EC")
    _, chains = heavy_imports([*target, "-o", str(report)], tmp_path)
    assert "cryptography" in chains
    attempt = next(c for c in json.loads(report.read_text())["checks"]
                   if c["id"] == "tls")["observation"]["attempts"][0]
    assert attempt["verified"] is False and attempt["chain"][0]["sans"] == ["h1.example"]


def test_product_records_do_not_use_the_stdlib_dataclass_decorator() -> None:
    """Python 3.11's ``dataclasses.dataclass`` execs five or six generated methods a class
    (~0.5 ms each class, ~20 ms for what a diagnosis imports): the product's records use
    ``wsdoctor.records.dataclass`` and its models ``wsdoctor.modelbase.Model`` instead (the lab,
    which runs servers for tests and the demo, may use the stdlib's)."""
    root = Path(__file__).resolve().parents[2] / "wsdoctor"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if "lab" in path.relative_to(root).parts or path.name in ("records.py", "modelbase.py"):
            continue
        text = path.read_text()
        if "from dataclasses import dataclass" in text or "@dataclasses.dataclass" in text:
            offenders.append(str(path.relative_to(root)))
    assert len(list(root.rglob("*.py"))) > 100  # the walk found the package
    assert not offenders, f"use wsdoctor.records.dataclass in: {', '.join(offenders)}"
