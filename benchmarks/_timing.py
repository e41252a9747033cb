"""The one interleaved timing loop every benchmark script uses.

Configurations run in rounds; each round gives every configuration ``per_round`` timed calls and
the starting configuration rotates, so a background job or a clock change on this shared machine
falls on all of them alike and the ratios stay fair. Garbage collection is paused during each
configuration's calls (a collection inside one sample is noise, not the runtime's cost).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

Progress = Callable[[int, dict[str, list[float]]], None]
"""Called after each round with its number (from 1) and the samples so far."""


def interleaved(calls: dict[str, Callable[[], object]], rounds: int, per_round: int = 1, warmup: int = 0,
                progress: Progress | None = None) -> dict[str, list[float]]:
    """Milliseconds per call of each configuration: ``warmup`` untimed calls each, then the rounds."""
    names = list(calls)
    for name in names:
        for _ in range(warmup):
            calls[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            call = calls[name]
            gc.disable()
            try:
                for _ in range(per_round):
                    start = time.perf_counter_ns()
                    call()
                    samples[name].append((time.perf_counter_ns() - start) / 1e6)
            finally:
                gc.enable()
        if progress is not None:
            progress(r + 1, samples)
    return samples
