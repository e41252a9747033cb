"""Android phones over adb: what is attached, what it is, and the on-phone benchmark flow.

Discovery reads properties (getprop), CPU clusters (cpufreq in /sys), battery (dumpsys battery)
and thermal zones (/sys/class/thermal) with a handful of shell calls per device.

``run_bench`` measures each model x target x threads configuration on one phone with one of three
runners: ExecuTorch's ``executor_runner`` or ONNX Runtime's ``onnxruntime_perf_test`` built for
Android by the user (paths from ``AFFDEPLOY_EXECUTOR_RUNNER`` / ``AFFDEPLOY_ORT_PERF_TEST``), or
the affdeploy benchmark app (android_app/) when it is installed. For every configuration it checks
free space, pushes what is missing (files whose sha256 already matches are not pushed again),
waits for the phone to cool down, pins the runner to the big cores, runs warm-up and measured
iterations, pulls the results and removes its temporary files. If the phone disappears mid-run,
the records measured so far are written to a partial results file named in the error.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import BenchRecord, DeviceInfo, dump_results
from affdeploy.devices import ResolvedDevice
from affdeploy.devices import runners as rn
from affdeploy.devices.adb import CONNECT_HINT, Adb, AttachedDevice, ShellResult
from affdeploy.devices.profiles import profile_for_model
from affdeploy.errors import DeviceError, ToolMissingError, UsageError
from affdeploy.fsutil import atomic_write_text, path_size, sha256_path

DEVICE_DIR = "/data/local/tmp/affdeploy"
APP_PACKAGE = "org.affdeploy.bench"
APP_ACTIVITY = f"{APP_PACKAGE}/.BenchmarkActivity"
APP_RESULTS = "files/benchmark_results.json"
ANDROID_TARGETS = ("executorch", "onnx")
TARGET_BACKEND = {"executorch": "xnnpack", "onnx": "ort-cpu"}  # what each target runs with on a phone
APP_BACKEND = {"executorch": "xnnpack", "onnx": "ort"}  # the app's --es backend values
RUNNER_ENV = {"executorch": "AFFDEPLOY_EXECUTOR_RUNNER", "onnx": "AFFDEPLOY_ORT_PERF_TEST"}
RUNNER_CHOICE_ENV = "AFFDEPLOY_ANDROID_RUNNER"  # auto | native | app
THERMAL_LIMIT_C = 45.0  # hottest CPU/SoC thermal zone must be below this before measuring
BATTERY_LIMIT_C = 38.0  # battery temperature must be below this before measuring
COOL_POLL_S = 2.0
FREE_SPACE_MARGIN = 16 * 1024 * 1024  # leave room for the runner's own temporary files
_CPU_ZONE = re.compile(r"cpu|soc|cluster|big|mid|little|tsens|skin", re.I)
_CPU_FREQ = re.compile(r"cpu(\d+)/cpufreq/cpuinfo_max_freq:(\d+)\s*$")
_THERMAL = re.compile(r"thermal_zone(\d+)/(type|temp):(.*)$")


# ----------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class Cluster:
    """CPUs sharing one maximum frequency (a core cluster)."""

    cpus: tuple[int, ...]
    max_khz: int

    def to_dict(self) -> dict[str, Any]:
        return {"cpus": list(self.cpus), "max_mhz": self.max_khz // 1000}


def read_clusters(adb: Adb) -> list[Cluster]:
    """CPU clusters from cpufreq's cpuinfo_max_freq, grouped by max frequency, big cluster last."""
    out = adb.shell("grep . /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq", check=False).stdout
    by_freq: dict[int, list[int]] = {}
    for line in out.splitlines():
        match = _CPU_FREQ.search(line.strip())
        if match:
            by_freq.setdefault(int(match.group(2)), []).append(int(match.group(1)))
    return [Cluster(tuple(sorted(cpus)), khz) for khz, cpus in sorted(by_freq.items())]


