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
    parser.add_argument("code", metavar="CODE", nargs="?",
                        help="e.g. WSD-TLS-EXPIRED (case-insensitive)")
    parser.add_argument("--list", action="store_true", help="print every code with its title")
    args = parser.parse_args(list(argv))
    if args.list == (args.code is not None):
        raise UsageError("give a CODE, or --list for every code")
    from wsdoctor.docs import DocsError, code_list, explain

    try:
        env.stdout.write(code_list() if args.list else explain(args.code))
    except DocsError as exc:
        raise UsageError(str(exc)) from None
    return ExitStatus.OK


def probe_command(argv: Sequence[str], env: Environment) -> ExitStatus:
    """``wsdoctor probe``: the scheduled health probe (Prometheus exporter)."""
    from wsdoctor.exporter.command import probe_main

    return probe_main(argv, env)
