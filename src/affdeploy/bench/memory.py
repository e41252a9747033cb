"""Peak resident-memory growth of one benchmark phase.

On Linux the kernel keeps a per-process high-water mark (VmHWM in /proc/self/status) that can be
reset by writing "5" to /proc/self/clear_refs. Resetting it before a configuration loads and
reading it after its warm-up gives that configuration's own peak: weights, arenas, activations.
Where the reset is unavailable, the growth of ru_maxrss is used instead; that only sees memory
above the process's earlier peak, so it is a lower bound and the record says so.

Before the baseline is taken, freed heap memory is handed back to the OS (glibc ``malloc_trim``),
otherwise a model loaded after an export in the same process would reuse already-resident pages
and appear to need almost nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import re
from functools import cache
from pathlib import Path

from affdeploy.bench.host import max_rss_bytes

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")

METHOD_HWM = "VmHWM reset via /proc/self/clear_refs"
METHOD_MAXRSS = "ru_maxrss growth (lower bound: only memory above the process's earlier peak)"


def _status_bytes(key: str) -> int | None:
    try:
        match = re.search(rf"^{key}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def release_free_memory() -> None:
    """Collect garbage and return free heap pages to the OS where glibc allows it."""
    gc.collect()
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is not None:
        trim(0)


def _reset_high_water_mark() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


class PeakRssMeter:
    """Measure how far resident memory rose above its level at :meth:`start`."""

    def __init__(self) -> None:
        self.method = METHOD_MAXRSS
        self._base = 0

    def start(self) -> None:
        release_free_memory()
        current = _status_bytes("VmRSS")
        if current is not None and _reset_high_water_mark():
            self.method = METHOD_HWM
            self._base = current
        else:
            self.method = METHOD_MAXRSS
            self._base = max_rss_bytes()

    def growth_bytes(self) -> int:
        """Peak minus the starting level, never negative."""
        peak = _status_bytes("VmHWM") if self.method == METHOD_HWM else max_rss_bytes()
        return max(0, (peak or 0) - self._base)
