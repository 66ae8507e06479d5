"""Reaching a cluster as kubectl does, against the fake API: KUBECONFIG merging, token
files, exec plugins (working, missing, hanging), a socks5 proxy-url, in-cluster service
accounts; and every way of not reaching it is a visible finding (--short, --fail-on warn)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import run_cli
from wsdoctor.checks.cluster import CHECK, ClusterObservation
from wsdoctor.kube.config import load_access
from wsdoctor.kube.reader import read_cluster
from wsdoctor.lab.kubeapi import FakeKubeAPI, Rule, RunningAPI, serve
from wsdoctor.lab.socks import socks5_proxy
from wsdoctor.report import Report
from wsdoctor.settings import Settings

CLUSTER = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "cluster"
URL = "wss://chat.example.com/ws"


@pytest.fixture(scope="module")
def running() -> Iterator[RunningAPI]:
    api = FakeKubeAPI(tokens={"admin-token": (Rule(),), "exec-token": (Rule(),)})
    api.load(*sorted(CLUSTER.glob("*.yaml")))
    with serve(api) as server:
        yield server


def write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def cluster_report(*args: str, environ: dict[str, str] | None = None) -> Report:
    result = run_cli(URL, "--only", "cluster", "--format", "json", *args, environ=environ)
    assert "Traceback" not in result.stderr, result.stderr
    return Report.model_validate_json(result.stdout)


def observation(report: Report) -> ClusterObservation:
    check = report.check("cluster")
    assert check is not None and isinstance(check.observation, ClusterObservation), check
    return check.observation


def unreadable(report: Report) -> str:
    return next(f.detail for f in report.findings if f.code == "WSD-K8S-UNREADABLE")


def plugin(tmp_path: Path, name: str, body: str) -> Path:
    """An executable exec plugin written in Python."""
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return path


def test_kubeconfig_merging_first_file_wins(running: RunningAPI, tmp_path: Path) -> None:
    """KUBECONFIG=A:B: A's current-context is used (B's is ignored), and a user both files
    define is taken whole from A, as kubectl documents."""
    a = running.kubeconfig_dict(context="from-a")
    b = running.kubeconfig_dict(token="admin-token", context="from-b")
    b["users"][0]["user"] = {"token": "wrong-token"}  # same user name as A's: A's wins
    b["clusters"].append({"name": "elsewhere", "cluster": {"server": "https://127.0.0.1:1"}})
    b["contexts"][0]["context"]["cluster"] = "elsewhere"
    paths = [write(tmp_path / "a", a), write(tmp_path / "b", b)]
    environ = {"KUBECONFIG": os.pathsep.join(map(str, paths))}
    obs = observation(cluster_report(environ=environ))
    assert obs.context == "from-a" and obs.routes[0].name == "chat"
    paths.reverse()
    environ = {"KUBECONFIG": os.pathsep.join(map(str, paths))}
    report = cluster_report(environ=environ)
    assert 'context from-b' in unreadable(report) and "https://127.0.0.1:1" in unreadable(report)


def test_token_file_with_a_trailing_newline(running: RunningAPI, tmp_path: Path) -> None:
    """A tokenFile ending in a newline (echo > file) works: the token is trimmed."""
    (tmp_path / "token").write_text("admin-token\n")
    config = running.kubeconfig_dict()
    config["users"][0]["user"] = {"tokenFile": "token"}  # relative to the kubeconfig
    kubeconfig = write(tmp_path / "kc", config)
    obs = observation(cluster_report("--kubeconfig", str(kubeconfig)))
    assert obs.access_failure is None and obs.routes[0].name == "chat"


def test_exec_plugin_token_is_used(running: RunningAPI, tmp_path: Path) -> None:
    """A client-go credential plugin's ExecCredential token authenticates the requests; the
    plugin is told it is not interactive."""
    exe = plugin(
        tmp_path,
        "fake-auth-plugin",
        "import json, os\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "assert info['spec']['interactive'] is False\n"
        "print(json.dumps({'apiVersion': info['apiVersion'], 'kind': 'ExecCredential',\n"
        "                  'status': {'token': 'exec-token'}}))\n",
    )
    config = running.kubeconfig_dict()
    config["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": str(exe),
            "interactiveMode": "Never",
        }
    }
    obs = observation(cluster_report("--kubeconfig", str(write(tmp_path / "kc", config))))
    assert obs.access_failure is None and obs.routes[0].name == "chat"


def exec_kubeconfig(running: RunningAPI, tmp_path: Path, command: str, **extra: Any) -> Path:
    config = running.kubeconfig_dict()
    config["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": command,
            "args": ["get-token"],
            **extra,
        }
    }
    return write(tmp_path / "kc", config)


def wsdoctor(*args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    """The real command, in its own process (what a user sees on stdout and stderr)."""
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "wsdoctor", URL, "--only", "cluster", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HOME": "/nonexistent"},
    )
    return done, time.monotonic() - start


def test_missing_exec_plugin_is_one_line_with_its_install_hint(
    running: RunningAPI, tmp_path: Path
) -> None:
    """gke-gcloud-auth-plugin not installed: one line naming it with its installHint, nothing
    on stderr (no 'ERROR:root:'), and --fail-on warn counts it."""
    hint = "Install gke-gcloud-auth-plugin for use with kubectl by following\n  https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl"
    kubeconfig = exec_kubeconfig(
        running, tmp_path, "gke-gcloud-auth-plugin-not-installed", installHint=hint
    )
    done, _ = wsdoctor("--kubeconfig", str(kubeconfig), "--short", "--fail-on", "warn")
    assert done.stderr == ""
    assert done.returncode == 1
    line = next(x for x in done.stdout.splitlines() if "WSD-K8S-UNREADABLE" in x)
    assert "exec plugin gke-gcloud-auth-plugin-not-installed not found on PATH" in line
    assert "by following https://cloud.google.com/kubernetes-engine/docs/how-to/" in line


def test_hanging_exec_plugin_is_killed_at_the_limit_and_the_process_exits(
    running: RunningAPI, tmp_path: Path
) -> None:
    """An exec plugin that never answers (and has a child that never ends) is killed with
    its process group at the check's limit: wsdoctor exits within the limit plus 1 s,
    saying so in one line, and leaves nothing running."""
    pids = tmp_path / "pids"
    exe = plugin(
        tmp_path,
        "hanging-plugin",
        "import os, subprocess, time\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(300)\n",
    )
    limit = CHECK.time_limit(Settings(timeout=1.0))
    kubeconfig = exec_kubeconfig(running, tmp_path, str(exe))
    done, elapsed = wsdoctor(
        "--kubeconfig", str(kubeconfig), "--timeout", "1", "--format", "json", timeout=limit + 30
    )
    assert elapsed < limit + 1.0, f"took {elapsed:.1f} s for a {limit:g} s limit"
    report = Report.model_validate_json(done.stdout)
    detail = unreadable(report)
    assert "did not finish within" in detail and "killed" in detail and "\n" not in detail
    assert done.stderr == ""
    for pid in map(int, pids.read_text().split()):
        assert not running_process(pid), f"process {pid} of the plugin is still running"


def running_process(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for an init that does not reap is not running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_socks5_proxy_url_carries_the_requests(running: RunningAPI, tmp_path: Path) -> None:
    """proxy-url: socks5://... sends every request through the SOCKS proxy."""
    config = running.kubeconfig_dict()
    port = int(running.url.rsplit(":", 1)[1])
    with socks5_proxy() as (proxy, connects):
        config["clusters"][0]["cluster"]["proxy-url"] = proxy
        obs = observation(cluster_report("--kubeconfig", str(write(tmp_path / "kc", config))))
    assert obs.access_failure is None and obs.routes[0].name == "chat"
    assert connects and set(connects) == {("127.0.0.1", port)}


