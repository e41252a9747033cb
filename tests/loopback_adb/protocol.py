"""ADB wire-format constants and packers (transport messages, shell v2 packets, sync messages).

Kept apart from the server so the byte layouts, which must match what the real adb client expects,
live in one place and can be read against the public protocol description.
"""

from __future__ import annotations

import struct

# Transport messages: 24-byte little-endian header (command, arg0, arg1, data length, data checksum,
# magic = command ^ 0xffffffff) followed by the payload.
A_SYNC = 0x434E5953
A_CNXN = 0x4E584E43
A_AUTH = 0x48545541
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
# 0x01000001 lets both peers skip the payload checksum; we still compute it when sending.
A_VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024

HEADER = struct.Struct("<6I")


def pack_message(command: int, arg0: int, arg1: int, payload: bytes = b"") -> bytes:
    """One transport message, ready to write to the socket."""
    checksum = sum(payload) & 0xFFFFFFFF
    return HEADER.pack(command, arg0, arg1, len(payload), checksum, command ^ 0xFFFFFFFF) + payload


# Shell protocol v2 ("shell,v2,...:" and "abb:"): 1-byte packet id + uint32 length + data.
SHELL_STDIN = 0
SHELL_STDOUT = 1
SHELL_STDERR = 2
SHELL_EXIT = 3
SHELL_CLOSE_STDIN = 4
SHELL_WINDOW_SIZE = 5
SHELL_HEADER = struct.Struct("<BI")


def pack_shell(packet_id: int, data: bytes) -> bytes:
    return SHELL_HEADER.pack(packet_id, len(data)) + data


# Sync protocol ("sync:"): every request and most replies start with a 4-byte id + uint32.
SYNC_HEADER = struct.Struct("<4sI")
SYNC_DATA_MAX = 64 * 1024
STAT_V1 = struct.Struct("<4sIII")  # id, mode, size, mtime
STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")  # id, error, dev, ino, mode, nlink, uid, gid, size, atime, mtime, ctime
DENT_V1 = struct.Struct("<4sIIII")  # id, mode, size, mtime, namelen (+ name)
DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")  # stat_v2 fields + namelen (+ name)
