"""The fp32 GEMM yardstick: what this machine's dense kernels reach at a given thread count.

A model's GMAC/s means little on its own; against a large matrix product measured in the same run,
with the same threads, it says how much of the machine the model uses. Three mistakes made an
earlier yardstick read low (and models above 100% of it): best-of instead of median, measured
before and after the models instead of interleaved with them, and a thread setting nobody checked.
Here the thread counts of every pool involved are read back (:func:`thread_setting`) and a
mismatch is an error, and the GEMMs are timed as configurations of the same interleaved rounds.
Two GEMM libraries are measured (torch's MKL and numpy's OpenBLAS); the faster median is the
yardstick, because the stricter reference is the honest one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from affdeploy.errors import AffdeployError

GEMM_SIZE = 1024


@dataclass(frozen=True)
class ThreadSetting:
    """Thread counts as the pools report them (None: that runtime is not loaded in this process)."""

    torch: int
    native_pools: dict[str, int]  # threadpoolctl: OpenMP / BLAS libraries loaded in the process
    executorch: int | None

    def counts(self) -> dict[str, int]:
        counts = {"torch": self.torch, **self.native_pools}
        if self.executorch is not None:
            counts["executorch"] = self.executorch
        return counts


def executorch_pool_size() -> int | None:
    """Threads of ExecuTorch's process-wide XNNPACK pool, if its runtime is loaded."""
    import sys

    portable_lib = sys.modules.get("executorch.extension.pybindings.portable_lib")
    return None if portable_lib is None else int(portable_lib._threadpool_get_thread_count())


def thread_setting() -> ThreadSetting:
    """Read back what every thread pool in this process is set to."""
    from threadpoolctl import threadpool_info

    pools = {f"{info['user_api']}:{info['prefix']}": int(info["num_threads"]) for info in threadpool_info()}
    return ThreadSetting(torch=torch.get_num_threads(), native_pools=pools, executorch=executorch_pool_size())


def pin_threads(threads: int) -> ThreadSetting:
    """Set torch and the native OpenMP/BLAS pools to ``threads`` and check that they took it.

    ExecuTorch's pool is sized separately, before its methods load (resetting it later would leave
    loaded methods pointing at a destroyed pool): see ``affdeploy.bench.runtimes``.
    """
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)
    setting = thread_setting()
    check_threads(setting, threads)
    return setting


def check_threads(setting: ThreadSetting, threads: int) -> None:
    """Raise when any pool runs with another thread count than ``threads``."""
    wrong = {name: n for name, n in setting.counts().items() if n != threads}
    if wrong:
        shown = ", ".join(f"{name}={n}" for name, n in sorted(wrong.items()))
        raise AffdeployError(f"thread pools are not at {threads} thread(s): {shown}")


def gemm_calls(size: int = GEMM_SIZE, seed: int = 0) -> dict[str, Callable[[], object]]:
    """One ``size``^3 fp32 product per call, per library, writing into preallocated outputs."""
    generator = torch.Generator().manual_seed(seed)
    a, b = torch.randn(size, size, generator=generator), torch.randn(size, size, generator=generator)
    out = torch.empty(size, size)
    an, bn, outn = a.numpy(), b.numpy(), np.empty((size, size), dtype=np.float32)
    return {
        "gemm-torch": lambda: torch.mm(a, b, out=out),
        "gemm-numpy": lambda: np.matmul(an, bn, out=outn),
    }


def gemm_macs(size: int = GEMM_SIZE) -> int:
    return size**3


def gmacs_per_s(macs: int, seconds: float) -> float:
    return macs / seconds / 1e9 if seconds > 0 and math.isfinite(seconds) else 0.0


def yardstick(medians_s: dict[str, float], size: int = GEMM_SIZE) -> tuple[str, float]:
    """The faster GEMM library and its GMAC/s, from median seconds per call measured in the same rounds."""
    name = min(medians_s, key=medians_s.__getitem__)
    return name, gmacs_per_s(gemm_macs(size), medians_s[name])
