"""The ``affdeploy`` command line: a thin typer/rich layer over the Python API.

Each command lives in its own module of this package and registers itself on ``app``.
``main`` is the console-script entry point; it turns every expected failure into one line
on stderr and an exit code (2: usage, 1: failure, 130: interrupted), never a traceback.
"""

from __future__ import annotations

from affdeploy.bench.openmp import sleep_idle_openmp_threads

sleep_idle_openmp_threads()  # before any command module imports torch: OpenMP reads it once, at load

import logging  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402

import typer  # noqa: E402
from typer._click import exceptions as click_exc  # noqa: E402  # typer vendors its own click

from affdeploy.cli._common import app, err_console  # noqa: E402
from affdeploy.errors import AffdeployError, Interrupted  # noqa: E402
from affdeploy.runtime_guard import guarded_run, unexpected_error_line  # noqa: E402

# Command modules register themselves on ``app`` when imported; this order is the order of --help.
from affdeploy.cli import info as _info  # noqa: E402,F401
from affdeploy.cli import export as _export  # noqa: E402,F401
from affdeploy.cli import verify as _verify  # noqa: E402,F401
from affdeploy.cli import eval_cmd as _eval_cmd  # noqa: E402,F401
from affdeploy.cli import run_cmd as _run_cmd  # noqa: E402,F401
from affdeploy.cli import inspect_cmd as _inspect_cmd  # noqa: E402,F401
from affdeploy.cli import bench as _bench  # noqa: E402,F401
from affdeploy.cli import report as _report  # noqa: E402,F401
from affdeploy.cli import devices as _devices  # noqa: E402,F401
from affdeploy.cli import android_assets as _android_assets  # noqa: E402,F401
from affdeploy.cli import ios_assets as _ios_assets  # noqa: E402,F401


def _quiet_libraries() -> None:
    """Library deprecation chatter (torch, coremltools) is noise for CLI users, not news."""
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category)
    for name in ("coremltools", "torch.onnx", "torch._export", "torch.utils._pytree", "executorch", "torchao"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and map errors to one line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    _quiet_libraries()
    verbose = "--verbose" in args or "-v" in args
    try:
        with guarded_run(verbose, consoles=[err_console]):
            code = app(args=args, prog_name="affdeploy", standalone_mode=False)
    except Interrupted as exc:
        err_console.print(f"[bold red]error:[/] interrupted by {exc.signal_name}; removed the unfinished files of this run",
                          highlight=False)
        raise SystemExit(exc.exit_code) from None
    except AffdeployError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(exc.exit_code) from None
    except click_exc.NoArgsIsHelpError as exc:
        err_console.print(exc.format_message())
        raise SystemExit(2) from None
    except click_exc.UsageError as exc:
        hint = f" (see 'affdeploy {exc.ctx.info_name} --help')" if exc.ctx and exc.ctx.parent else " (see 'affdeploy --help')"
        err_console.print(f"[bold red]error:[/] {exc.format_message()}{hint}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("[bold red]error:[/] interrupted; nothing partial was left on disk", highlight=False)
        raise SystemExit(130) from None
    except click_exc.ClickException as exc:
        err_console.print(f"[bold red]error:[/] {exc.format_message()}", highlight=False, soft_wrap=True)
        raise SystemExit(exc.exit_code) from None
    except Exception as exc:  # a bug or an unforeseen fault: still one line, the traceback only with --verbose
        if verbose:
            traceback.print_exc()
        err_console.print(f"[bold red]error:[/] {unexpected_error_line(exc)}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)


__all__ = ["app", "main", "typer"]
