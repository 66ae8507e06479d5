"""Kubeconfigs broken in ways real ones are: an exec plugin that prints without end,
server and proxy URLs with passwords or that urllib3 cannot parse, insecure-skip-tls-verify,
client certificates TLS cannot use. Each is one visible line, never a crash, a leak or noise."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.integration.test_kube_access import (
    URL,
    cluster_report,
    exec_kubeconfig,
    observation,
    plugin,
    unreadable,
    write,
    wsdoctor,
)
from tests.integration.test_kube_access import running as running  # the fixture
from wsdoctor.lab.kubeapi import RunningAPI
from wsdoctor.report import Report


def test_exec_plugin_printing_without_end_is_cut_at_a_bound(
    running: RunningAPI, tmp_path: Path
) -> None:
    """A plugin that prints without end (a runaway loop, ``cat /dev/zero``) is killed once it
    has printed more than an ExecCredential could be, not held in memory until the limit."""
    exe = plugin(
        tmp_path, "runaway-plugin",
        "import sys\nwhile True:\n    sys.stdout.buffer.write(b'x' * 65536)\n",
    )
    kubeconfig = exec_kubeconfig(running, tmp_path, str(exe))
    done, elapsed = wsdoctor("--kubeconfig", str(kubeconfig), "--format", "json", timeout=40)
    detail = unreadable(Report.model_validate_json(done.stdout))
    assert "printed more than 1 MiB" in detail and "killed" in detail, detail
    assert elapsed < 10.0, f"cut after {elapsed:.1f} s: at the plugin's time limit, not its size"
    assert done.stderr == ""


PASSWORD = "Pr0xy-S3cret-Pw"


@pytest.mark.parametrize(
    ("field", "url", "expected"),
    [
        ("server", f"https://bob:{PASSWORD}@127.0.0.1:1", "cannot connect to https://<redacted>@"),
        ("proxy-url", f"socks5://bob:{PASSWORD}@127.0.0.1:1", "SOCKS proxy socks5://<redacted>@"),
        ("proxy-url", f"http://bob:{PASSWORD}@bad host:3128", "is not a valid URL"),
        ("proxy-url", "http://127.0.0.1:99999", "the port is not a number from 0 to 65535"),
        ("server", "https://[::1", "is not a valid URL"),
    ],
)
def test_kubeconfig_urls_never_print_their_password_nor_crash(
    running: RunningAPI, tmp_path: Path, field: str, url: str, expected: str
) -> None:
    """A server or proxy-url with credentials in it is named without them; one that urllib3
    cannot parse (a space, a bad port or bracket) is a finding with the cause, not a crashed
    check."""
    config = running.kubeconfig_dict()
    config["clusters"][0]["cluster"][field] = url
    result = run_cli(URL, "--only", "cluster", "--format", "json",
                     "--kubeconfig", str(write(tmp_path / "kc", config)))
    assert PASSWORD not in result.stdout + result.stderr
    report = Report.model_validate_json(result.stdout)
    assert expected in unreadable(report)
    check = report.check("cluster")
    assert check is not None and check.status.value == "warn", check


def test_insecure_skip_tls_verify_reads_the_cluster_quietly(
    running: RunningAPI, tmp_path: Path
) -> None:
    """insecure-skip-tls-verify: true (kind, lab clusters) reads the cluster with nothing on
    stderr, as kubectl does (urllib3 printed a two-line warning per request)."""
    config = running.kubeconfig_dict()
    cluster = config["clusters"][0]["cluster"]
    del cluster["certificate-authority-data"]
    cluster["insecure-skip-tls-verify"] = True
    done, _ = wsdoctor("--kubeconfig", str(write(tmp_path / "kc", config)), "--format", "json")
    assert done.stderr == ""
    assert observation(Report.model_validate_json(done.stdout)).routes[0].name == "chat"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("garbage", "the client certificate and key are not a PEM certificate and its key"),
        ("other-key", "the client key does not belong to the client certificate"),
        ("encrypted", "the client key is encrypted"),
    ],
)
def test_an_unusable_client_certificate_is_named_not_blamed_on_the_server(
    running: RunningAPI, tmp_path: Path, case: str, expected: str
) -> None:
    """client-certificate-data/client-key-data that TLS cannot use: the finding says what is
    wrong with them (it said 'TLS failed: PEM lib' with the fix for the server's CA)."""
    import base64

    from cryptography.hazmat.primitives import serialization

    pair = running.client_certificate("admin-token")
    cert, key = pair.cert_pem, pair.key_pem
    if case == "garbage":
        cert, key = b"junk", b"junk"
    elif case == "other-key":
        key = running.client_certificate("someone-else").key_pem
    elif case == "encrypted":
        loaded = serialization.load_pem_private_key(key, None)
        key = loaded.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.BestAvailableEncryption(b"passphrase"))
    config = running.kubeconfig_dict()
    config["users"][0]["user"] = {
        "client-certificate-data": base64.b64encode(cert).decode(),
        "client-key-data": base64.b64encode(key).decode(),
    }
    report = cluster_report("--kubeconfig", str(write(tmp_path / "kc", config)))
    finding = next(f for f in report.findings if f.code == "WSD-K8S-UNREADABLE")
    assert expected in finding.detail and finding.evidence["cause"] == "config", finding


