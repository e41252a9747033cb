"""Shared pieces of the CLI: the typer app, consoles, JSON output and progress display."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from affdeploy import __version__

console = Console()
err_console = Console(stderr=True)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"affdeploy {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="affdeploy",
    help=(
        "Take AFFNet (Adaptive Frequency Filters, arXiv 2307.14008) from PyTorch to ONNX, "
        "Core ML and ExecuTorch, and measure it on this machine, Android phones and iPhones.\n\n"
        "Typical use:\n\n"
        "  affdeploy export --model affnet-t --target all\n\n"
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
        False, "--verbose", "-v", help="Log what happens on stderr, including every adb, xcrun and pymobiledevice3 call with its duration."
    ),
) -> None:
    """AFFNet deployment toolchain."""
    _set_verbose(verbose)


JSON_OPTION_HELP = "Print the result as JSON on stdout (for scripts and CI) instead of tables."


def print_json(data: Any) -> None:
    """Print machine-readable output: plain JSON, no colour, no wrapping."""
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


@contextmanager
def progress(enabled: bool = True) -> Iterator[Progress]:
    """A rich progress display on stderr for slow steps; silent when ``enabled`` is False."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True, disable=not enabled) as bar:
        yield bar
