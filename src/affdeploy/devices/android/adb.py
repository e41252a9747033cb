"""A small typed wrapper of the real ``adb`` client, run as a subprocess.

Every call has a timeout, so a phone that hangs or is unplugged can never block the CLI forever.
The adb client itself honours ``ANDROID_ADB_SERVER_PORT`` (which adb server to talk to) because
we pass it the environment unchanged; ``ANDROID_SERIAL`` is honoured by ``default_serial``.
Failures become DeviceError / ToolMissingError with one clear line, never a traceback.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from affdeploy.devices.calls import run_tool
from affdeploy.errors import DeviceError, ToolMissingError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0  # one adb command that does not run a benchmark
STATE_TIMEOUT_S = 10.0  # `adb get-state`, asked when something failed
TRANSFER_MARGIN_S = 30.0  # one push or pull: this, plus its size at TRANSFER_MIN_RATE
TRANSFER_MIN_RATE = 2 * 2**20  # bytes/s: a slow USB 2 hub or Wi-Fi adb (USB 2 moves ~30 MB/s)
WATCH_POLL_S = 0.2  # how often a watched shell command is asked whether its step is overdue
INSTALL_HINT = "install it with `sudo apt-get install adb` (Debian/Ubuntu) or Android SDK platform-tools"
CONNECT_HINT = (
    "enable Developer options and USB debugging on the phone, plug it in, accept the RSA prompt, "
    "then check that `adb devices` lists it"
)


DEVICES_HEADER = "List of devices attached"
# transport.cpp's connection states; "no permissions" is followed by a help text with spaces and a URL
STATES = frozenset({"device", "offline", "unauthorized", "authorizing", "connecting", "bootloader", "recovery",
                    "rescue", "sideload", "host", "unknown", "no permissions"})
_DEVICE_LINE = re.compile(r"(?P<serial>[\x21-\x7e]+|\(no serial number\))[ \t]+"
                          r"(?P<state>no permissions(?: [\x20-\x7e]*?\])?|[a-z]+)(?P<attributes>(?: [\x21-\x7e]+)*) *")
_ATTRIBUTE = re.compile(r"[a-z_]+:[\x21-\x7e]*")


@dataclass(frozen=True)
class AttachedDevice:
    """One line of ``adb devices -l``."""

    serial: str
    state: str  # device | unauthorized | offline | ...
    attributes: dict[str, str]  # product, model, device, transport_id as adb reports them


class Watch(Protocol):
    """Follows a long device command line by line and says when its current step is overdue."""

    def line(self, text: str) -> None: ...

    def overdue(self) -> str | None: ...


@dataclass(frozen=True)
class ShellResult:
    """What a device-side command printed and returned."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr together (runners log to either)."""
        return self.stdout + self.stderr

    def tail(self, lines: int = 5) -> str:
        """The last lines of stderr (or stdout if stderr is empty), for error messages."""
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return " | ".join(line.strip() for line in text[-lines:] if line.strip())


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def adb_path(env: Mapping[str, str] | None = None) -> str:
    """Absolute path of the adb client on PATH, or ToolMissingError saying how to install it."""
    search = (env if env is not None else os.environ).get("PATH", os.defpath)
    found = shutil.which("adb", path=search)
    if found is None:
        raise ToolMissingError("adb is not installed", hint=INSTALL_HINT)
    return found


