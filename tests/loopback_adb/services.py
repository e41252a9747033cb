"""Device services a stream can OPEN: shell (v2 and legacy), exec, abb/abb_exec, sync, root.

Commands run with /bin/sh on this machine, in the scratch root, with device path prefixes mapped
into it and the device tools (getprop, df, dumpsys, am, pm, cmd, run-as, taskset) first on PATH.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from loopback_adb.protocol import (
    SHELL_CLOSE_STDIN,
    SHELL_EXIT,
    SHELL_HEADER,
    SHELL_STDERR,
    SHELL_STDIN,
    SHELL_STDOUT,
    pack_shell,
)
from loopback_adb.state import DeviceState
from loopback_adb.sync import serve_sync

if TYPE_CHECKING:
    from loopback_adb.server import Stream

Handler = Callable[["Stream", DeviceState, str], Awaitable[None]]
_children: set[int] = set()  # process groups of running commands, killed when the device vanishes


def vanish() -> None:
    """SIGTERM: the phone disappears. Kill its running commands and drop every connection at once."""
    for pgid in list(_children):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os._exit(1)


def shell_env(device: DeviceState) -> dict[str, str]:
    """The environment of a device shell: device tools first, device paths already mapped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANDROID_")}
    env.update(
        PATH=f"{device.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        HOME=str(device.root / "data/local/tmp"),
        TMPDIR=str(device.root / "data/local/tmp"),
        EXTERNAL_STORAGE=str(device.root / "sdcard"),
        ANDROID_DATA=str(device.root / "data"),
        LOOPBACK_DEVICE_ROOT=str(device.root),
        LOOPBACK_DEVICE_STATE=str(device.state_dir),
    )
    return env


class _Unmapper:
    """Turns scratch-root paths in output back into device paths, across chunk boundaries."""

    def __init__(self, root: Path) -> None:
        self.pattern = str(root).encode() + b"/"
        self.carry = b""

    def feed(self, data: bytes) -> bytes:
        buf = (self.carry + data).replace(self.pattern, b"/").replace(self.pattern[:-1] + b"\n", b"/\n")
        keep = next((k for k in range(min(len(buf), len(self.pattern) - 1), 0, -1)
                     if self.pattern.startswith(buf[-k:])), 0)
        self.carry = buf[len(buf) - keep:] if keep else b""
        return buf[:len(buf) - keep]

    def flush(self) -> bytes:
        data, self.carry = self.carry, b""
        return data


async def _pump(source: asyncio.StreamReader, stream: Stream, channel: int | None,
                unmapper: _Unmapper | None) -> None:
    """Copy process output to the host: raw bytes, or shell-v2 packets on ``channel``."""

    async def send(data: bytes) -> None:
        if data:
            await stream.write(data if channel is None else pack_shell(channel, data))

    while chunk := await source.read(64 * 1024):
        await send(unmapper.feed(chunk) if unmapper else chunk)
    if unmapper:
        await send(unmapper.flush())


async def _forward_stdin(stream: Stream, proc: asyncio.subprocess.Process, v2: bool) -> None:
    assert proc.stdin is not None
    try:
        while True:
            if v2:
                packet_id, length = SHELL_HEADER.unpack(await stream.read_exact(SHELL_HEADER.size))
                data = await stream.read_exact(length) if length else b""
                if packet_id == SHELL_CLOSE_STDIN:
                    break
                if packet_id != SHELL_STDIN:
                    continue  # window-size changes mean nothing without a pty
            else:
                data = await stream.read_some()
                if not data:
                    break
            proc.stdin.write(data)
            await proc.stdin.drain()
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass
    finally:
        proc.stdin.close()


async def run_command(stream: Stream, device: DeviceState, command: str, *, v2: bool, unmap: bool) -> None:
    """Run one shell command; with v2, split stdout/stderr and report the exit code."""
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", device.rewrite_command(command) if command else "exec /bin/sh",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE if v2 else asyncio.subprocess.STDOUT,
        cwd=device.root, env=shell_env(device), start_new_session=True,
    )
    _children.add(proc.pid)
    stdin_task = asyncio.create_task(_forward_stdin(stream, proc, v2))
    try:
        assert proc.stdout is not None
        pumps = [_pump(proc.stdout, stream, SHELL_STDOUT if v2 else None, _Unmapper(device.root) if unmap else None)]
        if v2:
            assert proc.stderr is not None
            pumps.append(_pump(proc.stderr, stream, SHELL_STDERR, _Unmapper(device.root) if unmap else None))
        await asyncio.gather(*pumps)
        rc = await proc.wait()
        if v2:
            await stream.write(pack_shell(SHELL_EXIT, bytes([(rc if rc >= 0 else 128 - rc) & 0xFF])))
    finally:
        stdin_task.cancel()
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await proc.wait()
        _children.discard(proc.pid)


async def _shell(stream: Stream, device: DeviceState, service: str) -> None:
    head, _, command = service.partition(":")
    v2 = "v2" in head.split(",")[1:]
    await run_command(stream, device, command, v2=v2, unmap=True)


async def _exec(stream: Stream, device: DeviceState, service: str) -> None:
    await run_command(stream, device, service.partition(":")[2], v2=False, unmap=False)


async def _abb(stream: Stream, device: DeviceState, service: str) -> None:
    """Android Binder Bridge: NUL-separated `cmd` arguments; abb: uses shell v2, abb_exec: raw."""
    kind, _, args = service.partition(":")
    command = "cmd " + " ".join(shlex.quote(a) for a in args.split("\0"))
    await run_command(stream, device, command, v2=kind == "abb", unmap=False)


async def _root(stream: Stream, device: DeviceState, service: str) -> None:
    await stream.write(b"adbd cannot run as root in production builds\n")


_SERVICES: dict[str, Handler] = {
    "shell": _shell, "exec": _exec, "abb": _abb, "abb_exec": _abb, "sync": serve_sync,
    "root": _root, "unroot": _root,
}


def handler_for(service: str) -> Handler | None:
    """The handler of an OPENed service name such as ``shell,v2,raw:ls`` (None: refuse it)."""
    return _SERVICES.get(service.partition(":")[0].split(",")[0])
