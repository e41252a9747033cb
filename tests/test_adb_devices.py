"""`affdeploy devices` reads `adb devices -l` strictly: garbage is one clear line, never a list of phones."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from bad_input_helpers import assert_one_clear_line
from cli_helpers import cli
from loopback_adb.device import LoopbackDevice
from loopback_adb.state import DeviceConfig

from affdeploy.devices.android.adb import Adb

# what adb 1.0.41 prints for phones it cannot use yet (transport.cpp: "%-22s %s", then the attributes)
REAL_FORMAT = (
    "* daemon not running; starting now at tcp:5037\n"
    "* daemon started successfully\n"
    "List of devices attached\n"
    "0123456789ABCDEF       unauthorized usb:1-1 transport_id:2\n"
    "ZY22H7                 no permissions (missing udev rules? user is in the plugdev group); "
    "see [http://developer.android.com/tools/device.html] usb:1-2 transport_id:3\n"
    "emulator-5556          offline transport_id:4\n"
    "\n"
)
GARBAGE = "\x1b[31mWARNING\x1b[0m: license expired\n" + "".join(f"line {i} \x1b[2Jtext\n" for i in range(30))


def fake_adb(folder: Path, output: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An `adb` first on PATH that prints ``output`` whatever it is asked."""
    folder.mkdir()
    (folder / "output").write_text(output)
    exe = folder / "adb"
    exe.write_text(f"#!/bin/sh\ncat {shlex.quote(str(folder / 'output'))}\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    return exe


@pytest.mark.parametrize("output", [GARBAGE, "List of devices attached\n" + GARBAGE, "List of devices attached\n" * 3],
                         ids=["no-header", "garbage-lines", "header-repeated"])
def test_an_adb_that_prints_garbage_is_one_line_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str], output: str) -> None:
    exe = fake_adb(tmp_path / "bin", output, monkeypatch)
    code, out, err = cli(capsys, "devices")
    assert code == 1 and out == ""
    line = assert_one_clear_line(err, f"`{exe} devices -l` makes no sense")
    assert "\x1b" not in err
    assert "\\x1b" in line or "List of devices attached" in output.split("\n", 1)[1]  # garbage is shown escaped


def test_phones_adb_cannot_use_yet_are_listed_with_their_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    fake_adb(tmp_path / "bin", REAL_FORMAT, monkeypatch)
    code, out, err = cli(capsys, "devices", "--json")
    assert code == 0, err
    states = {d["serial"]: d["state"] for d in json.loads(out)["devices"]}
    assert states == {"0123456789ABCDEF": "unauthorized", "ZY22H7": "no permissions", "emulator-5556": "offline"}


@pytest.mark.parametrize("loopback_device", [DeviceConfig(model="Pixel 7\x1b[2J\x1b[31m", manufacturer="[bold]Goo")],
                         indirect=True)
def test_the_real_adb_output_parses_and_what_a_phone_reports_is_printed_inert(
        loopback_device: LoopbackDevice, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (attached,) = [d for d in Adb(env=loopback_device.env).devices() if d.serial == loopback_device.serial]
    assert attached.state == "device" and attached.attributes["product"] == "panther"
    for name in ("ANDROID_ADB_SERVER_PORT", "ANDROID_SDK_HOME"):
        monkeypatch.setenv(name, loopback_device.env[name])
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    code, out, err = cli(capsys, "devices")
    assert code == 0, err
    assert "\x1b" not in out and "Pixel" in out
    assert "[bold]" in out  # markup shown as text, not applied
