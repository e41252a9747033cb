"""Bounds that keep a request within what the model and this machine can take.

Without them ``--image-size 100000`` passes the multiple-of-32 check and dies allocating 120 GB,
and ``--threads 1000`` starts a thousand-thread pool per runtime and appears to hang. Both are
refused up front, with the limit in the message.
"""

from __future__ import annotations

import os
from pathlib import Path

from affdeploy.errors import UsageError

BYTES_PER_PIXEL = 6 * 1024
"""Peak memory per input pixel while exporting or profiling. Measured on AFFNet (the widest variant):
peak RSS of ``affdeploy info`` grows 3.7 kB per pixel from 256 to 768 px, an ExecuTorch export
peaks ~20% above ``info``; 6 KiB leaves room for the other targets."""
BASE_BYTES = 1 << 30  # torch, the converters and the runtimes before any image-sized tensor
THREADS_PER_CORE = 4


def available_memory_bytes() -> int:
    """Memory a new allocation can get now (Linux MemAvailable; elsewhere all physical memory)."""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def max_image_size(memory: int | None = None) -> int:
    """The largest multiple of 32 whose export fits in ``memory`` bytes (default: available now)."""
    memory = available_memory_bytes() if memory is None else memory
    side = int(max(memory - BASE_BYTES, 0) / BYTES_PER_PIXEL) ** 0.5
    return max(32, int(side) // 32 * 32)


def check_image_fits(image_size: int) -> None:
    """Refuse an image size this machine's memory cannot take, saying the limit."""
    limit = max_image_size()
    if image_size > limit:
        need = BASE_BYTES + BYTES_PER_PIXEL * image_size**2
        raise UsageError(f"--image-size {image_size} needs about {need / 1e9:,.0f} GB of memory; this machine has "
                         f"{available_memory_bytes() / 1e9:.1f} GB available, enough for at most --image-size {limit}")


def max_threads() -> int:
    """At most THREADS_PER_CORE threads per core usable by this process."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        cores = os.cpu_count() or 1
    return THREADS_PER_CORE * cores


def check_threads(threads: list[int]) -> None:
    """Refuse thread counts far beyond the cores: they only oversubscribe and can stall for minutes."""
    limit = max_threads()
    too_many = [t for t in threads if t > limit]
    if too_many:
        raise UsageError(f"--threads {too_many[0]} is more than {THREADS_PER_CORE}x the {limit // THREADS_PER_CORE} "
                         f"cores of this machine; use at most {limit}")