def read_thermal(adb: Adb) -> list[dict[str, Any]]:
    """Thermal zones with a readable temperature: zone number, type and °C (millidegrees converted)."""
    out = adb.shell(
        "grep . /sys/class/thermal/thermal_zone*/type /sys/class/thermal/thermal_zone*/temp", check=False
    ).stdout
    zones: dict[int, dict[str, Any]] = {}
    for line in out.splitlines():
        match = _THERMAL.search(line.strip())
        if match:
            zones.setdefault(int(match.group(1)), {"zone": int(match.group(1))})[match.group(2)] = match.group(3).strip()
    readings = []
    for zone in sorted(zones):
        entry = zones[zone]
        try:
            raw = float(entry["temp"])
        except (KeyError, ValueError):
            continue
        readings.append({"zone": zone, "type": entry.get("type", ""), "temp_c": raw / 1000.0 if abs(raw) >= 1000 else raw})
    return readings


def read_battery(adb: Adb) -> dict[str, Any]:
    """Battery level (%) and temperature (°C) from ``dumpsys battery`` (which reports tenths of °C)."""
    out = adb.shell("dumpsys battery", check=False).stdout
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if v}
    battery: dict[str, Any] = {}
    if fields.get("level", "").lstrip("-").isdigit():
        battery["level"] = int(fields["level"])
    if fields.get("temperature", "").lstrip("-").isdigit():
        battery["temperature_c"] = int(fields["temperature"]) / 10.0
    return battery


def _soc(props: dict[str, str]) -> str:
    for key in ("ro.soc.model", "ro.hardware.chipname", "ro.board.platform", "ro.hardware"):
        if props.get(key):
            return props[key]
    return ""


def describe(adb: Adb, attached: AttachedDevice | None = None) -> ResolvedDevice:
    """Everything ``affdeploy devices`` shows about the device ``adb`` is bound to."""
    serial = adb.serial or ""
    if attached is not None and attached.state != "device":
        info = DeviceInfo(kind="android", name=attached.attributes.get("model", serial), serial=serial,
                          model=attached.attributes.get("model", ""), extra={"state": attached.state})
        return ResolvedDevice(kind="android", id=serial, info=info)
    props = adb.getprop()
    clusters = read_clusters(adb)
    model = props.get("ro.product.model", "")
    prof = profile_for_model(model)
    sdk = props.get("ro.build.version.sdk", "")
    release = props.get("ro.build.version.release", "")
    info = DeviceInfo(
        kind="android",
        name=prof.name if prof else (model or serial),
        model=model,
        manufacturer=props.get("ro.product.manufacturer", ""),
        serial=serial,
        soc=_soc(props),
        abi=props.get("ro.product.cpu.abi", ""),
        os=f"Android {release}" + (f" (SDK {sdk})" if sdk else "") if release else "",
        cpu=props.get("ro.hardware", ""),
        cores=sum(len(c.cpus) for c in clusters),
        extra={
            "state": "device",
            "sdk": int(sdk) if sdk.isdigit() else None,
            "clusters": [c.to_dict() for c in clusters],
            "battery": read_battery(adb),
            "thermal": read_thermal(adb),
        },
    )
    return ResolvedDevice(kind="android", id=serial, info=info, profile=prof)


def list_devices(adb: Adb | None = None) -> list[ResolvedDevice]:
    """Every device the adb server sees (unauthorized/offline ones with their state only)."""
    adb = adb or Adb()
    return [describe(adb.for_device(d.serial), d) for d in adb.devices()]


def attached_summary(adb: Adb) -> str:
    """One phrase naming what is attached, for error messages."""
    found = adb.devices()
    if not found:
        return "no Android device is attached"
    parts = [f"{d.serial} ({d.attributes.get('model', '?')}, {d.state})" for d in found]
    return "attached: " + ", ".join(parts)


def find_device(selector: str, adb: Adb | None = None) -> ResolvedDevice | None:
    """The attached device whose serial is ``selector``, or whose model matches the profile ``selector``.

    Returns None when nothing matches; raises DeviceError when several devices match a profile.
    """
    from affdeploy.devices.profiles import profile

    adb = adb or Adb()
    attached = adb.devices()
    for dev in attached:
        if dev.serial == selector:
            return _ready(adb, dev)
    prof = profile(selector)
    if prof is None or prof.platform != "android":
        return None
    wanted = {m.lower() for m in prof.match}
    hits = [d for d in attached if d.attributes.get("model", "").replace("_", " ").lower() in wanted]
    if not hits:  # `adb devices -l` mangles spaces; getprop is authoritative
        hits = [d for d in attached if d.state == "device"
                and adb.for_device(d.serial).getprop().get("ro.product.model", "").lower() in wanted]
    if len(hits) > 1:
        raise DeviceError(
            f"{len(hits)} attached devices match profile {prof.name} ({', '.join(d.serial for d in hits)})",
            hint="pick one by serial: --device <serial>",
        )
    return _ready(adb, hits[0]) if hits else None


