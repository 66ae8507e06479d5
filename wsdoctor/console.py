"""What every command shares: the injectable :class:`Environment` (stdio, environ, whether
stdout is a terminal), the :class:`Parser` that raises instead of exiting and the one-line
:class:`UsageError`. Its own module so that ``wsdoctor.cli`` (the dispatcher) and the commands
both import it without importing each other."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from typing import NoReturn, TextIO


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


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)
