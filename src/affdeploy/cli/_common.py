"""Shared pieces of the CLI: the typer app, consoles, JSON output and progress display."""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from affdeploy import __version__
from affdeploy.errors import UsageError
from affdeploy.vocab import split_names

console = Console()
err_console = Console(stderr=True)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"affdeploy {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="affdeploy",
    help=(
        "Take AFFNet (Adaptive Frequency Filters, arXiv 2307.14008), or any FFT model you bring, from "
        "PyTorch to ONNX, Core ML, ExecuTorch and LiteRT, and measure it on this machine, Android phones "
        "and iPhones.\n\n"
        "Typical use:\n\n"
        "  affdeploy export --model affnet-t --target all\n\n"
        "  affdeploy export --model my_model.pt2 --target all\n\n"
        "  affdeploy bench --device host\n\n"
        "  affdeploy devices"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is at the time (tests swap it), one plain line per record."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(self.format(record) + "\n")


_VERBOSE_HANDLER = _StderrHandler()
_VERBOSE_HANDLER.setFormatter(logging.Formatter("%(relativeCreated)8.0f ms %(name)s: %(message)s"))


def _set_verbose(verbose: bool) -> None:
    """--verbose: affdeploy's debug log on stderr, e.g. every adb/xcrun/pymobiledevice3 call with its duration."""
    logger = logging.getLogger("affdeploy")
    logger.setLevel(logging.DEBUG if verbose else logging.NOTSET)
    if verbose and _VERBOSE_HANDLER not in logger.handlers:
        logger.addHandler(_VERBOSE_HANDLER)
    elif not verbose:
        logger.removeHandler(_VERBOSE_HANDLER)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v",
        help="Log what happens on stderr, including every adb, xcrun and pymobiledevice3 call with its duration."
    ),
) -> None:
    """AFFNet deployment toolchain."""
    _set_verbose(verbose)


JSON_OPTION_HELP = "Print the result as JSON on stdout (for scripts and CI) instead of tables."
TARGETS_HELP = "Repeatable (-t onnx -t tflite) or comma-separated (-t onnx,tflite); all means every one."


def finite(param: typer.CallbackParam, value: float | None) -> float | None:
    """The callback of every float option: nan and inf are refused, not taken (nan fails every comparison, so it
    passes every bound check: --min-s nan would time forever, --warmup-s nan warm up for no time)."""
    if value is not None and not math.isfinite(value):
        # typer passes its own option object here; CallbackParam is only the marker that asks for it
        raise typer.BadParameter(f"{value} is not a finite number; give a number such as 0.5",
                                 param=param)  # type: ignore[arg-type]
    return value


def target_list(values: list[str]) -> str:
    """``-t`` of export and eval as the comma list the planners take: ``all`` among other names is ``all``;
    a name no target is registered under is refused here, whatever else was asked for (a registered target
    missing its packages is left to the planner, which says how to install it)."""
    from affdeploy.export.registry import all_targets

    known = [t.name for t in all_targets()]
    names = [name.lower() for name in split_names(values)]
    unknown = [n for n in names if n != "all" and n not in known]
    if unknown:
        raise UsageError(f"unknown target '{unknown[0]}'; choose from: {', '.join(known)}, all")
    return "all" if "all" in names else ",".join(names)


def print_json(data: Any) -> None:
    """Print machine-readable output: plain JSON, no colour, no wrapping."""
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


class _LineProgress(Progress):
    """Outside a terminal (CI logs) rich draws nothing: each new step becomes one plain line instead.

    The first description (the task's name) is not printed, so a run refused before any step keeps
    its error as the only line.
    """

    def __init__(self) -> None:
        super().__init__(console=err_console, disable=True)
        self._started = time.monotonic()
        self._last = ""

    def update(self, task_id: TaskID, *, description: str | None = None, **kwargs: Any) -> None:
        if description and description != self._last:
            self._last = description
            self.console.print(f"[{time.monotonic() - self._started:6.1f} s] {description}", markup=False,
                               highlight=False, soft_wrap=True)
        super().update(task_id, description=description, **kwargs)


def _is_log_file(console_: Console) -> bool:
    """A real file or pipe that is no terminal (a CI log), not a test's in-memory capture."""
    try:
        console_.file.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return not console_.is_terminal


@contextmanager
def progress(enabled: bool = True) -> Iterator[Progress]:
    """A rich progress display on stderr for slow steps (plain lines in a CI log); silent when ``enabled`` is False."""
    if enabled and _is_log_file(err_console):
        with _LineProgress() as lines:
            yield lines
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True, disable=not enabled) as bar:
        yield bar
