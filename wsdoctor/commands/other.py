"""The small commands: ``explain`` (a finding's page), ``lint`` (cluster rules on manifests,
no network) and ``probe`` (the Prometheus exporter)."""

from __future__ import annotations

from collections.abc import Sequence

from wsdoctor.cli import Environment, Parser, UsageError
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


def lint_command(argv: Sequence[str], env: Environment) -> ExitStatus:
    """``wsdoctor lint PATH...``: the cluster rules on manifests, no network, no cluster."""
    from wsdoctor.commands.netoptions import split_list
    from wsdoctor.kube.lint import build_lint_parser, lint, render
    from wsdoctor.kube.manifests import ManifestError
    from wsdoctor.kube.rulebase import RuleOptions
    from wsdoctor.models import Status
    from wsdoctor.reports.text import can_encode

    args = build_lint_parser(Parser).parse_args(list(argv))
    if not args.expect_idle > 0:
        raise UsageError(f"--expect-idle {args.expect_idle}: must be a positive number of seconds")
    try:
        _, report = lint(
            args.paths,
            RuleOptions(expect_idle=args.expect_idle),
            env.stdin,
            set(split_list(args.suppress)),
        )
    except ManifestError as exc:
        raise UsageError(str(exc)) from None
    if args.debug:
        for lf in report.findings:
            trace = lf.finding.evidence.get("traceback")
            if lf.finding.code == "WSD-INTERNAL-RULE-ERROR" and isinstance(trace, str):
                from wsdoctor.untrusted import printable

                env.stderr.write(printable(f"wsdoctor: {lf.finding.detail}\n{trace}",
                                           multiline=True, limit=None))
    colour = env.colour(args.no_color) and not args.output
    if args.output:
        import io

        from wsdoctor.files import write_replacing

        try:
            out = io.StringIO()
            render(report, args.format, out, False, args.ascii)
            write_replacing(args.output, out.getvalue().encode("utf-8"))
        except OSError as exc:
            env.stderr.write(f"wsdoctor: cannot write {args.output}: {exc.strerror or exc}\n")
            return ExitStatus.CANNOT_RUN
    else:
        render(report, args.format, env.stdout, colour, args.ascii or not can_encode(env.stdout))
    if args.fail_on == "never":
        return ExitStatus.OK
    threshold = Status(args.fail_on).rank
    failed = any(lf.finding.status.rank >= threshold for lf in report.findings)
    return ExitStatus.FINDINGS if failed else ExitStatus.OK


def probe_command(argv: Sequence[str], env: Environment) -> ExitStatus:
    """``wsdoctor probe``: the scheduled health probe (Prometheus exporter)."""
    from wsdoctor.exporter.command import probe_main

    return probe_main(argv, env)