def _ready(adb: Adb, dev: AttachedDevice) -> ResolvedDevice:
    if dev.state != "device":
        raise DeviceError(
            f"device {dev.serial} is {dev.state}",
            hint="accept the USB debugging prompt on the phone" if dev.state == "unauthorized" else CONNECT_HINT,
        )
    return describe(adb.for_device(dev.serial), dev)


# ----------------------------------------------------------------------------- bench flow


@dataclass
class RunnerPaths:
    """Host paths of the native runners; None means "not configured"."""

    executor_runner: Path | None = None
    ort_perf_test: Path | None = None
    choice: str = "auto"  # auto: native runner when configured, else the app | native | app

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "RunnerPaths":
        env = dict(os.environ if env is None else env)
        paths = {k: Path(env[v]).expanduser() if env.get(v) else None for k, v in RUNNER_ENV.items()}
        choice = env.get(RUNNER_CHOICE_ENV, "auto")
        if choice not in ("auto", "native", "app"):
            raise UsageError(f"{RUNNER_CHOICE_ENV} must be auto, native or app, not {choice!r}")
        return cls(executor_runner=paths["executorch"], ort_perf_test=paths["onnx"], choice=choice)

    def native(self, target: str) -> Path | None:
        path = self.executor_runner if target == "executorch" else self.ort_perf_test
        if path is not None and not path.is_file():
            raise UsageError(f"runner {path} does not exist", hint=f"check {RUNNER_ENV[target]} / --runner-path")
        return path


@dataclass
class _Config:
    model: str
    target: str
    fft: str
    threads: int
    artifact: Path
    artifact_sha: str


@dataclass
class _Measured:
    runner: str
    output: rn.RunnerOutput
    warmup: int = 0
    notes: list[str] = field(default_factory=list)
    tools: dict[str, str] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def big_core_mask(clusters: list[Cluster], threads: int) -> tuple[int, list[int]]:
    """taskset mask of the big cluster, widened to the next clusters until it has ``threads`` cores."""
    chosen: list[int] = []
    for cluster in reversed(clusters):
        chosen.extend(cluster.cpus)
        if len(chosen) >= threads:
            break
    return sum(1 << c for c in chosen), sorted(chosen)


