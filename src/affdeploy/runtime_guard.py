"""What keeps a CLI run clean: signals become a tidy exit, native log lines stay off the terminal.

Two things bypass Python's error handling. SIGTERM (CI timeouts, ``docker stop``) kills Python
without unwinding, so temporaries in --out would survive; :func:`signals_raise` turns it, SIGINT
and SIGHUP into :class:`~affdeploy.errors.Interrupted`, which unwinds every atomic write. And the
C++ inside ExecuTorch, XNNPACK and cpuinfo writes log lines (``[program.cpp:114] ...``) straight to
file descriptor 2, past ``sys.stderr``; :func:`native_stderr_captured` points descriptor 2 at a
buffer while ``sys.stderr`` (and so every message of ours) keeps the real terminal.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partialmethod
from types import FrameType
from typing import IO, Any

from affdeploy.errors import Interrupted
from affdeploy.fsutil import note_interrupt, run_scope

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

ET_ERRORS = {
    0x01: ("Internal", "an internal error occurred in the runtime"),
    0x02: ("InvalidState", "the runtime is in an invalid state for this operation"),
    0x03: ("EndOfMethod", "there are no more steps of execution to run"),
    0x10: ("NotSupported", "the operation is not supported in this context"),
    0x11: ("NotImplemented", "the operation is not implemented"),
    0x12: ("InvalidArgument", "an input does not match what the program expects"),
    0x13: ("InvalidType", "a value has the wrong type for the operation"),
    0x14: ("OperatorMissing", "the program calls an operator this runtime was built without"),
    0x20: ("NotFound", "a requested resource (method, file, backend) was not found"),
    0x21: ("MemoryAllocationFailed", "the runtime could not allocate the memory the program needs"),
    0x22: ("AccessFailed", "the file could not be read"),
    0x23: ("InvalidProgram", "the file is not a valid ExecuTorch program (damaged, truncated, or not a .pte)"),
    0x30: ("DelegateInvalidCompatibility", "the program was lowered for a different version of its delegate"),
    0x31: ("DelegateMemoryAllocationFailed", "the delegate could not allocate memory"),
    0x32: ("DelegateInvalidHandle", "the delegate's handle is invalid"),
}
"""ExecuTorch's ``runtime/core/error.h`` (pytorch/executorch), code -> (name, meaning)."""

_ET_CODE = re.compile(r"(?:error|status)[^0-9]{0,12}0x:?([0-9a-fA-F]+)", re.IGNORECASE)


def explain_executorch_error(message: str) -> str | None:
    """``"Failed to load program, error: 0x:23"`` -> ``"InvalidProgram: the file is not a valid ..."``."""
    found = _ET_CODE.search(message)
    if found is None:
        return None
    code = int(found.group(1), 16)
    name, meaning = ET_ERRORS.get(code, (f"error 0x{code:02x}", "an ExecuTorch error code this version does not know"))
    return f"{name} (0x{code:02x}): {meaning}"


_LOG_PREFIX = re.compile(r"^\s*(?:[IWEF] [\d:.]+ \S+ )?\[[\w./-]+:\d+\]\s*")  # "[program.cpp:168] " and kin


def executorch_failure(exc: BaseException, log: NativeLog) -> str:
    """One line for a failed ExecuTorch call: its error code in words, plus the runtime's own reason.

    The reason is the last line the runtime logged (error lines first), without its ``[file.cpp:line]`` prefix.
    """
    message = str(exc).strip()
    native = [line for line in log.lines() if _LOG_PREFIX.match(line) and "cpuinfo" not in line]
    relevant = [line for line in native if "error" in line.lower() or "missing" in line.lower()] or native
    reason = _LOG_PREFIX.sub("", relevant[-1]).strip() if relevant else ""
    words = explain_executorch_error(message)
    parts = [p for p in (words, reason) if p] or [message.splitlines()[0] if message else type(exc).__name__]
    return "; ".join(parts)


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    # Later signals must not cut short the cleanup that the first one started.
    for sig in HANDLED_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    note_interrupt(signum)
    raise Interrupted(signum)


