"""The small commands: ``explain`` (a finding's page) and ``probe`` (the Prometheus exporter,
whose own module parses its options)."""

from __future__ import annotations

from collections.abc import Sequence

from wsdoctor.console import Environment, Parser, UsageError
from wsdoctor.exit import ExitStatus


def explain_command(argv: Sequence[str], env: Environment) -> ExitStatus:
    """``wsdoctor explain CODE``: print the documentation page of a finding code."""
    parser = Parser(
        prog="wsdoctor explain", description="Print the documentation page of a finding code."
    )
    parser.add_argument("code", metavar="CODE", help="e.g. WSD-TLS-EXPIRED (case-insensitive)")
    args = parser.parse_args(list(argv))
    from wsdoctor.docs import DocsError, explain

    try:
        env.stdout.write(explain(args.code))
    except DocsError as exc:
        raise UsageError(str(exc)) from None
    return ExitStatus.OK


def probe_command(argv: Sequence[str], env: Environment) -> ExitStatus:
    """``wsdoctor probe``: the scheduled health probe (Prometheus exporter)."""
    from wsdoctor.exporter.command import probe_main

    return probe_main(argv, env)
