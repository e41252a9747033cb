"""The virtual phone's state, shared by the server process, its device tools and the test process.

Everything lives in two directories: ``root`` (the device filesystem: /data, /sdcard, /sys, /proc/cpuinfo)
and ``state`` (config, logs, fault settings, the tools' bin dir). Plain files keep the three
processes in agreement without any IPC.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

GIB = 1024**3
# Device absolute paths that the shell maps into the scratch root (anything else is the host's).
_DEVICE_PREFIX = re.compile(
    r"(?<![\w/.$}-])/(?:data|sdcard|storage|sys|mnt|proc/cpuinfo|proc/meminfo)(?![\w.-])"
)


@dataclass
class DeviceConfig:
    """What the phone claims to be. Defaults describe a Pixel 7 (Tensor G2, 4+2+2 cores)."""

    serialno: str = "LOOPBACK0001"
    model: str = "Pixel 7"
    manufacturer: str = "Google"
    product: str = "panther"
    device: str = "panther"
    soc_model: str = "Tensor G2"
    soc_manufacturer: str = "Google"
    hardware: str = "panther"
    abi: str = "arm64-v8a"
    release: str = "14"
    sdk: int = 34
    # (first cpu, last cpu, max frequency in kHz) per cluster, little to big.
    clusters: list[tuple[int, int, int]] = field(
        default_factory=lambda: [(0, 3, 1803000), (4, 5, 2348000), (6, 7, 2850000)]
    )
    thermal_zones: dict[str, float] = field(
        default_factory=lambda: {"BIG": 32.0, "MID": 31.0, "LITTLE": 30.0, "battery": 29.0}
    )
    battery_celsius: float = 29.0
    battery_level: int = 85
    free_bytes: int = 64 * GIB
    features: list[str] = field(
        default_factory=lambda: [
            "shell_v2", "cmd", "stat_v2", "ls_v2", "fixed_push_mkdir", "apex", "abb", "abb_exec",
            "fixed_push_symlink_timestamp", "remount_shell", "track_app",
        ]
    )
    extra_props: dict[str, str] = field(default_factory=dict)

    def props(self) -> dict[str, str]:
        """The getprop table, as a real device reports it."""
        cpus = max(last for _, last, _ in self.clusters) + 1
        props = {
            "ro.serialno": self.serialno,
            "ro.boot.serialno": self.serialno,
            "ro.product.model": self.model,
            "ro.product.manufacturer": self.manufacturer,
            "ro.product.brand": self.manufacturer.lower(),
            "ro.product.name": self.product,
            "ro.product.device": self.device,
            "ro.product.board": self.device,
            "ro.soc.model": self.soc_model,
            "ro.soc.manufacturer": self.soc_manufacturer,
            "ro.hardware": self.hardware,
            "ro.board.platform": self.hardware,
            "ro.product.cpu.abi": self.abi,
            "ro.product.cpu.abilist": self.abi + (",armeabi-v7a,armeabi" if self.abi == "arm64-v8a" else ""),
            "ro.build.version.release": self.release,
            "ro.build.version.sdk": str(self.sdk),
            "ro.build.type": "user",
            "ro.debuggable": "0",
            "ro.kernel.cpus": str(cpus),
            "sys.boot_completed": "1",
        }
        props.update(self.extra_props)
        return props

    def banner(self) -> bytes:
        """The CNXN banner: identity plus the features the adb client may use."""
        return (
            f"device::ro.product.name={self.product};ro.product.model={self.model};"
            f"ro.product.device={self.device};features={','.join(self.features)}"
        ).encode()

    def cpu_count(self) -> int:
        return max(last for _, last, _ in self.clusters) + 1

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeviceConfig:
        data = dict(data)
        data["clusters"] = [tuple(c) for c in data.get("clusters", [])]
        return cls(**data)


class DeviceState:
    """Paths and settings of one virtual device; usable from any of the three processes."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.root = self.state_dir.parent / "root"
        self.bin_dir = self.state_dir / "bin"
        self.config = DeviceConfig.from_json(json.loads((self.state_dir / "config.json").read_text()))

    @classmethod
    def from_env(cls) -> DeviceState:
        """The state of the device whose shell runs the current process (device tools use this)."""
        return cls(Path(os.environ["LOOPBACK_DEVICE_STATE"]))

    # -- filesystem layout -------------------------------------------------------------------
    @classmethod
    def create(cls, workdir: Path, config: DeviceConfig) -> DeviceState:
        """Lay out a fresh device under ``workdir`` (root/ and state/)."""
        workdir = Path(workdir).resolve()
        if re.search(r"[\s'\"\\$`]", str(workdir)):
            raise ValueError(f"device workdir must not need shell quoting: {workdir}")
        state_dir = workdir / "state"
        state_dir.mkdir(parents=True)
        (state_dir / "config.json").write_text(json.dumps(asdict(config)))
        state = cls(state_dir)
        root = state.root
        for sub in ("data/local/tmp", "data/data", "data/app", "sdcard/Download", "storage", "mnt"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "storage/emulated").mkdir()
        (root / "storage/emulated/0").symlink_to("../../sdcard")
        (root / "storage/self").mkdir()
        (root / "storage/self/primary").symlink_to("../../sdcard")
        state._write_cpus()
        state._write_proc()
        (state_dir / "packages.json").write_text("{}")
        state.set_free_bytes(config.free_bytes)
        state.set_temperatures(config.thermal_zones, config.battery_celsius)
        return state

    def _write_cpus(self) -> None:
        cpu_root = self.root / "sys/devices/system/cpu"
        cpus = self.config.cpu_count()
        for name in ("possible", "present", "online"):
            (cpu_root / name).parent.mkdir(parents=True, exist_ok=True)
            (cpu_root / name).write_text(f"0-{cpus - 1}\n")
        for first, last, khz in self.config.clusters:
            related = " ".join(str(c) for c in range(first, last + 1))
            for cpu in range(first, last + 1):
                freq = cpu_root / f"cpu{cpu}/cpufreq"
                freq.mkdir(parents=True)
                (freq / "cpuinfo_max_freq").write_text(f"{khz}\n")
                (freq / "scaling_max_freq").write_text(f"{khz}\n")
                (freq / "cpuinfo_min_freq").write_text("300000\n")
                (freq / "related_cpus").write_text(f"{related}\n")

    def _write_proc(self) -> None:
        lines = []
        for first, last, _ in self.config.clusters:
            for cpu in range(first, last + 1):
                lines += [f"processor\t: {cpu}", "BogoMIPS\t: 49.15",
                          "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp",
                          "CPU implementer\t: 0x41", ""]
        lines.append(f"Hardware\t: {self.config.soc_model}")
        (self.root / "proc").mkdir(parents=True)
        (self.root / "proc/cpuinfo").write_text("\n".join(lines) + "\n")
        (self.root / "proc/meminfo").write_text("MemTotal:        7892344 kB\nMemAvailable:    3456789 kB\n")

    # -- paths ---------------------------------------------------------------------------------
    def host_path(self, device_path: str) -> Path:
        """Where a device absolute path lives on this machine (never outside the scratch root)."""
        normal = posixpath.normpath("/" + device_path.lstrip("/"))
        return self.root / normal.lstrip("/") if normal != "/" else self.root

    def rewrite_command(self, command: str) -> str:
        """Map device path prefixes in shell command text into the scratch root."""
        return _DEVICE_PREFIX.sub(lambda m: str(self.root) + m.group(0), command)

    def device_text(self, text: str) -> str:
        """Undo the shell's path mapping in a tool argument, so logs show device paths."""
        return text.replace(str(self.root) + "/", "/")

    def package_dir(self, package: str) -> Path:
        return self.root / "data/data" / package

    # -- disk space ----------------------------------------------------------------------------
    def _used_bytes(self) -> int:
        total = 0
        for top in ("data", "sdcard"):
            for dirpath, _, files in os.walk(self.root / top):
                for name in files:
                    try:
                        total += os.lstat(os.path.join(dirpath, name)).st_size
                    except OSError:
                        pass
        return total

    def set_free_bytes(self, free: int) -> None:
        """Make /data report ``free`` bytes available from now on (pushes and deletes move it)."""
        (self.state_dir / "capacity").write_text(str(self._used_bytes() + int(free)))

    def disk_usage(self) -> tuple[int, int, int]:
        """(capacity, used, free) of /data in bytes."""
        capacity = int((self.state_dir / "capacity").read_text())
        used = self._used_bytes()
        return capacity, used, max(0, capacity - used)

    # -- temperatures --------------------------------------------------------------------------
    def set_temperatures(
        self,
        zones: dict[str, float],
        battery: float,
        cool_to: float | None = None,
        cool_seconds: float = 0.0,
    ) -> None:
        """Set thermal-zone and battery °C; with ``cool_to`` they fall linearly to it over ``cool_seconds``."""
        schedule = {"start": time.time(), "zones": zones, "battery": battery,
                    "cool_to": cool_to, "cool_seconds": cool_seconds}
        _atomic_write(self.state_dir / "temperatures.json", json.dumps(schedule))
        self.refresh_thermal_files()

    def temperatures(self) -> tuple[dict[str, float], float]:
        """Current (zones, battery) °C according to the schedule."""
        s = json.loads((self.state_dir / "temperatures.json").read_text())
        if s["cool_to"] is None:
            return s["zones"], s["battery"]
        done = 1.0 if s["cool_seconds"] <= 0 else min(1.0, (time.time() - s["start"]) / s["cool_seconds"])

        def at(start: float) -> float:
            return start + (min(start, s["cool_to"]) - start) * done

        return {k: at(v) for k, v in s["zones"].items()}, at(s["battery"])

    def refresh_thermal_files(self) -> None:
        """Rewrite /sys/class/thermal so plain `cat` sees the scheduled temperatures."""
        zones, _ = self.temperatures()
        base = self.root / "sys/class/thermal"
        for index, (name, celsius) in enumerate(zones.items()):
            zone = base / f"thermal_zone{index}"
            zone.mkdir(parents=True, exist_ok=True)
            (zone / "type").write_text(f"{name}\n")
            _atomic_write(zone / "temp", f"{round(celsius * 1000)}\n")

    # -- logs the tests read -------------------------------------------------------------------
    def log(self, name: str, record: dict[str, Any]) -> None:
        with open(self.state_dir / f"{name}.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def read_log(self, name: str) -> list[dict[str, Any]]:
        path = self.state_dir / f"{name}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def packages(self) -> dict[str, dict[str, Any]]:
        return json.loads((self.state_dir / "packages.json").read_text())

    def save_packages(self, packages: dict[str, dict[str, Any]]) -> None:
        _atomic_write(self.state_dir / "packages.json", json.dumps(packages))

    def intent_handlers(self) -> dict[str, list[str]]:
        path = self.state_dir / "intent_handlers.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def set_intent_handler(self, component: str, argv: list[str]) -> None:
        handlers = self.intent_handlers()
        handlers[component] = argv
        _atomic_write(self.state_dir / "intent_handlers.json", json.dumps(handlers))


def _atomic_write(path: Path, text: str) -> None:
    """Readers in other processes must never see a half-written file."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
