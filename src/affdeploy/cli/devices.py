"""``affdeploy devices``: the phones a benchmark can run on, and what they are."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from affdeploy.cli._common import JSON_OPTION_HELP, app, console, err_console, print_json
from affdeploy.devices import list_devices


def _cell(text: str) -> str:
    """What a device reported (getprop, thermal zone names), safe in a table: no control characters, no markup."""
    return escape("".join(ch for ch in text if ch.isprintable()))


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
    return ", ".join(parts) or "-"


@app.command()
def devices(as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP)) -> None:
    """List attached Android phones (through the real adb client) and iPhones, with what a benchmark needs to know.

    For each Android device: serial, model, manufacturer, SoC, ABI, Android version, CPU core clusters (from cpufreq, big cluster last), battery level and temperature, thermal zones, and the matching device profile (the name to pass to `affdeploy bench --device`). ANDROID_SERIAL and ANDROID_ADB_SERVER_PORT are honoured as adb honours them. iPhones are listed through Xcode's devicectl on macOS and usbmuxd elsewhere; when that is not possible a note says why.
    """  # noqa: E501  (typer keeps a paragraph's line breaks in --help: one line per paragraph)
    notes: list[str] = []
    rows = [d.describe() for d in list_devices(notes)]
    if as_json:
        print_json({"devices": rows, "notes": notes})
        return
    if rows:
        table = Table(title="Attached devices")
        for column in ("serial", "model", "profile", "SoC / ABI", "OS", "cores", "battery / thermal"):
            table.add_column(column, no_wrap=column in ("serial", "profile"))
        for row in rows:
            state = "" if row["state"] == "device" else f" [{row['state']}]"
            table.add_row(*map(_cell, (
                row["serial"] + state,
                f"{row['manufacturer']} {row['model']}".strip(),
                row["profile"] or "-",
                f"{row['soc']} / {row['abi']}",
                row["os"],
                _clusters_text(row["clusters"]) if row["clusters"] else str(row["cores"] or "?"),
                _health_text(row),
            )))
        console.print(table)
    for note in notes:
        err_console.print(f"note: {note}", highlight=False, soft_wrap=True)