class AndroidSession:
    """One phone during one ``run_bench`` call: its adb handle, facts and temporary files."""

    def __init__(self, device: ResolvedDevice, request: BenchRequest, runners: RunnerPaths, adb: Adb) -> None:
        self.device = device
        self.request = request
        self.runners = runners
        self.adb = adb.for_device(device.id)
        self.clusters = [Cluster(tuple(c["cpus"]), int(c["max_mhz"]) * 1000) for c in device.info.extra.get("clusters", [])]
        self.temp_files: list[str] = []
        self.app_checked: bool | None = None
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
                f"not enough free space on {self.device.id}: {DEVICE_DIR} has {free / 2**20:.1f} MiB free, "
                f"pushing {', '.join(lo.name for lo, _, _ in missing)} needs {(needed + FREE_SPACE_MARGIN) / 2**20:.1f} MiB",
                hint="free space on the phone (e.g. `adb shell rm -r /data/local/tmp/affdeploy`) and run again",
            )
        for local, remote, _ in missing:
            self.adb.push(local, remote)
        return [f"pushed {', '.join(lo.name for lo, _, _ in missing)}"]

    def push_runner(self, host_path: Path) -> tuple[str, list[str]]:
        """Device path of the runner binary (plus libonnxruntime.so beside it, if any), pushed if needed."""
        remote = f"{DEVICE_DIR}/{host_path.name}"
        files = [(host_path, remote)]
        lib = host_path.parent / "libonnxruntime.so"
        if lib.is_file():
            files.append((lib, f"{DEVICE_DIR}/{lib.name}"))
        return remote, files

    def cleanup(self) -> None:
        """Remove this run's temporary files; models and runners stay cached for the next run."""
        if self.temp_files:
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
            if waited >= max_wait_s:
                return [
                    f"device still hot after waiting {waited:.0f} s (max --cooldown): CPU {cpu} °C, battery "
                    f"{battery} °C (limits {limit_cpu:g}/{limit_bat:g} °C); results may be throttled"
                ]
            time.sleep(min(COOL_POLL_S, max_wait_s - waited))

    # -- runners

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
            raise DeviceError(f"{name} exited with code {result.exit_code} on {self.device.id}: {result.tail()}")
        return result

    def iterations(self) -> tuple[int, int, list[str]]:
        """(warm-up, measured) iteration counts; time-based budgets become counts on phones."""
        req = self.request
        notes = []
        warmup = req.warmup if req.warmup is not None else 5
        iters = req.iters if req.iters is not None else 30
        if req.warmup_s is not None or req.min_s is not None:
            notes.append(f"time budgets are not supported by on-phone runners: used {warmup} warm-up / {iters} iterations")
        return warmup, iters, notes

    def run_executor_runner(self, cfg: _Config, binary: str, warmup: int, iters: int) -> _Measured:
        model = f"{DEVICE_DIR}/{cfg.artifact.name}"
        timeout = 300.0 + 10.0 * (warmup + iters)
        first_cmd, notes = self.pinned(
            rn.executor_runner_command(binary, model, executions=warmup + iters, threads=cfg.threads), cfg.threads)
        first = self.run_checked(rn.EXECUTOR_RUNNER, first_cmd, timeout)
        if rn.logs_iterations(first.output):
            notes.append(f"one executor_runner process: {warmup} warm-up + {iters} measured executions, per-iteration log lines")
            return _Measured(rn.EXECUTOR_RUNNER, rn.parse_executor_runner(first.output, warmup=warmup), notes=notes)
        # Older builds log only a total: the first process was the warm-up, then one process per sample.
        samples: list[float] = []
        load: float | None = None
        cmd, _ = self.pinned(rn.executor_runner_command(binary, model, executions=1, threads=cfg.threads), cfg.threads)
        for _ in range(iters):
            out = rn.parse_executor_runner(self.run_checked(rn.EXECUTOR_RUNNER, cmd, 300.0).output, warmup=0)
            samples.extend(out.samples_ms)
            load = out.load_ms
        notes.append("this executor_runner build logs only a total: one process per sample (--num_executions=1) "
                     f"after a warm-up process of {warmup + iters} executions")
        return _Measured(rn.EXECUTOR_RUNNER, rn.RunnerOutput(samples_ms=samples, load_ms=load), notes=notes)

    def run_ort_perf_test(self, cfg: _Config, binary: str, warmup: int, iters: int) -> _Measured:
        model = f"{DEVICE_DIR}/{cfg.artifact.name}"
        result_file = f"{DEVICE_DIR}/ort-result-{os.getpid()}.csv"
        self.temp_files.append(result_file)
        notes: list[str] = []
        if warmup > 1:  # the tool always runs one warm-up inference itself
            cmd, _ = self.pinned(rn.ort_perf_test_command(binary, model, result_file, runs=warmup - 1,
                                                          threads=cfg.threads, provider="cpu"), cfg.threads)
            self.run_checked(rn.ORT_PERF_TEST, cmd, 300.0 + 10.0 * warmup)
            notes.append(f"{warmup - 1} warm-up runs in a separate onnxruntime_perf_test process")
        self.adb.shell(f"rm -f {result_file}")
        cmd, pin_notes = self.pinned(rn.ort_perf_test_command(binary, model, result_file, runs=iters,
                                                              threads=cfg.threads, provider="cpu"), cfg.threads)
        out = self.run_checked(rn.ORT_PERF_TEST, cmd, 300.0 + 10.0 * iters)
        with tempfile.TemporaryDirectory(prefix="affdeploy-pull-") as tmp:
            local = Path(tmp) / "result.csv"
            self.adb.pull(result_file, local)
            parsed = rn.parse_ort_perf_test(out.stdout, local.read_text("utf-8", "replace"))
        return _Measured(rn.ORT_PERF_TEST, parsed, notes=pin_notes + notes + parsed.notes)

    def app_installed(self) -> bool:
        if self.app_checked is None:
            result = self.adb.shell(f"pm path {APP_PACKAGE}", check=False)
            self.app_checked = result.exit_code == 0 and "package:" in result.stdout
        return self.app_checked

    def run_app(self, cfg: _Config, warmup: int, iters: int) -> _Measured:
        """Start BenchmarkActivity with intent extras and wait for its results JSON (read via run-as)."""
        run_as = f"run-as {APP_PACKAGE}"
        self.adb.shell(f"{run_as} rm -f {APP_RESULTS}", check=False)
        extras = {
            "--es model_path": f"{DEVICE_DIR}/{cfg.artifact.name}", "--es backend": APP_BACKEND[cfg.target],
            "--ei warmup": warmup, "--ei iterations": iters, "--ei threads": cfg.threads,
            "--es model_name": cfg.model, "--es fft": cfg.fft,
        }
        args = " ".join(f"{k} {shlex.quote(str(v))}" for k, v in extras.items())
        started = self.adb.shell(f"am start -W -n {APP_ACTIVITY} {args}").stdout
        if "Error" in started:
            raise DeviceError(f"could not start {APP_ACTIVITY}: {started.strip().splitlines()[-1]}")
        deadline = time.monotonic() + 300.0 + 10.0 * (warmup + iters)
        while True:
            result = self.adb.shell(f"{run_as} cat {APP_RESULTS}", check=False)
            if result.exit_code == 0 and result.stdout.strip():
                try:
                    doc = json.loads(result.stdout)
                    break
                except json.JSONDecodeError:
                    pass  # the app is still writing it
            if time.monotonic() > deadline:
                raise DeviceError(f"the benchmark app wrote no {APP_RESULTS} within the time limit",
                                  hint="look at `adb logcat -s AffdeployBench` for its error")
            time.sleep(1.0)
        self.adb.shell(f"{run_as} rm -f {APP_RESULTS}", check=False)
        records = [BenchRecord.from_dict(r) for r in (doc.get("records") if isinstance(doc, dict) else None) or []]
        if not records:
            raise DeviceError(f"the benchmark app's {APP_RESULTS} holds no records")
        app = records[0]
        output = rn.RunnerOutput(app.samples_ms, load_ms=app.load_ms, first_inference_ms=app.first_inference_ms)
        notes = ["measured by the benchmark app in the foreground (Android schedules it; not pinned)", *app.notes]
        return _Measured("android-app", output, notes=notes, tools=app.tools)

    def measure(self, cfg: _Config) -> _Measured:
        """Push, cool down, run the chosen runner for one configuration and clean up."""
        warmup, iters, notes = self.iterations()
        native = None if self.runners.choice == "app" else self.runners.native(cfg.target)
        files = [(cfg.artifact, f"{DEVICE_DIR}/{cfg.artifact.name}")]
        binary = None
        if native is not None:
            binary, runner_files = self.push_runner(native)
            files += runner_files
        elif self.runners.choice == "native" or not self.app_installed():
            raise ToolMissingError(
                f"no Android runner for {cfg.target}: neither {RUNNER_ENV[cfg.target]} is set nor the app "
                f"{APP_PACKAGE} is installed on {self.device.id}",
                hint="build the runner (docs/android.md) and pass --runner-path / set the variable, or install android_app",
            )
        notes += self.sync(files)
        if binary is not None:
            self.adb.shell(f"chmod 755 {shlex.quote(binary)}")
        notes += self.cool_down(self.request.cooldown_s)
        try:
            if binary is None:
                measured = self.run_app(cfg, warmup, iters)
            elif cfg.target == "executorch":
                measured = self.run_executor_runner(cfg, binary, warmup, iters)
            else:
                measured = self.run_ort_perf_test(cfg, binary, warmup, iters)
        finally:
            if self.adb.state() == "device":
                self.cleanup()
        if native is not None:
            measured.tools = {measured.runner: sha256_path(native)[:16]}
        measured.notes = notes + measured.notes
        measured.warmup = warmup
        return measured