@contextmanager
def signals_raise() -> Iterator[None]:
    """SIGINT/SIGTERM/SIGHUP raise Interrupted while inside; previous handlers come back afterwards.

    Any error that ends the block after a signal arrived ends it as that signal's Interrupted.

    Only the main thread can own signal handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        _raise_interrupted(signum, frame)

    previous = {sig: signal.getsignal(sig) for sig in HANDLED_SIGNALS}
    for sig in HANDLED_SIGNALS:
        signal.signal(sig, handler)
    try:
        yield
    except Exception:
        # What a signal leaves behind is the signal's doing: an import it cut short leaves half-initialised
        # modules, whose next use raises AttributeError ("partially initialized module") or ImportError.
        if received:
            raise Interrupted(received[0]) from None
        raise
    finally:
        for sig, saved in previous.items():
            signal.signal(sig, saved)


@dataclass
class NativeLog:
    """What native code and libraries wrote to stderr during :func:`native_stderr_captured`.

    ``terminal`` is where affdeploy's own messages go meanwhile (the user's real stderr).
    """

    terminal: IO[str]
    text: str = ""

    def lines(self) -> list[str]:
        return [line for line in self.text.splitlines() if line.strip()]


def _on_fd2(stream: IO[str]) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # pytest's capture objects have no descriptor
        return False


@contextmanager
def native_stderr_captured(enabled: bool = True) -> Iterator[NativeLog]:
    """Send descriptor 2 and ``sys.stderr`` into a temporary file for the block.

    Both, because C++ logs reach the terminal both ways: XNNPACK and cpuinfo write to descriptor 2,
    ExecuTorch's Python bindings print their ``ET_LOG`` lines through ``sys.stderr``. affdeploy's own
    messages go to ``NativeLog.terminal`` meanwhile. A file, not a pipe, because child processes (an
    adb server) inherit the descriptor and may outlive the block: they must never block on a full
    pipe. With ``enabled`` False (--verbose) nothing is redirected.
    """
    python_stderr = sys.stderr
    if not enabled:
        yield NativeLog(python_stderr)
        return
    python_stderr.flush()
    saved = os.dup(2)
    buffer = tempfile.TemporaryFile()
    os.dup2(buffer.fileno(), 2)
    encoding = getattr(python_stderr, "encoding", None) or "utf-8"
    terminal = (open(os.dup(saved), "w", buffering=1, encoding=encoding, errors="backslashreplace")  # noqa: SIM115
                if _on_fd2(python_stderr) else python_stderr)
    sys.stderr = open(os.dup(buffer.fileno()), "w", buffering=1, encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
    log = NativeLog(terminal)
    try:
        yield log
    finally:
        sys.stderr.close()
        sys.stderr = python_stderr
        if terminal is not python_stderr:
            terminal.close()
        os.dup2(saved, 2)
        os.close(saved)
        buffer.seek(0)
        log.text = buffer.read().decode("utf-8", "backslashreplace")
        buffer.close()


def quiet_progress_bars() -> None:
    """Silence third-party tqdm bars (coremltools draws four per conversion, even under --json).

    torch imports tqdm before any CLI code runs, so its ``TQDM_DISABLE`` variable is read too early
    to help; defaulting ``disable=True`` on the class reaches every bar created from now on.
    """
    import tqdm

    if not getattr(tqdm.tqdm, "_affdeploy_quiet", False):
        tqdm.tqdm.__init__ = partialmethod(tqdm.tqdm.__init__, disable=True)
        tqdm.tqdm._affdeploy_quiet = True


def unexpected_error_line(exc: Exception) -> str:
    """One line for an exception nobody anticipated: a disk fault in plain words, anything else as a bug."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = str(exc).strip()
    detail = f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__
    return f"unexpected {detail} (a bug in affdeploy: rerun with --verbose for the traceback and report it)"


@contextmanager
def guarded_run(verbose: bool = False, consoles: Sequence[Any] = ()) -> Iterator[NativeLog]:
    """Everything a CLI command runs inside: quiet bars, captured native log, signals, run cleanup.

    ``consoles`` (rich consoles on stderr) are pointed at the real terminal for the run.
    """
    quiet_progress_bars()
    with native_stderr_captured(not verbose) as log, signals_raise(), run_scope():
        for console in consoles:
            console.file = log.terminal
        try:
            yield log
        finally:
            for console in consoles:
                console.file = None  # back to following sys.stderr
