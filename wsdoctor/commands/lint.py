"""``wsdoctor lint PATH...``: the cluster rules on manifests, no network, no cluster. The
parser is argparse only (``lint --help`` imports nothing heavy); the rules load when they run."""

from __future__ import annotations

from wsdoctor.console import Environment, Parser, UsageError, unwritable, write_output
from wsdoctor.durations import positive_duration
from wsdoctor.exit import ExitStatus

TYPE_CHECKING = False  # not typing's: `wsdoctor lint --help` does without importing typing
if TYPE_CHECKING:
    from collections.abc import Sequence


#: A namespace name: an RFC 1123 DNS label.
_NAMESPACE = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"


def _positive_int(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def build_lint_parser() -> Parser:
    """The parser of ``wsdoctor lint``."""
    parser = Parser(
        prog="wsdoctor lint",
        description="Check Kubernetes manifests for WebSocket problems (no network, no "
        "cluster): Ingress, Gateway API, Traefik, HAProxy, Istio, Linkerd and workloads.",
        epilog="PATH is a file, a directory (its *.yaml, *.yml, *.json) or - for stdin; "
        "multi-document YAML, List kinds and Helm output are read.\n"
        "Objects without a namespace get -n (as kubectl apply -n); WebSocket-specific rules "
        "judge routes with WebSocket evidence or the annotation wsdoctor.io/websocket.\n"
        "exit status: 0 clean, 1 findings at or above --fail-on, 2 usage error or a file that "
        "could not be read (the report is still written); the same when the output is piped "
        "into a reader that stops early, e.g. | head.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="manifests to check")
    parser.add_argument(
        "--format", choices=("text", "json", "sarif"), default="text", help="(default: text)"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    parser.add_argument(
        "--fail-on",
        choices=("warn", "fail", "never"),
        default="fail",
        help="exit 1 when a finding is at least this severe (default: fail)",
    )
    parser.add_argument(
        "--expect-idle",
        type=positive_duration,
        metavar="DURATION",
        help="flag idle timeouts below this (seconds, or 90s, 5m, 1h30m; default: 300 s)",
    )
    parser.add_argument(
        "--expect-connections",
        type=_positive_int,
        metavar="N",
        help="concurrent WebSockets one controller replica should hold (default: 1000)",
    )
    parser.add_argument(
        "-n",
        "--namespace",
        default="default",
        metavar="NS",
        help="namespace of objects that have none, as kubectl apply -n (default: default)",
    )
    parser.add_argument(
        "--websocket-route",
        action="append",
        default=[],
        metavar="[KIND/][NS/]NAME",
        help="judge this route as carrying WebSockets (repeatable); routes are otherwise "
        'judged on evidence or the annotation wsdoctor.io/websocket: "true"',
    )
    parser.add_argument(
        "--all-routes", action="store_true", help="judge every route as a WebSocket route"
    )
    parser.add_argument(
        "--suppress", action="append", default=[], metavar="CODE[,CODE]",
        help="leave these finding codes out (case-insensitive)",
    )
    parser.add_argument("--no-color", action="store_true", help="no colour (also: NO_COLOR=1)")
    parser.add_argument("--ascii", action="store_true", help="ASCII marks instead of √ ‼ ×")
    parser.add_argument(
        "--debug", action="store_true", help="on an internal error, print its traceback"
    )
    return parser


def lint_command(argv: Sequence[str], env: Environment) -> ExitStatus:
    """``wsdoctor lint PATH...``: the cluster rules on manifests, no network, no cluster."""
    args = build_lint_parser().parse_args(list(argv))
    import re

    if not re.fullmatch(_NAMESPACE, args.namespace):
        raise UsageError(f"--namespace {args.namespace!r}: not a Kubernetes namespace name")
    from wsdoctor.commands.netoptions import split_list
    from wsdoctor.commands.options import suppressed_codes

    suppress = suppressed_codes(args.suppress)
    problem = unwritable(args.output) if args.output else None
    if problem:
        env.stderr.write(f"wsdoctor: cannot write {args.output}: {problem}\n")
        return ExitStatus.CANNOT_RUN
    from wsdoctor.kube.lint import lint, render
    from wsdoctor.kube.manifests import ManifestError
    from wsdoctor.kube.rulebase import RuleOptions
    from wsdoctor.models import Status
    from wsdoctor.reports.text import can_encode

    given = {"expect_idle": args.expect_idle, "expect_connections": args.expect_connections}
    options = RuleOptions(
        **{name: value for name, value in given.items() if value is not None},
        websocket_routes=tuple(split_list(args.websocket_route, "--websocket-route",
                                          "give [KIND/][NS/]NAME")),
        all_routes=args.all_routes,
    )
    try:
        _, report = lint(args.paths, options, env.stdin, set(suppress), args.namespace)
    except ManifestError as exc:
        raise UsageError(str(exc)) from None
    for lf in report.findings:
        if lf.finding.code == "WSD-LINT-UNREADABLE":
            from wsdoctor.untrusted import one_line

            env.stderr.write(f"wsdoctor: error: not linted: {one_line(lf.finding.detail)}\n")
    if args.debug:
        for lf in report.findings:
            trace = lf.finding.evidence.get("traceback")
            if lf.finding.code == "WSD-INTERNAL-RULE-ERROR" and isinstance(trace, str):
                from wsdoctor.untrusted import printable

                env.stderr.write(printable(f"wsdoctor: {lf.finding.detail}\n{trace}",
                                           multiline=True, limit=None))
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
        colour = env.colour(args.no_color)
        ascii_only = args.ascii or not can_encode(env.stdout)
        write_output(env.stdout, lambda out: render(report, args.format, out, colour, ascii_only))
    if report.unread:
        return ExitStatus.USAGE
    if args.fail_on == "never":
        return ExitStatus.OK
    threshold = Status(args.fail_on).rank
    failed = any(lf.finding.status.rank >= threshold for lf in report.findings)
    return ExitStatus.FINDINGS if failed else ExitStatus.OK