def _macs(model: str, image_size: int, cache: dict[tuple[str, int], int]) -> int:
    if (model, image_size) not in cache:
        from affdeploy.models import build_model
        from affdeploy.models.profile import profile_model

        cache[(model, image_size)] = profile_model(build_model(model), image_size).macs
    return cache[(model, image_size)]


def _record(session: AndroidSession, cfg: _Config, measured: _Measured, macs: int) -> BenchRecord:
    from affdeploy.bench.stats import compute_stats

    stats = compute_stats(measured.output.samples_ms)
    notes = list(measured.notes)
    if measured.output.peak_memory_bytes is not None:
        notes.append(f"runner peak working set {measured.output.peak_memory_bytes} bytes")
    return BenchRecord(
        model=cfg.model, target=cfg.target, backend=TARGET_BACKEND[cfg.target], fft=cfg.fft, threads=cfg.threads,
        precision=session.request.precision, image_size=session.request.image_size,
        device=replace(session.device.info, extra=dict(session.device.info.extra)),
        runner=measured.runner, samples_ms=measured.output.samples_ms, stats=stats, warmup=measured.warmup,
        load_ms=measured.output.load_ms, first_inference_ms=measured.output.first_inference_ms,
        macs=macs, gmacs_per_s=macs / (stats.p50 * 1e6) if stats.p50 > 0 else None,
        artifact_sha256=cfg.artifact_sha, artifact_path=str(cfg.artifact),
        tools=measured.tools, timestamp=_now(), notes=notes,
    )


