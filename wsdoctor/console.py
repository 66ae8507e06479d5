"""What every command shares: the injectable :class:`Environment` (stdio, environ, whether
stdout is a terminal), the :class:`Parser` that raises instead of exiting and the one-line
:class:`UsageError`. Its own module so that ``wsdoctor.cli`` (the dispatcher) and the commands
both import it without importing each other."""

from __future__ import annotations

import argparse
import os
import sys

TYPE_CHECKING = False  # not typing's: `wsdoctor --help` does without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn, TextIO


class Environment:
    """The outside world as ``main`` sees it; tests pass their own."""

    def __init__(
        self,
        *,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        stdin: TextIO | None = None,
        environ: dict[str, str] | None = None,
        stdout_isatty: bool | None = None,
    ) -> None:
        self.stdout: TextIO = stdout if stdout is not None else sys.stdout
        self.stderr: TextIO = stderr if stderr is not None else sys.stderr
        self.stdin: TextIO = stdin if stdin is not None else sys.stdin
        self.environ: dict[str, str] = dict(os.environ) if environ is None else environ
        self.stdout_isatty = stdout_isatty

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


def unwritable(path: str) -> str | None:
    """Why ``path`` cannot be written (None when it can): checked before a command runs, so
    that a long run never ends in "cannot write"."""
    from wsdoctor.files import writable

    return writable(path)


def silence(stream: TextIO) -> None:
    """Point ``stream``'s file descriptor at /dev/null after its reader went away (``| head``),
    so that later writes and the interpreter's final flush do not fail again."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def write_output(stream: TextIO, write: Callable[[TextIO], None]) -> None:
    """Run ``write(stream)``; a reader that left early (``wsdoctor ... | head``) is not an
    error: the rest is dropped and the command still exits with its verdict, so that a
    ``set -o pipefail`` pipeline fails only when wsdoctor found something."""
    try:
        write(stream)
        stream.flush()
    except BrokenPipeError:
        silence(stream)
