"""``affdeploy devices``: the phones a benchmark can run on, and what they are."""

from __future__ import annotations

import shutil
from typing import Any

import typer
from rich.table import Table

from affdeploy.cli._common import JSON_OPTION_HELP, app, console, err_console, print_json
from affdeploy.devices import ResolvedDevice
from affdeploy.devices.adb import CONNECT_HINT, Adb
from affdeploy.errors import AffdeployError


def _ios_devices(notes: list[str]) -> list[ResolvedDevice]:
    """Attached iPhones, or a note saying why none can be listed (missing iOS tooling is not an error)."""
    if shutil.which("usbmuxd") is None:
        notes.append("iPhones are not listed: usbmuxd is not installed (sudo apt-get install usbmuxd; see docs/ios.md)")
        return []
    try:
        from affdeploy.devices import ios

        return ios.list_devices()
    except ImportError as exc:
        notes.append(f"iPhones are not listed: {exc}")
    except AffdeployError as exc:
        notes.append(f"iPhones are not listed: {exc}")
    return []


def device_dict(dev: ResolvedDevice) -> dict[str, Any]:
    """The JSON shape of one device in ``affdeploy devices --json``."""
    info = dev.info
    return {
        "kind": dev.kind,
        "serial": dev.id,
        "state": info.extra.get("state", "device"),
        "model": info.model,
        "manufacturer": info.manufacturer,
        "profile": dev.profile.name if dev.profile else None,
        "soc": info.soc,
        "abi": info.abi,
        "os": info.os,
        "sdk": info.extra.get("sdk"),
        "cores": info.cores,
        "clusters": info.extra.get("clusters", []),
        "battery": info.extra.get("battery", {}),
        "thermal": info.extra.get("thermal", []),
    }


def _clusters_text(clusters: list[dict[str, Any]]) -> str:
    return " + ".join(f"{len(c['cpus'])}x{c['max_mhz'] / 1000:.2f}" for c in clusters) + " GHz" if clusters else "?"


def _health_text(data: dict[str, Any]) -> str:
    battery, thermal = data["battery"], data["thermal"]
    parts = []
    if "level" in battery:
        parts.append(f"battery {battery['level']}%")
    if "temperature_c" in battery:
        parts.append(f"{battery['temperature_c']:.1f} °C")
    if thermal:
        hottest = max(thermal, key=lambda z: z["temp_c"])
        parts.append(f"max zone {hottest['temp_c']:.1f} °C ({hottest['type']})")
    return ", ".join(parts) or "?"


@app.command()
def devices(as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP)) -> None:
    """List attached Android phones (through the real adb client) and iPhones, with what a benchmark needs to know.

    For each Android device: serial, model, manufacturer, SoC, ABI, Android version, CPU core clusters (from cpufreq, big cluster last), battery level and temperature, thermal zones, and the matching device profile (the name to pass to `affdeploy bench --device`). ANDROID_SERIAL and ANDROID_ADB_SERVER_PORT are honoured as adb honours them. iPhones are listed when usbmuxd and pymobiledevice3 are available.
    """
    from affdeploy.devices import android

    notes: list[str] = []
    found = android.list_devices(Adb())
    if not found:
        notes.append(f"no Android device attached: {CONNECT_HINT}")
    found += _ios_devices(notes)
    rows = [device_dict(d) for d in found]
    if as_json:
        print_json({"devices": rows, "notes": notes})
        return
    if rows:
        table = Table(title="Attached devices")
        for column in ("serial", "model", "profile", "SoC / ABI", "OS", "cores", "battery / thermal"):
            table.add_column(column, no_wrap=column in ("serial", "profile"))
        for row in rows:
            state = "" if row["state"] == "device" else f" [{row['state']}]"
            table.add_row(
                row["serial"] + state,
                f"{row['manufacturer']} {row['model']}".strip(),
                row["profile"] or "-",
                f"{row['soc']} / {row['abi']}",
                row["os"],
                _clusters_text(row["clusters"]) if row["kind"] == "android" else str(row["cores"]),
                _health_text(row) if row["kind"] == "android" else "-",
            )
        console.print(table)
    for note in notes:
        err_console.print(f"note: {note}", highlight=False, soft_wrap=True)