def _partial_path(request: BenchRequest, device: ResolvedDevice) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", device.id)
    return Path(request.models_dir).parent / "results" / f"android-partial-{safe}-{stamp}.json"


def _artifacts(request: BenchRequest, targets: list[str]) -> Iterator[tuple[str, str, Path, str]]:
    """(model, target, artifact, fft) to measure: the given --artifact files, else exported/cached ones."""
    from affdeploy.bench.artifacts import ensure_artifact
    from affdeploy.bench.engine import ARTIFACT_SUFFIXES

    for path in map(Path, request.artifacts):
        target = ARTIFACT_SUFFIXES.get(path.suffix)
        if target is None:
            raise UsageError(f"cannot benchmark {path} on Android: expected one of {', '.join(ARTIFACT_SUFFIXES)}")
        yield request.models[0], target, path, request.fft if request.fft != "auto" else "unknown"
    if request.artifacts:
        return
    for model in request.models:
        for target in targets:
            artifact, entry = ensure_artifact(
                model, target, fft=request.fft, image_size=request.image_size, precision=request.precision,
                weights=request.weights, models_dir=request.models_dir,  # same cache keys as the host bench
            )
            yield model, target, artifact, entry.fft


def run_bench(
    request: BenchRequest,
    device: ResolvedDevice,
    *,
    runners: RunnerPaths | None = None,
    on_record: Callable[[BenchRecord], None] | None = None,
    partial_path: Path | None = None,
    adb: Adb | None = None,
) -> list[BenchRecord]:
    """Benchmark every requested configuration on ``device``; targets a phone cannot run are skipped.

    If the device disappears mid-run, the records measured so far are written to ``partial_path``
    (default results/android-partial-<serial>-<time>.json) and the DeviceError says where.
    """
    targets = [t for t in request.targets if t in ANDROID_TARGETS]
    if not targets and not request.artifacts:
        raise UsageError(f"none of the targets {', '.join(request.targets)} runs on Android (use executorch or onnx)")
    session = AndroidSession(device, request, runners or RunnerPaths.from_env(), adb or Adb())
    records: list[BenchRecord] = []
    macs_cache: dict[tuple[str, int], int] = {}
    try:
        for model, target, artifact, fft in _artifacts(request, targets):
            for threads in request.threads:
                cfg = _Config(model, target, fft, threads, artifact, sha256_path(artifact))
                record = _record(session, cfg, session.measure(cfg), _macs(model, request.image_size, macs_cache))
                records.append(record)
                if on_record is not None:
                    on_record(record)
    except DeviceError as exc:
        if not records:
            raise
        path = partial_path or _partial_path(request, device)
        atomic_write_text(path, json.dumps(dump_results(records), indent=2) + "\n")
        raise DeviceError(f"{exc.message}; the {len(records)} record(s) measured before were saved to {path}",
                          hint=exc.hint) from None
    return records