def test_socks5_proxy_that_refuses_is_one_clear_line(running: RunningAPI, tmp_path: Path) -> None:
    """A socks5 proxy-url nobody listens on: the finding names the proxy, in one line."""
    config = running.kubeconfig_dict()
    with socks5_proxy() as (proxy, _):
        pass  # now closed
    config["clusters"][0]["cluster"]["proxy-url"] = proxy
    report = cluster_report("--kubeconfig", str(write(tmp_path / "kc", config)))
    finding = next(f for f in report.findings if f.code == "WSD-K8S-UNREADABLE")
    assert finding.evidence["cause"] == "proxy"
    assert proxy.removeprefix("socks5://") in finding.detail and "\n" not in finding.detail


def test_in_cluster_service_account_with_lowercase_bearer(
    running: RunningAPI, tmp_path: Path
) -> None:
    """In a pod: KUBERNETES_SERVICE_HOST/PORT and the service account files; the client sends
    'bearer <token>' (lowercase, as the in-cluster loader does) and the server accepts it."""
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("admin-token")
    (account / "ca.crt").write_bytes(running.ca_pem)
    (account / "namespace").write_text("chat\n")
    host, port = running.url.removeprefix("https://").rsplit(":", 1)
    environ = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
    access = load_access(
        Settings(), environ=environ, home=tmp_path, service_account=account
    )
    try:
        assert access.api_client.configuration.api_key["BearerToken"] == "bearer admin-token"
        assert (access.context, access.default_namespace) == ("in-cluster", "chat")
        read = asyncio.run(read_cluster(access, "chat.example.com", "/ws"))
    finally:
        access.close()
    assert read.failures == [] and any(o.name == "chat" for o in read.snapshot.objects)