def test_exec_args_that_are_not_a_list_are_refused_not_split_into_letters(
    running: RunningAPI, tmp_path: Path
) -> None:
    """``args: get-token`` (a string, not a list): kubectl refuses it; wsdoctor ran the plugin
    with the arguments g, e, t, -, t, o, k, e, n."""
    exe = plugin(tmp_path, "plugin", "import sys\nprint(sys.argv[1:])\nsys.exit(1)\n")
    kubeconfig = exec_kubeconfig(running, tmp_path, str(exe), args="get-token")
    detail = unreadable(cluster_report("--kubeconfig", str(kubeconfig)))
    assert "exec args must be a list, not str" in detail, detail


ENV_SECRET = "Env-Given-S3cret-Value"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib2IiLCJleHAiOjF9.c2lnbmF0dXJlLWJ5dGVz"
PRINTED_TOKEN = "k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS9leGFtcGxl"


@pytest.mark.parametrize("output", ["json", "text"])
def test_secrets_an_exec_plugin_prints_on_stderr_never_reach_the_output(
    running: RunningAPI, tmp_path: Path, output: str
) -> None:
    """A failing plugin echoes the secret it was given in its env, the token it printed on
    stdout, a JWT and a bearer credential on stderr: the finding keeps the line (what
    failed) with each of them redacted, in every output."""
    exe = plugin(
        tmp_path, "leaky-plugin",
        "import os, sys\n"
        f"print('{{\"status\": {{\"token\": \"{PRINTED_TOKEN}\"}}')\n"
        "sys.stderr.write('debug: refreshing\\n')\n"
        "sys.stderr.write(f\"error: token {os.environ['PLUGIN_TOKEN']} refused; \"\n"
        f"                 'Authorization: Bearer {JWT}; cached {PRINTED_TOKEN} expired\\n')\n"
        "sys.exit(1)\n",
    )
    kubeconfig = exec_kubeconfig(running, tmp_path, str(exe),
                                 env=[{"name": "PLUGIN_TOKEN", "value": ENV_SECRET}])
    done, _ = wsdoctor("--kubeconfig", str(kubeconfig), "--format", output, timeout=40)
    shown = done.stdout + done.stderr
    for secret in (ENV_SECRET, JWT, PRINTED_TOKEN, JWT.split(".")[1]):
        assert secret not in shown, (secret, shown)
    assert "exited with status 1" in shown and "error: token <redacted> refused" in shown
    assert "Bearer <redacted>" in shown


#: A token of no known shape (Rancher's ``kubeconfig-user-ID:KEY``): only the plugin's stdout
#: says it is one.
OPAQUE_TOKEN = "kubeconfig-user-q7x2k:m4Wz9pLr6TbN"


def test_an_opaque_token_the_plugin_printed_is_redacted_from_its_stderr(
    running: RunningAPI, tmp_path: Path
) -> None:
    """A plugin prints its ExecCredential, then fails quoting the token alone (no scheme, no
    name=, no known prefix) next to escape sequences: the line is shown without the token or
    its halves, and escaped."""
    exe = plugin(
        tmp_path, "opaque-plugin",
        "import sys\n"
        f"print('{{\"kind\": \"ExecCredential\", "
        f"\"status\": {{\"token\": \"{OPAQUE_TOKEN}\"}}}}')\n"
        f"sys.stderr.write('could not cache {OPAQUE_TOKEN} "
        "\\x1b]52;c;cHduZWQ=\\x07 for alice\\n')\n"
        "sys.exit(1)\n",
    )
    kubeconfig = exec_kubeconfig(running, tmp_path, str(exe))
    for output in ("json", "text"):
        done, _ = wsdoctor("--kubeconfig", str(kubeconfig), "--format", output, timeout=40)
        shown = done.stdout + done.stderr
        for piece in (OPAQUE_TOKEN, OPAQUE_TOKEN.partition(":")[2]):
            assert piece not in shown, (output, shown)
        assert "could not cache <redacted>" in shown and "\x1b" not in shown, shown
