"""The standard streams of a CLI run: output that cannot be written is a failure, never a silent exit 0.

``affdeploy info >&-`` starts Python with descriptor 1 closed: ``sys.stdout`` is None and every print
vanishes, and the first file the run opens would get descriptor 1. A reader that went away
(``affdeploy devices | head -0``) makes writes fail with EPIPE, and Python's own flush at exit then
prints "Exception ignored" and exits 120. Here the closed descriptors are filled with /dev/null and a
write to stdout that fails (closed, EPIPE, EBADF) becomes one :class:`OutputError`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from affdeploy.errors import AffdeployError


class OutputError(AffdeployError):
    """stdout is closed or its reader went away: the result could not be written."""


class _Stdout:
    """``sys.stdout`` for a run: a write or flush that fails raises :class:`OutputError` (no stream: fd 1 closed)."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream
        self.failed = False

    def _fail(self, reason: str) -> OutputError:
        self.failed = True
        return OutputError(f"cannot write the output to stdout: {reason}",
                           hint="run it with stdout open; a pipe's reader must read to the end")

    def write(self, text: str) -> int:
        if self.stream is None:
            raise self._fail("it is closed")
        try:
            return self.stream.write(text)
        except OSError as exc:
            raise self._fail(exc.strerror or type(exc).__name__) from None

    def flush(self) -> None:
        if self.stream is None:
            return
        try:
            self.stream.flush()
        except OSError as exc:
            raise self._fail(exc.strerror or type(exc).__name__) from None

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str:
        return getattr(self.stream, "errors", None) or "strict"

    def isatty(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def __getattr__(self, name: str) -> Any:  # fileno, buffer, ...: the real stream's
        if self.stream is None:
            raise AttributeError(name)
        return getattr(self.stream, name)


def _fill_closed_descriptors() -> set[int]:
    """Open /dev/null on each closed standard descriptor, so no file the run opens takes its number."""
    closed = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free number: ``fd`` itself
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            closed.add(fd)
    return closed


@contextmanager
def checked_stdout() -> Iterator[None]:
    """Inside, stdout failures raise :class:`OutputError`; a closed stderr is /dev/null (exit codes still tell)."""
    closed = _fill_closed_descriptors()
    saved_out, saved_err = sys.stdout, sys.stderr
    stdout = _Stdout(None if 1 in closed or saved_out is None else saved_out)
    sys.stdout = stdout
    if 2 in closed or saved_err is None:
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115  # /dev/null now
    try:
        yield
    finally:
        if stdout.failed and stdout.stream is not None:
            null = os.open(os.devnull, os.O_WRONLY)  # what Python would still flush at exit goes nowhere
            os.dup2(null, 1)
            os.close(null)
        sys.stdout, sys.stderr = saved_out, saved_err