def test_no_kubeconfig_at_all_stays_a_quiet_skip(tmp_path: Path) -> None:
    """Nothing points at a cluster: skipped with one line, no finding, exit 0."""
    result = run_cli(URL, "--only", "cluster", "--format", "json", "--fail-on", "warn",
                     environ={"HOME": str(tmp_path)})
    report = Report.model_validate_json(result.stdout)
    check = report.check("cluster")
    assert check is not None and check.status.value == "skipped" and report.findings == []
    assert result.status == 0


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong-context", 'context "nope" (--context) not found in kubeconfig'),
        ("malformed", "not valid YAML at line"),
        ("unreachable", "cannot connect to https://127.0.0.1:1: [Errno 111] Connection refused"),
        ("bad-ca", "was rejected ("),
    ],
)
def test_asked_for_cluster_failures_are_visible(
    running: RunningAPI, tmp_path: Path, case: str, expected: str
) -> None:
    """A wrong --context, a malformed kubeconfig, an unreachable API server, a certificate
    the kubeconfig does not trust: a warning with the cause, shown by --short, counted by
    --fail-on warn (exit 1), and in the JSON."""
    config = running.kubeconfig_dict()
    args: list[str] = []
    if case == "wrong-context":
        args = ["--context", "nope"]
    elif case == "unreachable":
        config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    elif case == "bad-ca":
        del config["clusters"][0]["cluster"]["certificate-authority-data"]
    kubeconfig = write(tmp_path / "kc", config)
    if case == "malformed":
        kubeconfig.write_text("apiVersion: v1\nclusters: [\n")
    short = run_cli(URL, "--only", "cluster", "--kubeconfig", str(kubeconfig), *args,
                    "--short", "--fail-on", "warn")
    line = next(x for x in short.stdout.splitlines() if "WSD-K8S-UNREADABLE" in x)
    assert expected in line and short.status == 1 and short.stderr == ""
    report = cluster_report("--kubeconfig", str(kubeconfig), *args)
    assert expected in unreadable(report)
    assert json.loads(report.model_dump_json())["checks"][0]["status"] == "warn"


def test_client_certificate_data_authenticates_and_its_files_are_removed(
    running: RunningAPI, tmp_path: Path
) -> None:
    """client-certificate-data/client-key-data (kind, minikube, kubeadm kubeconfigs): the
    pair is written for the TLS library in a private directory that close() removes."""
    import base64

    pair = running.client_certificate("admin-token")
    config = running.kubeconfig_dict()
    config["users"][0]["user"] = {
        "client-certificate-data": base64.b64encode(pair.cert_pem).decode(),
        "client-key-data": base64.b64encode(pair.key_pem).decode(),
    }
    settings = Settings(kubeconfig=str(write(tmp_path / "kc", config)))
    access = load_access(settings)
    scratch = Path(access.scratch or "")
    try:
        assert access.credentials == "client certificate"
        assert oct(scratch.stat().st_mode & 0o777) == "0o700"
        read = asyncio.run(read_cluster(access, "chat.example.com", "/ws"))
    finally:
        access.close()
    assert read.failures == [] and any(o.name == "chat" for o in read.snapshot.objects)
    assert not scratch.exists()

