"""Helpers shared by the tests: running the CLI in-process, pinning lab addresses."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from wsdoctor.cli import Environment, main

LAB_HOST = "ws.lab.test"


@dataclass
class CliResult:
    """What one run of ``wsdoctor`` printed and returned."""

    status: int
    stdout: str
    stderr: str


def run_cli(*argv: str, environ: dict[str, str] | None = None) -> CliResult:
    """Run ``wsdoctor ARGV`` in-process with captured output (stdout is not a terminal)."""
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdout=out, stderr=err, environ=environ or {}, stdout_isatty=False)
    status = main(list(argv), env)
    return CliResult(int(status), out.getvalue(), err.getvalue())


def pinned_args(port: int, lab_ca_file: Path | None = None, host: str = LAB_HOST,
                address: str = "127.0.0.1") -> list[str]:
    """CLI arguments that pin ``host:port`` to a loopback address and trust the lab CA."""
    args = ["--resolve", f"{host}:{port}:{address}"]
    if lab_ca_file is not None:
        args += ["--cacert", str(lab_ca_file)]
    return args
