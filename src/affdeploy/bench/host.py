"""Facts about this machine and its tools, recorded with every host benchmark.

Results are only comparable when the reader knows what produced them, so every record carries
the CPU, core count, memory, OS and the versions of every runtime involved.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path

from affdeploy.bench.openmp import openmp_wait_policy
from affdeploy.bench.schema import DeviceInfo

_CPU_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "neon", "asimd")


def _cpuinfo() -> dict[str, str]:
    """The first processor block of /proc/cpuinfo (empty off Linux)."""
    info: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        if not line.strip():
            if info:
                break
            continue
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def host_device_info() -> DeviceInfo:
    """DeviceInfo for this machine: CPU model, cores usable by this process, memory, OS, ISA flags."""
    cpu = _cpuinfo()
    flags = set((cpu.get("flags") or cpu.get("Features") or "").split())
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    extra: dict[str, object] = {
        "logical_cpus": os.cpu_count() or 0,
        "isa_flags": [f for f in _CPU_FLAGS if f in flags],
        "python": sys.version.split()[0],
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else [],
        "openmp_wait_policy": openmp_wait_policy(),  # idle torch threads: PASSIVE sleeps, default spins first
    }
    return DeviceInfo(
        kind="host",
        name=platform.node() or "host",
        model=platform.machine(),
        manufacturer=cpu.get("vendor_id", ""),
        abi=platform.machine(),
        os=f"{platform.system()} {platform.release()}",
        cpu=cpu.get("model name") or platform.processor() or platform.machine(),
        cores=usable,
        memory_bytes=_memory_bytes(),
        extra=extra,
    )


def max_rss_bytes() -> int:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024
