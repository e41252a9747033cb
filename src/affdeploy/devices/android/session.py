"""One phone during one benchmark: its files in DEVICE_DIR, its temperature, core pinning, runs.

Timeouts are derived here once, from what this phone measured (:class:`Pace`, per artifact): before
anything is measured, loading a model and its first inference get a bounded FIRST_STEP_S; a runner
that logs each iteration then gets SLACK times its first iteration for each one left, plus MARGIN_S;
a later process of the same artifact gets SLACK times what the earlier ones took. A runner that
overstays is stopped and the error names its step (loading the model, warm-up, timed runs) and phone.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
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
FIRST_STEP_S = 120.0  # start, model load and first inference, before anything was measured (a slow phone)
UNMEASURED_EXECUTION_S = 10.0  # one more inference in a process that logs none, before anything was measured
SLACK = 3.0  # a step may take this many times what the same work measured before
MARGIN_S = 20.0  # plus this (scheduling, a thermal dip)
_CPU_ZONE = re.compile(r"cpu|soc|cluster|big|mid|little|tsens|skin", re.I)
_ITERATION = re.compile(r"\] Iteration (\d+) of \d+: ([0-9.eE+-]+) ms")  # executor_runner >= 1.3, one per execution
_LOADED = re.compile(r"\] Model loaded in ")


@dataclass
class Pace:
    """What runner processes of one artifact took on this phone, from which the next one's limits derive."""

    first_s: float | None = None  # process start to the end of its first inference (the fastest process seen)
    execution_s: float | None = None  # one inference (an upper bound: the slowest seen)

    def first_limit(self) -> float:
        """Start, load and first inference: the bounded default until a process of this artifact was measured."""
        return FIRST_STEP_S if self.first_s is None else SLACK * self.first_s + MARGIN_S

    def limit(self, executions: int) -> float:
        """A whole process of ``executions`` inferences that logs none of them."""
        each = UNMEASURED_EXECUTION_S if self.execution_s is None else SLACK * self.execution_s
        return self.first_limit() + each * (executions - 1)

    def measured(self, first_s: float, execution_s: float) -> None:
        self.first_s = first_s if self.first_s is None else min(self.first_s, first_s)
        self.execution_s = execution_s if self.execution_s is None else max(self.execution_s, execution_s)


@dataclass(frozen=True)
class Step:
    """One runner process as its time limit sees it: ``executions`` inferences, the first ``warmup`` not timed."""

    name: str  # the runner, for messages
    artifact: str  # whose Pace applies
    executions: int
    warmup: int
    what: str  # what the process is for ("warm-up", "timed runs"), named when it hangs
    logs_iterations: bool = False  # executor_runner >= 1.3 logs each one: the limit follows them


class RunnerWatch:
    """Follows one runner process: which step it is in, when that step is overdue, progress for the user."""

    def __init__(self, step: Step, serial: str, pace: Pace, report: Callable[[str, float], None]) -> None:
        self.step, self.serial, self.pace, self.report = step, serial, pace, report
        self.start = time.monotonic()
        self.done = 0
        self.loaded = False
        self.limit_s = pace.first_limit() if step.logs_iterations else pace.limit(step.executions)
        self.deadline = self.start + self.limit_s

    def now_doing(self) -> str:
        if not self.step.logs_iterations:
            return f"its {self.step.what} process ({self.step.executions} inference(s), logging none)"
        if self.done == 0:
            return "the first warm-up run" if self.loaded and self.step.warmup else \
                "the first timed run" if self.loaded else "loading the model"
        if self.done < self.step.warmup:
            return f"warm-up (run {self.done + 1} of {self.step.warmup})"
        return f"timed runs (run {self.done - self.step.warmup + 1} of {self.step.executions - self.step.warmup})"

    def line(self, text: str) -> None:
        if _LOADED.search(text):
            self.loaded = True
        match = _ITERATION.search(text) if self.step.logs_iterations else None
        if match is None:
            return
        if self.done == 0:  # the first inference: each one left may take SLACK times as long
            now = time.monotonic()
            each = float(match.group(2)) / 1000.0
            self.pace.measured(now - self.start, each)
            self.limit_s = SLACK * each * (self.step.executions - 1) + MARGIN_S
            self.deadline = now + self.limit_s
        self.done = int(match.group(1))
        share = self.done / self.step.executions
        self.report(self.now_doing() if share < 1 else "finishing", share)

    def overdue(self) -> str | None:
        if time.monotonic() <= self.deadline:
            return None
        measured = self.done or self.pace.first_s is not None
        basis = "derived from the runs before it" if measured else "allowed before anything is measured"
        return (f"{self.step.name} hung on {self.serial} during {self.now_doing()}: not done within the "
                f"{self.limit_s:.0f} s {basis}")

    def finished(self) -> None:
        """A process that logged no iterations tells its whole time: the next one of this artifact is bounded by it."""
        if self.done == 0:
            took = time.monotonic() - self.start
            self.pace.measured(took, took / max(self.step.executions, 1))


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
        self.paces: dict[str, Pace] = {}
        self.report: Callable[[str, float], None] = lambda text, share: None  # progress of the current job
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

    def watch(self, step: Step) -> RunnerWatch:
        """The limits and progress of one runner process of ``step``, starting now."""
        return RunnerWatch(step, self.serial, self.paces.setdefault(step.artifact, Pace()), self.report)

    def report_sample_process(self, index: int, count: int) -> None:
        """Progress of a runner run as one process per timed sample (it logs no iterations)."""
        self.report(f"timed runs (process {index + 1} of {count})", index / count)

    def run_checked(self, command: str, step: Step) -> ShellResult:
        """Run a runner within the limits derived for ``step``; a non-zero exit is a DeviceError quoting its stderr."""
        watch = self.watch(step)
        result = self.adb.shell_watched(command, watch)
        if result.exit_code != 0:
            raise DeviceError(f"{step.name} exited with code {result.exit_code} on {self.serial}: {result.tail()}")
        watch.finished()
        return result

    def pull_output(self, name: str, run: ShellResult, remote: str, local: Path) -> None:
        """Pull the results file runner ``name`` should have written in ``run``: none is said so, not a failed pull."""
        listed = self.adb.shell(f"stat -c %s {shlex.quote(remote)}", check=False)
        if listed.exit_code != 0 or not listed.stdout.strip().isdigit():
            said = f"; its last lines: {run.tail()}" if run.tail() else ", printing nothing"
            raise DeviceError(f"{name} produced no output on {self.serial}: it exited with code {run.exit_code} "
                              f"without writing {remote}{said}", hint="run it by hand with `adb shell` to see why")
        self.adb.pull(remote, local, size=int(listed.stdout.strip()))