class Adb:
    """The adb client bound to one environment (server port) and optionally one device serial."""

    def __init__(self, serial: str | None = None, *, env: Mapping[str, str] | None = None) -> None:
        self.env = dict(env if env is not None else os.environ)
        self.exe = adb_path(self.env)
        self.serial = serial

    def for_device(self, serial: str) -> Adb:
        """The same client, addressing ``serial`` with ``-s``."""
        return Adb(serial, env=self.env)

    @property
    def default_serial(self) -> str | None:
        """``ANDROID_SERIAL`` if set: adb's own convention for "the device I mean"."""
        return self.serial_from_env(self.env)

    @staticmethod
    def serial_from_env(env: Mapping[str, str] | None = None) -> str | None:
        """``ANDROID_SERIAL`` of ``env`` (default: this process's environment), if set."""
        return (os.environ if env is None else env).get("ANDROID_SERIAL") or None

    def _command(self, args: Sequence[str]) -> list[str]:
        return [self.exe, *(["-s", self.serial] if self.serial else []), *args]

    def _run(self, args: Sequence[str], *, timeout: float,
             step: str | None = None) -> subprocess.CompletedProcess[bytes]:
        """``step`` names what the call does (``pushing x.pte``) in the message when it does not finish in time."""
        try:
            return run_tool(self._command(args), timeout=timeout, env=self.env)
        except subprocess.TimeoutExpired:
            self._raise_if_gone(f"`adb {' '.join(args[:2])}`")
            what = f"{step} on {self.serial}" if step else f"`adb {' '.join(args)[:120]}`"
            raise DeviceError(
                f"{what} did not finish within {timeout:.0f} s",
                hint="the device may be busy or stuck; unplug and re-plug it, or run `adb kill-server`",
            ) from None
        except OSError as exc:
            raise self._cannot_run(exc) from None

    def _cannot_run(self, exc: OSError) -> ToolMissingError:
        return ToolMissingError(f"cannot run adb at {self.exe}: {exc.strerror}", hint=INSTALL_HINT)

    def host(self, *args: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
        """Run an adb host command (``devices -l``, ``connect``...) and return its stdout."""
        proc = self._run(list(args), timeout=timeout)
        if proc.returncode != 0:
            raise DeviceError(f"`adb {' '.join(args)}` failed: "
                              f"{_decode(proc.stderr).strip() or _decode(proc.stdout).strip()}")
        return _decode(proc.stdout)

    def devices(self) -> list[AttachedDevice]:
        """Everything the adb server sees, whatever its state."""
        return parse_devices(self.host("devices", "-l"), self.exe)

    def state(self) -> str:
        """``device`` when the bound device answers, otherwise what adb says (``offline``, ``missing``)."""
        try:
            proc = run_tool([self.exe, "-s", self.serial or "", "get-state"], timeout=STATE_TIMEOUT_S, env=self.env)
        except (subprocess.TimeoutExpired, OSError):
            return "unresponsive"
        return _decode(proc.stdout).strip() if proc.returncode == 0 else "missing"

    def _raise_if_gone(self, action: str) -> None:
        """Turn a failure into "the device went away" when that is what happened."""
        if self.serial is None:
            return
        state = self.state()
        log.debug("%s failed; adb state of %s: %s", action, self.serial, state)
        if state != "device":
            raise DeviceError(
                f"device {self.serial} disconnected during {action} (adb state: {state})",
                hint="reconnect it (check the cable, `adb devices`) and run again",
            )

    def shell(self, command: str, *, timeout: float = DEFAULT_TIMEOUT_S, check: bool = True) -> ShellResult:
        """Run ``command`` in the device shell; with ``check`` a non-zero exit is a DeviceError."""
        proc = self._run(["shell", command], timeout=timeout)
        result = ShellResult(proc.returncode, _decode(proc.stdout), _decode(proc.stderr))
        if result.exit_code != 0:
            self._raise_if_gone(f"`{command[:60]}`")
            if check:
                raise DeviceError(f"`{command[:80]}` failed on {self.serial} (exit {result.exit_code}): {result.tail()}")
        return result

    def shell_watched(self, command: str, watch: Watch) -> ShellResult:
        """Run ``command`` in the device shell, handing ``watch`` each line of its output as it comes.

        A runner that hangs is noticed as soon as ``watch`` says its step is overdue (not after a fixed
        worst case): the client is stopped and its message becomes the DeviceError.
        """
        cmd = self._command(["shell", command])
        start = time.monotonic()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=self.env)
        except OSError as exc:
            raise self._cannot_run(exc) from None
        streams: tuple[list[str], list[str]] = ([], [])
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [threading.Thread(target=_pump, args=(pipe, sink, watch), daemon=True)
                 for pipe, sink in zip((proc.stdout, proc.stderr), streams, strict=True)]
        for pump in pumps:
            pump.start()
        overdue = None
        try:
            while proc.poll() is None and overdue is None:
                try:
                    proc.wait(timeout=WATCH_POLL_S)
                except subprocess.TimeoutExpired:
                    overdue = watch.overdue()
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for pump in pumps:
                pump.join(timeout=STATE_TIMEOUT_S)
            outcome = f"stopped: {overdue}" if overdue else f"exit {proc.returncode}"
            log.debug("$ %s -> %s (%.3f s)", shlex.join(cmd), outcome, time.monotonic() - start)
        if overdue is not None:
            self._raise_if_gone(f"`{command[:60]}`")
            raise DeviceError(overdue, hint="it was stopped; see `adb logcat`, or rerun with fewer --iters")
        result = ShellResult(proc.returncode, "".join(streams[0]), "".join(streams[1]))
        if result.exit_code != 0:
            self._raise_if_gone(f"`{command[:60]}`")
        return result

    def push(self, local: Path, remote: str) -> None:
        """Copy a host file to the device, within a time derived from its size."""
        self._transfer("push", str(local), remote, transfer_timeout(local.stat().st_size), f"pushing {local.name}")

    def pull(self, remote: str, local: Path, *, size: int = 0) -> None:
        """Copy a device file (of about ``size`` bytes) to the host."""
        self._transfer("pull", remote, str(local), transfer_timeout(size), f"pulling {remote}")

    def _transfer(self, verb: str, src: str, dst: str, timeout: float, step: str) -> None:
        proc = self._run([verb, src, dst], timeout=timeout, step=step)
        if proc.returncode != 0:
            self._raise_if_gone(f"adb {verb} of {src}")
            message = _decode(proc.stderr).strip() or _decode(proc.stdout).strip()
            raise DeviceError(f"adb {verb} {src} -> {dst} failed: {message.splitlines()[-1] if message else 'no output'}")

    def getprop(self) -> dict[str, str]:
        """All system properties of the device, parsed from ``getprop``'s ``[key]: [value]`` lines."""
        props = {}
        for line in self.shell("getprop").stdout.splitlines():
            line = line.strip()
            if line.startswith("[") and "]: [" in line and line.endswith("]"):
                key, value = line[1:-1].split("]: [", 1)
                props[key] = value
        return props


