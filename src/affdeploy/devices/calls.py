"""External tool calls (adb, xcrun, xcodebuild, pymobiledevice3) with their duration in the log.

Every call a device route makes goes through :func:`run_tool` or :func:`timed`, so ``affdeploy
--verbose`` shows each one with how long it took: the first thing to look at when a phone is slow
or a step hangs.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

log = logging.getLogger(__name__)


def run_tool(
    cmd: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None, text: bool = False
) -> subprocess.CompletedProcess:
    """``subprocess.run`` with output captured, logged as ``$ cmd -> exit N (X s)``; raises what run raises."""
    start = time.monotonic()
    outcome = "not started"
    try:
        proc = subprocess.run(
            list(cmd), capture_output=True, timeout=timeout, env=dict(env) if env is not None else None,
            text=text, check=False,
        )  # fmt: skip
        outcome = f"exit {proc.returncode}"
        return proc
    except subprocess.TimeoutExpired:
        outcome = f"timed out after {timeout:.0f} s"
        raise
    finally:
        log.debug("$ %s -> %s (%.3f s)", shlex.join(cmd), outcome, time.monotonic() - start)


@contextmanager
def timed(what: str) -> Iterator[None]:
    """Log ``what`` with its duration and whether it raised (for library calls such as pymobiledevice3's)."""
    start = time.monotonic()
    outcome = "failed"
    try:
        yield
        outcome = "ok"
    finally:
        log.debug("%s -> %s (%.3f s)", what, outcome, time.monotonic() - start)
