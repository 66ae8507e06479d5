"""Command line: ``main(argv, env) -> ExitStatus``. Only argparse is imported at start-up;
each command (``wsdoctor.commands``) imports what it needs when it runs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NoReturn, TextIO

from wsdoctor.exit import ExitStatus
from wsdoctor.untrusted import one_line, printable


@dataclass
class Environment:
    """The outside world as ``main`` sees it; tests pass their own."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    stdout_isatty: bool | None = None

    @property
    def is_tty(self) -> bool:
        """Whether stdout is an interactive terminal."""
        if self.stdout_isatty is not None:
            return self.stdout_isatty
        try:
            return self.stdout.isatty()
        except (AttributeError, ValueError):
            return False

    def colour(self, no_color_flag: bool) -> bool:
        """Colour only on a terminal, and never with NO_COLOR or --no-color."""
        return self.is_tty and not no_color_flag and not self.environ.get("NO_COLOR")


class UsageError(Exception):
    """A wrong command line: one line for the user, exit 2."""


class RunFailed(Exception):
    """A run crashed: ``main`` prints its message (and with --debug its traceback) through
    the run's redactor, so a secret the crash quotes stays out of stderr."""

    def __init__(self, cause: BaseException, redact: Callable[[str], str]) -> None:
        super().__init__(redact(f"{type(cause).__name__}: {cause}"))
        self.cause = cause
        self.redact = redact

    def details(self) -> str:
        """The cause's traceback, redacted."""
        import traceback

        return self.redact("".join(traceback.format_exception(self.cause)))


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


Command = Callable[[Sequence[str], "Environment"], ExitStatus]

#: Subcommands; anything else is a target (``wss://demo`` reaches a host named demo).
COMMANDS = ("explain", "demo", "show", "lint", "probe", "load")


def _command(name: str) -> Command:
    """The function of a command, imported only when that command runs."""
    if name == "diagnose":
        from wsdoctor.commands.diagnose import diagnose_command

        return diagnose_command
    if name == "demo":
        from wsdoctor.commands.demo import demo_command

        return demo_command
    if name == "show":
        from wsdoctor.commands.show import show_command

        return show_command
    if name == "load":
        from wsdoctor.commands.load import load_command

        return load_command
    from wsdoctor.commands import other

    return {
        "explain": other.explain_command,
        "lint": other.lint_command,
        "probe": other.probe_command,
    }[name]


def main(argv: Sequence[str], env: Environment | None = None) -> ExitStatus:
    """Entry point: dispatch to a command, turn every user error into one line and exit 2."""
    env = env or Environment()
    debug = "--debug" in argv
    command = argv[0] if argv and argv[0] in COMMANDS else None
    try:
        if argv and argv[0] == "help":  # `wsdoctor help` is not a host named help
            return _command("diagnose")(["--help"], env)
        if command is not None:
            return _command(command)(argv[1:], env)
        return _command("diagnose")(argv, env)
    except UsageError as exc:
        where = f"wsdoctor {command} --help" if command else "wsdoctor --help"
        env.stderr.write(f"wsdoctor: error: {one_line(str(exc))} (see '{where}')\n")
        return ExitStatus.USAGE
    except KeyboardInterrupt:
        env.stderr.write("wsdoctor: interrupted\n")
        return ExitStatus.CANNOT_RUN
    except BrokenPipeError:  # `wsdoctor lint ... | head`: the reader left; nothing to say
        from wsdoctor.reports.text import silence

        silence(env.stdout)
        return ExitStatus.CANNOT_RUN
    except SystemExit as exc:  # --help / --version
        return ExitStatus(exc.code) if isinstance(exc.code, int) else ExitStatus.OK
    except Exception as exc:
        if debug:
            import traceback

            trace = exc.details() if isinstance(exc, RunFailed) else traceback.format_exc()
            env.stderr.write(printable(trace, multiline=True, limit=None))
        message = str(exc) if isinstance(exc, RunFailed) else f"{type(exc).__name__}: {exc}"
        env.stderr.write(
            f"wsdoctor: could not run: {one_line(message)}"
            + ("" if debug else " (run with --debug for details)")
            + "\n"
        )
        return ExitStatus.CANNOT_RUN


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(int(main(sys.argv[1:])))
