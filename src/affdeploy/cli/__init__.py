"""The ``affdeploy`` command line: a thin typer/rich layer over the Python API.

Each command lives in its own module of this package and registers itself on ``app``.
``main`` is the console-script entry point; it turns every expected failure into one line
on stderr and an exit code (2: usage, 1: failure, 130: interrupted), never a traceback.
"""

from __future__ import annotations

# _signal: signal.py's C core, without the enum, functools and collections that signal.py imports first
# (~20 ms in which a Ctrl-C is a traceback); it has no type stub
import _signal  # type: ignore[import-not-found]
import os
import sys

INTERRUPTED_LINE = "error: interrupted; nothing partial was left on disk\n"


def _say_interrupted() -> None:
    """The line of a run interrupted before it started: nothing was written."""
    try:
        if sys.stderr is not None:
            sys.stderr.write(INTERRUPTED_LINE)
            sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed or its reader gone: the exit code still says it
        pass


def _exit_interrupted(signum: int, frame: object) -> None:
    """Ctrl-C while the CLI's modules load (torch takes seconds) or while the process exits: exit 130 at once.

    Nothing is being written then. Raising KeyboardInterrupt instead would cut an import short, and a library
    that catches it leaves a half-initialised module whose next import fails with an unrelated error ("partially
    initialized module torch._dynamo", exit 1); at exit, Python prints it as an ignored exception and exits 0.
    This handler is set before anything else loads, taken down once all has, and set again for the exit.
    """
    _say_interrupted()
    os._exit(130)


try:
    _sigint_before = _signal.signal(_signal.SIGINT, _exit_interrupted)
except ValueError:  # imported outside the main thread, where no handler can be set (a library's import)
    _sigint_before = None

from affdeploy.bench.openmp import sleep_idle_openmp_threads  # noqa: E402

sleep_idle_openmp_threads()  # before any command module imports torch: OpenMP reads it once, at load

import logging  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402

import typer  # noqa: E402
from rich.markup import escape  # noqa: E402
from typer._click import exceptions as click_exc  # noqa: E402  # typer vendors its own click

from affdeploy.cli._common import app, err_console  # noqa: E402
from affdeploy.cli._streams import checked_stdout  # noqa: E402
from affdeploy.errors import AffdeployError, Interrupted  # noqa: E402
from affdeploy.runtime_guard import guarded_run, unexpected_error_line  # noqa: E402

# Command modules register themselves on ``app`` when imported; this order is the order of --help.
# isort: off
from affdeploy.cli import info as _info  # noqa: E402, F401
from affdeploy.cli import export as _export  # noqa: E402, F401
from affdeploy.cli import verify as _verify  # noqa: E402, F401
from affdeploy.cli import eval_cmd as _eval_cmd  # noqa: E402, F401
from affdeploy.cli import run_cmd as _run_cmd  # noqa: E402, F401
from affdeploy.cli import inspect_cmd as _inspect_cmd  # noqa: E402, F401
from affdeploy.cli import bench as _bench  # noqa: E402, F401
from affdeploy.cli import profile_cmd as _profile_cmd  # noqa: E402, F401
from affdeploy.cli import report as _report  # noqa: E402, F401
from affdeploy.cli import devices as _devices  # noqa: E402, F401
from affdeploy.cli import android_assets as _android_assets  # noqa: E402, F401
from affdeploy.cli import ios_assets as _ios_assets  # noqa: E402, F401
# isort: on

if _sigint_before is not None:  # loaded: a Ctrl-C from here on is the run's to handle (main, guarded_run)
    _signal.signal(_signal.SIGINT, _sigint_before)


def _quiet_libraries() -> None:
    """Library deprecation chatter (torch, coremltools) is noise for CLI users, not news."""
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category)
    for name in ("coremltools", "torch.onnx", "torch._export", "torch.utils._pytree", "executorch", "torchao"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _error(text: str) -> None:
    """One ``error:`` line on stderr; the text is printed as is (no rich markup or :emoji: codes in paths and names)."""
    err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True, emoji=False)


def _run(args: list[str], verbose: bool) -> int:
    """The command's exit code; every expected failure printed as one line."""
    try:
        with guarded_run(verbose, consoles=[err_console]):
            code = app(args=args, prog_name="affdeploy", standalone_mode=False)
            sys.stdout.flush()  # a reader gone or stdout closed fails the run here, not at exit
    except Interrupted as exc:
        _error(f"interrupted by {exc.signal_name}; removed the unfinished files of this run")
        return exc.exit_code
    except AffdeployError as exc:
        _error(str(exc))
        return exc.exit_code
    except click_exc.NoArgsIsHelpError as exc:
        err_console.print(exc.format_message())
        return 2
    except click_exc.UsageError as exc:
        hint = (f" (see 'affdeploy {exc.ctx.info_name} --help')" if exc.ctx and exc.ctx.parent
                else " (see 'affdeploy --help')")
        _error(f"{exc.format_message()}{hint}")
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        _error("interrupted; nothing partial was left on disk")
        return 130
    except click_exc.ClickException as exc:
        _error(exc.format_message())
        return exc.exit_code
    except Exception as exc:  # a bug or an unforeseen fault: still one line, the traceback only with --verbose
        if verbose:
            traceback.print_exc()
        _error(unexpected_error_line(exc))
        return 1
    return code if isinstance(code, int) else 0


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and map errors to one line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        _quiet_libraries()
        with checked_stdout():
            code = _run(args, "--verbose" in args or "-v" in args)
    except KeyboardInterrupt:  # before the run's own handlers are set, or after they are taken down
        _say_interrupted()
        code = 130
    if argv is None:  # the program itself (not a caller in Python): a Ctrl-C while it exits is no traceback
        _signal.signal(_signal.SIGINT, _exit_interrupted)
    raise SystemExit(code)


__all__ = ["app", "main", "typer"]
