"""The Linux iPhone path for real: pymobiledevice3 against no usbmuxd, then against the real daemon.

Debian's usbmuxd (apt-get install usbmuxd) listens on /var/run/usbmuxd; there is no option to move
that socket, so the daemon test starts it there (root is needed, as on CI) and stops it afterwards,
or uses a daemon that is already running. pymobiledevice3 honours USBMUXD_SOCKET_ADDRESS, which
points the "not running" test at a socket path that does not exist.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_tool

from affdeploy.bench.request import BenchRequest
from affdeploy.devices import ios
from affdeploy.devices.ios import app
from affdeploy.errors import DeviceError

SOCKET = Path("/var/run/usbmuxd")
PIDFILE = Path("/var/run/usbmuxd.pid")


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
            return True
        except OSError:
            return False


@pytest.fixture
def linux_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFFDEPLOY_IOS_TRANSPORT", "pymobiledevice3")
    monkeypatch.delenv("USBMUXD_SOCKET_ADDRESS", raising=False)


@pytest.fixture
def usbmuxd(linux_transport: None) -> Iterator[Path]:
    """The real usbmuxd daemon on /var/run/usbmuxd (hotplug off, so it never claims USB devices)."""
    require_tool("usbmuxd", "Debian/Ubuntu: apt-get install usbmuxd")
    if _answers(SOCKET):
        yield SOCKET  # a system daemon is already serving; use it as it is
        return
    if os.geteuid() != 0:
        pytest.skip("starting usbmuxd on /var/run/usbmuxd needs root")
    proc = subprocess.Popen(
        ["usbmuxd", "--foreground", "--disable-hotplug", "--user", "root"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not _answers(SOCKET):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"usbmuxd did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.05)
        yield SOCKET
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stderr:
            proc.stderr.close()
        SOCKET.unlink(missing_ok=True)  # the daemon leaves its socket and pid files behind
        PIDFILE.unlink(missing_ok=True)


def test_no_usbmuxd_is_one_clear_error(linux_transport: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USBMUXD_SOCKET_ADDRESS", str(tmp_path / "no-usbmuxd-here"))
    with pytest.raises(DeviceError, match=r"^usbmuxd is not running, so no iPhone can be reached") as err:
        ios.list_devices()
    assert "apt-get install usbmuxd" in str(err.value)


def test_cli_reports_missing_usbmuxd_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "AFFDEPLOY_IOS_TRANSPORT": "pymobiledevice3", "USBMUXD_SOCKET_ADDRESS": str(tmp_path / "absent")}
    proc = subprocess.run(
        [sys.executable, "-c", "from affdeploy.cli import main; main()", "bench", "--device", "iphone15pro", "--model",
         "affnet-et"],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: usbmuxd is not running"), proc.stderr


def test_usbmuxd_running_without_a_phone(usbmuxd: Path) -> None:
    assert ios.list_devices() == []
    with pytest.raises(DeviceError, match="^no iOS device attached") as err:
        ios.find_device("iphone15pro")
    assert "Trust This Computer" in str(err.value)
    with pytest.raises(DeviceError, match="^no iOS device attached"):
        ios.find_device("00008130-001A2B3C4D5E6F70")


def test_bench_needs_an_app_when_asked_for_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFFDEPLOY_IOS_APP", str(tmp_path / "AFFBench.ipa"))
    with pytest.raises(Exception, match="AFFDEPLOY_IOS_APP=.*does not exist"):
        app.installable_app()
    monkeypatch.delenv("AFFDEPLOY_IOS_APP")
    monkeypatch.setenv("AFFDEPLOY_IOS_APP_DIR", str(tmp_path))
    assert app.installable_app() is None  # nothing built: the app must already be installed
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "AFFBench.ipa").write_bytes(b"PK\x03\x04")
    assert app.installable_app() == tmp_path / "build" / "AFFBench.ipa"
    assert app.ios_targets(BenchRequest(targets=["executorch", "onnx"])) == ["executorch"]
