"""The rough edges a new user hit (issue 13): unknown or lower-case --suppress codes, exit
statuses under `set -o pipefail`, an unwritable -o found before the run, compound durations
wherever durations are documented."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli as run_cli_result
from wsdoctor.exit import ExitStatus


def run_cli(*argv: str) -> tuple[int, str, str]:
    """Status, stdout and stderr of ``wsdoctor ARGV`` run in-process."""
    result = run_cli_result(*argv)
    return result.status, result.stdout, result.stderr

INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: chat{index}
  namespace: chat
  annotations:
    nginx.ingress.kubernetes.io/proxy-read-timeout: "60"
spec:
  ingressClassName: nginx
  rules:
    - host: chat{index}.example.com
      http:
        paths:
          - path: /ws
            pathType: Prefix
            backend: {{service: {{name: chat, port: {{number: 80}}}}}}
"""


def manifests(tmp_path: Path, count: int) -> Path:
    """``count`` Ingresses whose 60 s timeouts are each a warning (two per Ingress)."""
    path = tmp_path / "ingresses.yaml"
    path.write_text("---\n".join(INGRESS.format(index=i) for i in range(count)))
    return path


def warnings_and_failures(out: str) -> set[str]:
    """The codes of a lint JSON report's warn/fail findings (info notes, such as a Service
    that is not in the input, are not verdicts)."""
    return {f["finding"]["code"] for f in json.loads(out)["findings"]
            if f["finding"]["status"] in ("warn", "fail")}


def test_suppress_refuses_an_unknown_code_with_the_nearest(tmp_path: Path) -> None:
    """A mistyped --suppress is one usage line naming the code meant, for a diagnosis and for
    lint alike (a silently ignored suppression hides nothing and misleads)."""
    status, out, err = run_cli("ws://127.0.0.1:1/", "--suppress", "WSD-TCP-REFUSD")
    assert status == ExitStatus.USAGE and out == ""
    assert err.count("\n") == 1 and "'WSD-TCP-REFUSD'" in err and "WSD-TCP-REFUSED" in err
    status, _, err = run_cli("lint", str(manifests(tmp_path, 1)), "--suppress", "nginx-timeout")
    assert status == ExitStatus.USAGE and "WSD-NGINX-TIMEOUT-SHORT" in err


def test_suppress_is_case_insensitive_like_explain(tmp_path: Path) -> None:
    """`--suppress wsd-tcp-refused` suppresses WSD-TCP-REFUSED (explain takes any case too)."""
    status, out, _ = run_cli("ws://127.0.0.1:1/", "--format", "json", "--no-kubernetes")
    assert "WSD-TCP-REFUSED" in {f["code"] for f in json.loads(out)["findings"]}
    status, out, _ = run_cli("ws://127.0.0.1:1/", "--format", "json", "--no-kubernetes",
                             "--suppress", "wsd-tcp-refused")
    report = json.loads(out)
    assert "WSD-TCP-REFUSED" not in {f["code"] for f in report["findings"]}
    assert report["options"]["suppress"] == ["WSD-TCP-REFUSED"]
    path = manifests(tmp_path, 1)
    status, out, _ = run_cli("lint", str(path), "--format", "json")
    assert warnings_and_failures(out) == {"WSD-NGINX-TIMEOUT-SHORT"}
    status, out, _ = run_cli("lint", str(path), "--format", "json",
                             "--suppress", "wsd-nginx-timeout-short")
    assert status == ExitStatus.OK and warnings_and_failures(out) == set()


def pipeline(command: list[str], reader: str) -> int:
    """The status of ``command | reader`` in bash with ``set -o pipefail``."""
    bash = shutil.which("bash")
    assert bash is not None
    line = " ".join(f"'{a}'" for a in command) + f" | {reader} >/dev/null"
    environ = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run([bash, "-c", f"set -o pipefail; {line}"], env=environ,
                          timeout=60, check=False).returncode