def transfer_timeout(size: int) -> float:
    """How long pushing or pulling ``size`` bytes may take."""
    return TRANSFER_MARGIN_S + size / TRANSFER_MIN_RATE


def _pump(pipe: IO[bytes], sink: list[str], watch: Watch) -> None:
    """Read one output stream of a watched command line by line into ``sink``, showing each line to ``watch``."""
    for raw in iter(pipe.readline, b""):
        line = raw.decode("utf-8", "replace")
        sink.append(line)
        watch.line(line)


def parse_devices(output: str, exe: str) -> list[AttachedDevice]:
    """The devices in ``adb devices -l`` output, read strictly: anything else is a DeviceError, never a device.

    The output is the header line, then ``SERIAL STATE [key:value...]`` per device (serial padded to 22
    columns); ``* daemon ...`` lines of a starting server are skipped. A program that prints something
    else (a wrapper, a broken or fake adb) would otherwise show its garbage, escape sequences and all,
    as attached phones.
    """
    lines = [line.rstrip("\r") for line in output.splitlines()]
    lines = [line for line in lines if line.strip() and not line.startswith("* daemon ")]
    if not lines or lines[0].rstrip() != DEVICES_HEADER:
        raise _not_adb(exe, f"it printed {_shown(lines[0]) if lines else 'nothing'} instead of '{DEVICES_HEADER}'")
    found = []
    for line in lines[1:]:
        match = _DEVICE_LINE.fullmatch(line)
        attributes = match["attributes"].split() if match else []
        if match is None or not (match["state"].startswith("no permissions") or match["state"] in STATES) \
                or not all(_ATTRIBUTE.fullmatch(a) for a in attributes):
            raise _not_adb(exe, f"the line {_shown(line)} is not SERIAL STATE [key:value...]")
        state = "no permissions" if match["state"].startswith("no permissions") else match["state"]
        found.append(AttachedDevice(match["serial"], state, dict(a.split(":", 1) for a in attributes)))
    return found


def _shown(line: str) -> str:
    """A line of foreign output, safe to print: control characters escaped, at most 60 characters."""
    return repr(line[:60])


def _not_adb(exe: str, why: str) -> DeviceError:
    return DeviceError(f"`{exe} devices -l` makes no sense: {why}",
                       hint="check that it is Android's adb (`adb version`) or put the real one first on PATH")
