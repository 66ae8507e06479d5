"""Command line: ``main(argv, env) -> ExitStatus``. Only argparse is imported at start-up;
each command (``wsdoctor.commands``) imports what it needs when it runs."""

from __future__ import annotations

import sys

from wsdoctor.console import Environment, Parser, RunFailed, UsageError, silence
from wsdoctor.exit import ExitStatus

TYPE_CHECKING = False  # not typing's: `wsdoctor --help` does without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import NoReturn

    Command = Callable[[Sequence[str], Environment], ExitStatus]

__all__ = ["COMMANDS", "Environment", "Parser", "RunFailed", "UsageError", "end", "main", "run"]

#: Subcommands; anything else is a target (``wss://demo`` reaches a host named demo).
COMMANDS = ("explain", "demo", "show", "lint", "probe", "watch", "bisect", "load")


def _command(name: str) -> Command:
    """The function of a command, imported only when that command runs."""
    if name == "diagnose":
        from wsdoctor.commands.diagnose import diagnose_command

        return diagnose_command
    if name == "bisect":
        from wsdoctor.commands.bisect import bisect_command

        return bisect_command
    if name == "demo":
        from wsdoctor.commands.demo import demo_command

        return demo_command
    if name == "show":
        from wsdoctor.commands.show import show_command

        return show_command
    if name == "watch":
        from wsdoctor.commands.watch import watch_command

        return watch_command
    if name == "load":
        from wsdoctor.commands.load import load_command

        return load_command
    if name == "lint":
        from wsdoctor.commands.lint import lint_command

        return lint_command
    from wsdoctor.commands import other

    return {"explain": other.explain_command, "probe": other.probe_command}[name]


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
        from wsdoctor.untrusted import one_line

        where = f"wsdoctor {command} --help" if command else "wsdoctor --help"
        env.stderr.write(f"wsdoctor: error: {one_line(str(exc))} (see '{where}')\n")
        return ExitStatus.USAGE
    except KeyboardInterrupt:
        env.stderr.write("wsdoctor: interrupted\n")
        return ExitStatus.CANNOT_RUN
    except BrokenPipeError:  # a write outside write_output: the reader left, nothing to say
        silence(env.stdout)
        return ExitStatus.CANNOT_RUN
    except SystemExit as exc:  # --help / --version
        return ExitStatus(exc.code) if isinstance(exc.code, int) else ExitStatus.OK
    except Exception as exc:
        from wsdoctor.untrusted import one_line, printable

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
    """Console-script entry point. pydantic looks for plugins (its documented switch turns
    that off) unless the user's environment says otherwise: finding none means reading the
    entry points of every installed distribution, ~5-10 ms at the first model built."""
    import os

    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    end(int(main(sys.argv[1:])))


def end(status: int) -> NoReturn:
    """Exit with ``status`` once the command is done, without tearing the interpreter down
    module by module and object by object: after a diagnosis that takes ~40 ms, a third of
    what a whole one-shot WebSocket client costs. What a normal exit does that matters still
    happens: exit handlers run (temporary files, logging) and the output is flushed. With
    another thread still alive (which a normal exit would wait for), the exit is normal."""
    import threading

    if threading.active_count() > 1:
        sys.exit(status)
    import atexit
    import os

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # the reader left (``| head``): the verdict stands
            silence(stream)
        except (OSError, ValueError):  # what a normal exit reports as exit status 120
            status = 120
    os._exit(status)
