"""One phone during one benchmark: its files in DEVICE_DIR, its temperature, core pinning, runs.

Timeouts are derived here once: a step that runs a model gets ``runner_timeout(executions)``.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import time
from pathlib import Path

from affdeploy.devices.android.adb import Adb, ShellResult
from affdeploy.devices.android.probes import Cluster, read_battery, read_thermal
from affdeploy.errors import DeviceError
from affdeploy.fsutil import path_size, sha256_path

log = logging.getLogger(__name__)

DEVICE_DIR = "/data/local/tmp/affdeploy"
THERMAL_LIMIT_C = 45.0  # hottest CPU/SoC thermal zone must be below this before measuring
BATTERY_LIMIT_C = 38.0  # battery temperature must be below this before measuring
COOL_POLL_S = 2.0
FREE_SPACE_MARGIN = 16 * 1024 * 1024  # leave room for the runner's own temporary files
RUNNER_START_S = 300.0  # loading a model (and the runtime's first-run set-up) on a slow phone
RUNNER_PER_EXECUTION_S = 10.0  # one inference of the largest AFFNet on a slow phone, with margin
_CPU_ZONE = re.compile(r"cpu|soc|cluster|big|mid|little|tsens|skin", re.I)


def runner_timeout(executions: int) -> float:
    """How long one process that loads a model and runs it ``executions`` times may take."""
    return RUNNER_START_S + RUNNER_PER_EXECUTION_S * executions


def big_core_mask(clusters: list[Cluster], threads: int) -> tuple[int, list[int]]:
    """taskset mask of the big cluster, widened to the next clusters until it has ``threads`` cores."""
    chosen: list[int] = []
    for cluster in reversed(clusters):
        chosen.extend(cluster.cpus)
        if len(chosen) >= threads:
            break
    return sum(1 << c for c in chosen), sorted(chosen)


class AndroidSession:
    """adb bound to one phone, with its clusters and the temporary files to remove at the end."""

    def __init__(self, serial: str, clusters: list[Cluster], adb: Adb | None = None) -> None:
        self.serial = serial
        self.adb = (adb or Adb()).for_device(serial)
        self.clusters = clusters
        self.temp_files: list[str] = []
        self.adb.shell(f"mkdir -p {DEVICE_DIR}")

    # -- files

    def free_bytes(self) -> int:
        """Bytes available to us in DEVICE_DIR, from ``df`` (1K blocks, toybox's default)."""
        out = self.adb.shell(f"df {DEVICE_DIR}").stdout.strip().splitlines()
        header, row = out[0].split(), out[-1].split()
        try:
            column = next((header.index(h) for h in ("Available", "Avail") if h in header), 3)
            return int(row[column]) * 1024
        except (ValueError, IndexError):
            raise DeviceError(f"cannot read free space from `df {DEVICE_DIR}`: {out[-1]!r}") from None

    def remote_sha(self, remote: str) -> str | None:
        result = self.adb.shell(f"sha256sum {shlex.quote(remote)}", check=False)
        return result.stdout.split()[0] if result.exit_code == 0 and result.stdout.strip() else None

    def sync(self, files: list[tuple[Path, str]]) -> list[str]:
        """Push each (host file, device path) whose sha256 differs; check free space first."""
        missing = [(local, remote, sha256_path(local)) for local, remote in files]
        missing = [(lo, re_, sha) for lo, re_, sha in missing if self.remote_sha(re_) != sha]
        if not missing:
            return ["model and runner already on the device (same sha256), not pushed again"]
        needed = sum(path_size(lo) for lo, _, _ in missing)
        free = self.free_bytes()
        if free < needed + FREE_SPACE_MARGIN:
            raise DeviceError(
                f"not enough free space on {self.serial}: {DEVICE_DIR} has {free / 2**20:.1f} MiB free, "
                f"pushing {', '.join(lo.name for lo, _, _ in missing)} needs {(needed + FREE_SPACE_MARGIN) / 2**20:.1f} MiB",
                hint="free space on the phone (e.g. `adb shell rm -r /data/local/tmp/affdeploy`) and run again",
            )
        for local, remote, _ in missing:
            self.adb.push(local, remote)
        return [f"pushed {', '.join(lo.name for lo, _, _ in missing)}"]

    def temp_file(self, stem: str, suffix: str) -> str:
        """A device path in DEVICE_DIR, unique to this process, that :meth:`cleanup` removes."""
        path = f"{DEVICE_DIR}/{stem}-{os.getpid()}{suffix}"
        self.temp_files.append(path)
        return path

    def cleanup(self) -> None:
        """Remove this run's temporary files; models and runners stay cached for the next run."""
        if self.temp_files and self.adb.state() == "device":
            self.adb.shell("rm -f " + " ".join(shlex.quote(p) for p in self.temp_files), check=False)
        self.temp_files.clear()

    # -- thermals

    def temperatures(self) -> tuple[float | None, float | None]:
        """Hottest CPU/SoC thermal zone (all zones if none is named like one) and battery, in °C."""
        zones = read_thermal(self.adb)
        cpu_zones = [z for z in zones if _CPU_ZONE.search(z["type"])] or zones
        hottest = max((z["temp_c"] for z in cpu_zones), default=None)
        return hottest, read_battery(self.adb).get("temperature_c")

    def cool_down(self, max_wait_s: float) -> list[str]:
        """Wait (at most ``max_wait_s``) until thermal zones and battery are under their limits."""
        limit_cpu = float(os.environ.get("AFFDEPLOY_THERMAL_LIMIT_C", THERMAL_LIMIT_C))
        limit_bat = float(os.environ.get("AFFDEPLOY_BATTERY_LIMIT_C", BATTERY_LIMIT_C))
        start = time.monotonic()
        while True:
            cpu, battery = self.temperatures()
            hot = (cpu is not None and cpu >= limit_cpu) or (battery is not None and battery >= limit_bat)
            waited = time.monotonic() - start
            if not hot:
                return [f"cooled down for {waited:.0f} s before measuring"] if waited >= 1 else []
            log.debug("%s is hot (CPU %s °C, battery %s °C); waited %.0f s", self.serial, cpu, battery, waited)
            if waited >= max_wait_s:
                return [
                    f"device still hot after waiting {waited:.0f} s (max --cooldown): CPU {cpu} °C, battery "
                    f"{battery} °C (limits {limit_cpu:g}/{limit_bat:g} °C); results may be throttled"
                ]
            time.sleep(min(COOL_POLL_S, max_wait_s - waited))

    # -- running

    def pinned(self, command: str, threads: int) -> tuple[str, list[str]]:
        """``command`` under ``taskset`` on the big cores (when the clusters are known)."""
        env = f"cd {DEVICE_DIR} && LD_LIBRARY_PATH={DEVICE_DIR} "
        if not self.clusters:
            return env + command, ["CPU clusters unknown (cpufreq unreadable): runner not pinned"]
        mask, cpus = big_core_mask(self.clusters, threads)
        return f"{env}taskset {mask:x} {command}", [f"pinned to CPUs {cpus} (taskset {mask:x})"]

    def run_checked(self, name: str, command: str, timeout: float) -> ShellResult:
        """Run a runner; a non-zero exit is a DeviceError quoting the tail of its stderr."""
        result = self.adb.shell(command, timeout=timeout, check=False)
        if result.exit_code != 0:
            raise DeviceError(f"{name} exited with code {result.exit_code} on {self.serial}: {result.tail()}")
        return result
