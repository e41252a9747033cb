"""Test-side control of a loopback device and of a private adb server talking to it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from loopback_adb.state import DeviceConfig, DeviceState
from loopback_adb.tools import TOOL_NAMES

ADB_TIMEOUT = 30.0
_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


class LoopbackDevice:
    """A virtual phone served by a subprocess on 127.0.0.1 (a free port, never 5555-5585)."""

    def __init__(self, workdir: Path, config: DeviceConfig | None = None) -> None:
        self.config = config or DeviceConfig()
        self.state = DeviceState.create(workdir, self.config)
        self.root: Path = self.state.root
        self.props: dict[str, str] = self.config.props()
        self._install_tools()
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.env: dict[str, str] = {}

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _install_tools(self) -> None:
        """Device tools are tiny launchers into loopback_adb.tools (stdlib only, so `python -S`)."""
        self.state.bin_dir.mkdir()
        for name in TOOL_NAMES:
            launcher = self.state.bin_dir / name
            launcher.write_text(
                f"#!{sys.executable} -S\nimport sys\nsys.path.insert(0, {str(_PACKAGE_PARENT)!r})\n"
                f"from loopback_adb.tools import main\nsys.exit(main({name!r}, sys.argv[1:]))\n"
            )
            launcher.chmod(0o755)

    def start(self, timeout: float = 10.0) -> None:
        env = dict(os.environ, PYTHONPATH=str(_PACKAGE_PARENT))
        log = open(self.state.state_dir / "server.log", "ab")
        with log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "loopback_adb.server", str(self.state.state_dir)],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
        port_file = self.state.state_dir / "port"
        deadline = time.monotonic() + timeout
        while not port_file.exists():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"loopback device did not start: {self.server_log()}")
            time.sleep(0.02)
        self.port = int(port_file.read_text())

    def attach(self, env: dict[str, str]) -> None:
        """`adb connect` through the adb server of ``env``; afterwards ``adb()`` targets this device."""
        connect(env, self.serial)
        self.env = env

    def adb(self, *args: str, timeout: float = ADB_TIMEOUT, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """`adb -s SERIAL ARGS...` with the real client (text output, timeout, no stdin unless given)."""
        return run_adb(self.env, "-s", self.serial, *args, timeout=timeout, input=input)

    def detach(self) -> None:
        if self.env:
            try:
                run_adb(self.env, "disconnect", self.serial, timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def server_log(self) -> str:
        return (self.state.state_dir / "server.log").read_text(errors="replace")

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """The phone vanishes: every connection drops and nothing listens any more."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        for record in self.state.read_log("handlers"):
            try:
                os.killpg(record["pid"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    # -- faults and observations ---------------------------------------------------------------
    def set_free_bytes(self, free: int) -> None:
        self.state.set_free_bytes(free)

    def set_temperatures(self, celsius: float | dict[str, float], battery: float | None = None,
                         cool_to: float | None = None, cool_seconds: float = 0.0) -> None:
        """All zones (or the named ones) to ``celsius``; optionally cooling to ``cool_to`` over time."""
        zones = dict(self.config.thermal_zones)
        if isinstance(celsius, dict):
            zones.update(celsius)
        else:
            zones = {name: float(celsius) for name in zones}
        battery_c = battery if battery is not None else max(zones.values())
        self.state.set_temperatures(zones, battery_c, cool_to, cool_seconds)

    def temperatures(self) -> tuple[dict[str, float], float]:
        return self.state.temperatures()

    def intent_log(self) -> list[dict[str, Any]]:
        return self.state.read_log("intents")

    def taskset_log(self) -> list[dict[str, Any]]:
        return self.state.read_log("taskset")

    def service_log(self) -> list[str]:
        return [r["service"] for r in self.state.read_log("services")]

    def installed_packages(self) -> dict[str, dict[str, Any]]:
        return self.state.packages()

    def set_intent_handler(self, component: str, argv: list[str]) -> None:
        """Run ``argv`` on this machine whenever ``am start -n component`` is issued (see tools.am)."""
        self.state.set_intent_handler(component, argv)

    def device_path(self, device_path: str) -> Path:
        return self.state.host_path(device_path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_adb_env(home: Path, port: int | None = None) -> dict[str, str]:
    """Environment for a private adb server: its own port and key directory, no inherited serial."""
    env = {k: v for k, v in os.environ.items() if k not in ("ANDROID_SERIAL", "ADB_VENDOR_KEYS")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(ANDROID_ADB_SERVER_PORT=str(port or free_port()), ANDROID_SDK_HOME=str(home))
    return env


def run_adb(env: dict[str, str], *args: str, timeout: float = ADB_TIMEOUT,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real adb client; never hangs (timeout) and never reads the test's stdin."""
    if input is not None:
        return subprocess.run(["adb", *args], env=env, capture_output=True, text=True, timeout=timeout, input=input)
    return subprocess.run(["adb", *args], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def start_adb_server(env: dict[str, str]) -> None:
    # The forked server keeps whatever stdio it inherits, so give it none we wait on.
    subprocess.run(["adb", "start-server"], env=env, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=ADB_TIMEOUT, check=True)


def kill_adb_server(env: dict[str, str]) -> None:
    try:
        subprocess.run(["adb", "kill-server"], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=ADB_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass


def device_state(env: dict[str, str], serial: str) -> str | None:
    """State column of `adb devices` for ``serial`` ("device", "offline", ...), None if absent."""
    out = run_adb(env, "devices").stdout
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[0] == serial:
            return parts[1].strip()
    return None


def connect(env: dict[str, str], serial: str, timeout: float = 15.0) -> None:
    """`adb connect` and wait until the adb server reports the device as usable."""
    result = run_adb(env, "connect", serial)
    if result.returncode != 0 or "connected" not in result.stdout:
        raise RuntimeError(f"adb connect {serial} failed: {result.stdout}{result.stderr}")
    deadline = time.monotonic() + timeout
    while (state := device_state(env, serial)) != "device":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{serial} stayed {state!r} after adb connect")
        time.sleep(0.05)
