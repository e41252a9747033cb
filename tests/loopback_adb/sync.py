"""The ``sync:`` service: STAT/STA2/LST2, LIST/LIS2, SEND (push) and RECV (pull).

Honours the device's disk capacity so a push that does not fit fails the way a full phone does
("No space left on device") instead of half-writing the file.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from loopback_adb.protocol import DENT_V1, DENT_V2, STAT_V1, STAT_V2, SYNC_DATA_MAX, SYNC_HEADER
from loopback_adb.state import DeviceState

if TYPE_CHECKING:
    from loopback_adb.server import Stream

_MAX_PATH = 4096


def _fail(message: str) -> bytes:
    data = message.encode()
    return SYNC_HEADER.pack(b"FAIL", len(data)) + data


def _stat_fields(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid, st.st_size,
            int(st.st_atime), int(st.st_mtime), int(st.st_ctime))


def _stat_v1(path: Path) -> bytes:
    try:
        st = os.lstat(path)
    except OSError:
        return STAT_V1.pack(b"STAT", 0, 0, 0)
    return STAT_V1.pack(b"STAT", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime))


def _stat_v2(ident: bytes, path: Path) -> bytes:
    try:
        st = os.stat(path) if ident == b"STA2" else os.lstat(path)
    except OSError as e:
        return STAT_V2.pack(ident, e.errno or errno.EIO, *([0] * 10))
    return STAT_V2.pack(ident, 0, *_stat_fields(st))


def _listing(ident: bytes, path: Path) -> bytes:
    v2 = ident == b"LIS2"
    out = []
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError:
        entries = []
    for entry in entries:
        name = entry.name.encode()
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if v2:
            out.append(DENT_V2.pack(b"DNT2", 0, *_stat_fields(st), len(name)) + name)
        else:
            out.append(DENT_V1.pack(b"DENT", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(name)) + name)
    out.append(DENT_V2.pack(b"DONE", *([0] * 12)) if v2 else DENT_V1.pack(b"DONE", 0, 0, 0, 0))
    return b"".join(out)


async def _receive(stream: Stream, device: DeviceState, spec: str) -> None:
    """SEND: DATA chunks then DONE(mtime); write with the requested mode, or FAIL."""
    path_text, _, mode_text = spec.rpartition(",")
    if not path_text:
        path_text, mode_text = spec, "33188"
    mode = int(mode_text or "33188")
    target = device.host_path(path_text)
    _, _, free = device.disk_usage()
    if target.is_file():
        free += target.stat().st_size
    error: str | None = None
    chunks: list[bytes] = []
    received = 0
    while True:
        ident, length = SYNC_HEADER.unpack(await stream.read_exact(SYNC_HEADER.size))
        if ident == b"DONE":
            mtime = length
            break
        if ident != b"DATA" or length > SYNC_DATA_MAX:
            await stream.write(_fail("invalid data message"))
            raise EOFError
        data = await stream.read_exact(length)
        received += len(data)
        if error is None and received > free:
            error = os.strerror(errno.ENOSPC)
            chunks.clear()
        if error is None:
            chunks.append(data)
    if error is None:
        error = _write_file(target, b"".join(chunks), mode, mtime)
    await stream.write(_fail(error) if error else SYNC_HEADER.pack(b"OKAY", 0))


def _write_file(target: Path, data: bytes, mode: int, mtime: int) -> str | None:
    """Create the pushed file (or symlink) like adbd does, parents included; an error text or None."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if stat.S_ISLNK(mode):
            if target.is_symlink() or target.exists():
                target.unlink()
            os.symlink(data.decode(), target)
            return None
        if target.is_dir():
            return os.strerror(errno.EISDIR)
        tmp = target.with_name(f".{target.name}.push")
        tmp.write_bytes(data)
        os.chmod(tmp, stat.S_IMODE(mode) or 0o644)
        os.utime(tmp, (mtime, mtime))
        os.replace(tmp, target)
    except OSError as e:
        return e.strerror or str(e)
    return None


async def _send_file(stream: Stream, path: Path) -> None:
    """RECV: the file as DATA chunks, then DONE; several chunks per WRTE to keep pulls fast."""
    try:
        f = open(path, "rb")
    except OSError as e:
        await stream.write(_fail(e.strerror or str(e)))
        return
    with f:
        batch: list[bytes] = []
        batch_size = 0
        while chunk := f.read(SYNC_DATA_MAX):
            batch.append(SYNC_HEADER.pack(b"DATA", len(chunk)) + chunk)
            batch_size += len(chunk)
            if batch_size >= stream.conn.max_payload:
                await stream.write(b"".join(batch))
                batch, batch_size = [], 0
        batch.append(SYNC_HEADER.pack(b"DONE", 0))
        await stream.write(b"".join(batch))


async def serve_sync(stream: Stream, device: DeviceState, service: str) -> None:
    """Answer sync requests until QUIT or the host closes the stream."""
    while True:
        try:
            ident, length = SYNC_HEADER.unpack(await stream.read_exact(SYNC_HEADER.size))
        except EOFError:
            return
        if ident == b"QUIT":
            return
        if length > _MAX_PATH:
            await stream.write(_fail("path too long"))
            return
        path = (await stream.read_exact(length)).decode("utf-8", "replace")
        if ident == b"STAT":
            await stream.write(_stat_v1(device.host_path(path)))
        elif ident in (b"STA2", b"LST2"):
            await stream.write(_stat_v2(ident, device.host_path(path)))
        elif ident in (b"LIST", b"LIS2"):
            await stream.write(_listing(ident, device.host_path(path)))
        elif ident == b"SEND":
            await _receive(stream, device, path)
        elif ident == b"RECV":
            await _send_file(stream, device.host_path(path))
        else:
            await stream.write(_fail(f"unknown sync request {ident!r}"))
            return
