"""``wsdoctor probe``: parse the command line, load the configuration, serve until stopped."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from wsdoctor.exit import ExitStatus

if TYPE_CHECKING:
    from wsdoctor.console import Environment

DESCRIPTION = """\
Scheduled health probe: probe the configured targets on their interval and serve the results
to Prometheus, with names compatible with blackbox_exporter.

  /metrics                         last results of the scheduled targets, exporter health
  /probe?target=URL&module=quick   probe now; a blackbox scrape_config works as is (modules
                                   http_2xx = quick, tcp_connect = tcp; host:port is plain)
  /reports/NAME                    last JSON report of a scheduled target
  /healthz                         health

Without --config it serves /probe with the built-in modules and schedules nothing, as
blackbox_exporter does with its defaults. SIGHUP (or POST /-/reload) reloads the configuration;
a broken file is refused with one line on stderr and the previous configuration keeps running.
--example-config prints an annotated configuration to start from; Kubernetes manifests and
Prometheus alerts: {deploy}"""


def build_probe_parser() -> argparse.ArgumentParser:
    """The parser of ``wsdoctor probe``."""
    from wsdoctor.console import Parser
    from wsdoctor.docs import DOCS_URL
    from wsdoctor.exporter import DEFAULT_LISTEN

    parser = Parser(prog="wsdoctor probe",
                    description=DESCRIPTION.format(deploy=f"{DOCS_URL}deploy/README.md"),
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", "-c", metavar="FILE",
                        help="the exporter's YAML configuration (default: none, the built-in "
                        "modules and no scheduled targets)")
    parser.add_argument("--example-config", action="store_true",
                        help="print an annotated example configuration and exit")
    parser.add_argument("--listen", metavar="[HOST]:PORT",
                        help=f"listen address (default: the file's listen, else {DEFAULT_LISTEN};"
                        " 9115 is left to blackbox_exporter)")
    parser.add_argument("--check-config", action="store_true",
                        help="validate the configuration and exit (0 valid, 2 not)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    return parser


def probe_main(argv: Sequence[str], env: Environment) -> ExitStatus:
    """Run the exporter; a configuration error is one line and exit 2."""
    from wsdoctor.console import UsageError

    args = build_probe_parser().parse_args(list(argv))
    if args.example_config:
        from wsdoctor.docs import example_config

        env.stdout.write(example_config())
        return ExitStatus.OK
    from wsdoctor.exporter.config import ConfigError, default_config, load_config, parse_listen

    if args.listen is not None:
        try:
            parse_listen(args.listen)
        except ValueError as exc:
            raise UsageError(f"--listen {exc}") from None
    try:
        config = default_config(env.environ, listen=args.listen) if args.config is None \
            else load_config(args.config, env.environ, listen=args.listen)
    except ConfigError as exc:
        from wsdoctor.untrusted import one_line

        env.stderr.write(f"wsdoctor: error: {one_line(str(exc))}\n")
        return ExitStatus.USAGE
    if args.check_config:
        env.stdout.write(f"{config.source}: valid, {len(config.targets)} targets, modules "
                         f"{', '.join(sorted(config.modules))}\n")
        return ExitStatus.OK
    from wsdoctor.exporter.server import Exporter, serve

    exporter = Exporter(config, config_path=args.config, environ=env.environ, log=env.stderr,
                        listen_override=args.listen)
    try:
        asyncio.run(serve(exporter))
    except OSError as exc:
        env.stderr.write(f"wsdoctor probe: cannot listen on {config.listen}: "
                         f"{exc.strerror or exc}\n")
        return ExitStatus.CANNOT_RUN
    return ExitStatus.OK