@pytest.mark.parametrize(("fail_on", "expected"), [("fail", 0), ("warn", 1)])
def test_lint_into_head_keeps_lint_s_verdict(tmp_path: Path, fail_on: str,
                                             expected: int) -> None:
    """`wsdoctor lint ... | head -n 1` under pipefail exits with lint's verdict (0 clean, 1
    findings), not 3: a reader that stops early is not a failure to run. The report is far
    larger than a pipe's buffer, so the early exit of head really breaks the pipe."""
    path = manifests(tmp_path, 150)
    wsdoctor = [sys.executable, "-m", "wsdoctor", "lint", str(path), "--fail-on", fail_on]
    assert len(subprocess.run(wsdoctor, capture_output=True, check=False).stdout) > 200_000
    assert pipeline(wsdoctor, "head -n 1") == expected


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_diagnosis_into_head_keeps_the_verdict(fmt: str) -> None:
    """A diagnosis piped into `head -c 1` exits 1 for the refused connection it found, with
    the report streamed (text) or written at the end (json)."""
    wsdoctor = [sys.executable, "-m", "wsdoctor", "ws://127.0.0.1:1/", "--format", fmt,
                "--no-kubernetes"]
    assert pipeline(wsdoctor, "head -c 1") == ExitStatus.FINDINGS


def test_lint_checks_output_before_reading_manifests(tmp_path: Path) -> None:
    """`lint -o` into a missing directory is reported first, in one line, exit 3 (the
    manifest named does not even exist: nothing was read)."""
    status, out, err = run_cli("lint", str(tmp_path / "absent.yaml"),
                               "-o", str(tmp_path / "no-dir" / "report.sarif"))
    assert status == ExitStatus.CANNOT_RUN and out == ""
    assert err.count("\n") == 1 and "cannot write" in err and "No such file" in err


def test_demo_checks_output_before_starting_the_deployment(tmp_path: Path) -> None:
    """`demo -o` into a read-only place is reported before nginx and the replicas start."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        status, out, err = run_cli("demo", "-o", str(tmp_path / "no-dir" / "r.json"))
        assert status == ExitStatus.CANNOT_RUN and out == ""
        assert err.count("\n") == 1 and "cannot write the report" in err
        status, _, err = run_cli("demo", "-o", str(locked))
        assert status == ExitStatus.CANNOT_RUN and "it is a directory" in err
    finally:
        locked.chmod(0o700)


def test_demo_bisect_refuses_a_proxy_it_would_not_use() -> None:
    """`demo --bisect ... --proxy traefik` is refused in one line (the chain's controller is
    nginx): it ran the nginx chain and said nothing of --proxy."""
    status, out, err = run_cli("demo", "--bisect", "none", "--proxy", "traefik")
    assert status == ExitStatus.USAGE and out == ""
    assert err.count("\n") == 1 and "--proxy" in err and "--bisect" in err


@pytest.mark.parametrize(
    ("argv", "key", "seconds"),
    [
        (["--timeout", "1h30m"], "timeout", 5400.0),
        (["--timeout", "1m30s"], "timeout", 90.0),
        (["--idle-max", "2min"], "idle_max", 120.0),
        (["--expect-idle", "1.5h"], "expect_idle", 5400.0),
        (["--ping-interval", "500ms"], "ping_interval", 0.5),
    ],
)
def test_compound_durations_on_the_command_line(argv: list[str], key: str,
                                                seconds: float) -> None:
    """Durations take units and combine them as the exporter's file does (`1h30m`)."""
    from wsdoctor.commands.options import build_parser, settings_from_args

    settings = settings_from_args(build_parser().parse_args(["example.com", *argv]))
    assert getattr(settings, key) == seconds


@pytest.mark.parametrize("text", ["1h30", "h", "1d", "-5m", "0s", "1h-30m", "nan"])
def test_malformed_durations_are_one_usage_line(text: str) -> None:
    """A malformed or non-positive duration is one usage line naming the accepted forms."""
    status, out, err = run_cli("ws://127.0.0.1:1/", "--timeout", text)
    assert status == ExitStatus.USAGE and out == ""
    assert err.count("\n") == 1 and "--timeout" in err


def test_lint_expect_idle_takes_durations(tmp_path: Path) -> None:
    """`lint --expect-idle 45s` flags nothing under a 60 s timeout; `1h30m` flags it."""
    path = manifests(tmp_path, 1)
    status, out, _ = run_cli("lint", str(path), "--format", "json", "--expect-idle", "45s")
    assert warnings_and_failures(out) == set()
    status, out, _ = run_cli("lint", str(path), "--format", "json", "--expect-idle", "1h30m")
    assert warnings_and_failures(out) == {"WSD-NGINX-TIMEOUT-SHORT"}
    status, _, err = run_cli("lint", str(path), "--expect-idle", "soon")
    assert status == ExitStatus.USAGE and "--expect-idle" in err
