"""What a phone's /sys and dumpsys say: CPU clusters, thermal zones, battery.

CPU clusters come from cpufreq's cpuinfo_max_freq, temperatures from /sys/class/thermal, battery
from ``dumpsys battery``: one shell call each, read at discovery and before every measurement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from affdeploy.devices.android.adb import Adb

_CPU_FREQ = re.compile(r"cpu(\d+)/cpufreq/cpuinfo_max_freq:(\d+)\s*$")
_THERMAL = re.compile(r"thermal_zone(\d+)/(type|temp):(.*)$")


@dataclass(frozen=True)
class Cluster:
    """CPUs sharing one maximum frequency (a core cluster)."""

    cpus: tuple[int, ...]
    max_khz: int

    def to_dict(self) -> dict[str, Any]:
        return {"cpus": list(self.cpus), "max_mhz": self.max_khz // 1000}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cluster:
        return cls(tuple(data["cpus"]), int(data["max_mhz"]) * 1000)


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
