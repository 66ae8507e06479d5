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
  /probe?target=URL&module=quick   probe now (a blackbox scrape_config works as is)
  /reports/NAME                    last JSON report of a scheduled target
  /healthz                         health

SIGHUP (or POST /-/reload) reloads the configuration; a broken file is refused with one line
on stderr and the previous configuration keeps running. See docs/deploy/ for a config file,
Kubernetes manifests and Prometheus alerts."""


def build_probe_parser() -> argparse.ArgumentParser:
    """The parser of ``wsdoctor probe``."""
    from wsdoctor.console import Parser
    from wsdoctor.exporter.schema import DEFAULT_LISTEN

    parser = Parser(prog="wsdoctor probe", description=DESCRIPTION,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", "-c", required=True, metavar="FILE",
                        help="the exporter's YAML configuration")
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
    from wsdoctor.exporter.config import ConfigError, load_config, parse_listen

    args = build_probe_parser().parse_args(list(argv))
    if args.listen is not None:
        try:
            parse_listen(args.listen)
        except ValueError as exc:
            raise UsageError(f"--listen {exc}") from None
    try:
        config = load_config(args.config, env.environ, listen=args.listen)
    except ConfigError as exc:
        env.stderr.write(f"wsdoctor: error: {exc}\n")
        return ExitStatus.USAGE
    if args.check_config:
        env.stdout.write(f"{args.config}: valid, {len(config.targets)} targets, modules "
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
