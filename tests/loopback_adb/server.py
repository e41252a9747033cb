"""The device side of the ADB transport: accepts the adb server's TCP connection on 127.0.0.1.

Run as ``python -m loopback_adb.server STATE_DIR`` (LoopbackDevice does this) so that killing the
process drops every connection at once, as a phone that vanishes does. The chosen port is written
to STATE_DIR/port once listening.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from loopback_adb import services
from loopback_adb.protocol import (
    A_AUTH,
    A_CLSE,
    A_CNXN,
    A_OKAY,
    A_OPEN,
    A_VERSION,
    A_WRTE,
    HEADER,
    MAX_PAYLOAD,
    pack_message,
)
from loopback_adb.state import DeviceState

EMULATOR_PORTS = (5555, 5585)


class Stream:
    """One logical stream (an OPENed service) multiplexed over a connection, with ADB flow control."""

    def __init__(self, conn: Connection, local_id: int, remote_id: int) -> None:
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.closed = False
        self._acked = asyncio.Event()
        self._acked.set()
        self._write_lock = asyncio.Lock()
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._buffer = bytearray()
        self._eof = False

    # host -> device
    def feed(self, data: bytes) -> None:
        self._inbox.put_nowait(data)

    async def read_some(self) -> bytes:
        """Next bytes the host wrote, or b"" once it closed the stream."""
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            return data
        if self._eof:
            return b""
        item = await self._inbox.get()
        if item is None:
            self._eof = True
            return b""
        return item

    async def read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if self._eof:
                raise EOFError
            item = await self._inbox.get()
            if item is None:
                self._eof = True
                raise EOFError
            self._buffer += item
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    # device -> host: at most one unacknowledged WRTE per stream
    async def write(self, data: bytes) -> None:
        async with self._write_lock:
            step = self.conn.max_payload
            for offset in range(0, len(data), step):
                await self._acked.wait()
                if self.closed:
                    raise ConnectionResetError("stream closed by the host")
                self._acked.clear()
                self.conn.send(A_WRTE, self.local_id, self.remote_id, data[offset:offset + step])

    def on_okay(self) -> None:
        self._acked.set()

    def on_host_close(self) -> None:
        self.closed = True
        self._inbox.put_nowait(None)
        self._acked.set()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.conn.send(A_CLSE, self.local_id, self.remote_id)
        self.conn.streams.pop(self.local_id, None)


class Connection:
    """One TCP connection from the adb server: handshake, then OPEN/WRTE/OKAY/CLSE dispatch."""

    _ids = itertools.count(1)

    def __init__(self, device: DeviceState, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.device = device
        self.reader = reader
        self.writer = writer
        self.max_payload = MAX_PAYLOAD
        self.streams: dict[int, Stream] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def send(self, command: int, arg0: int, arg1: int, payload: bytes = b"") -> None:
        if not self.writer.is_closing():
            self.writer.write(pack_message(command, arg0, arg1, payload))

    async def run(self) -> None:
        try:
            while True:
                header = await self.reader.readexactly(HEADER.size)
                command, arg0, arg1, length, _, magic = HEADER.unpack(header)
                if magic != command ^ 0xFFFFFFFF:
                    break
                payload = await self.reader.readexactly(length) if length else b""
                self.dispatch(command, arg0, arg1, payload)
                await self.writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for task in list(self.tasks.values()):
                task.cancel()
            self.writer.close()

    def dispatch(self, command: int, arg0: int, arg1: int, payload: bytes) -> None:
        if command in (A_CNXN, A_AUTH):
            # No authentication: answer any CNXN (or stray AUTH) with our own CNXN.
            if command == A_CNXN:
                self.max_payload = min(MAX_PAYLOAD, arg1 or MAX_PAYLOAD)
            self.send(A_CNXN, A_VERSION, MAX_PAYLOAD, self.device.config.banner())
        elif command == A_OPEN:
            self.open(arg0, payload.rstrip(b"\0").decode("utf-8", "replace"))
        elif command == A_WRTE:
            stream = self.streams.get(arg1)
            if stream is None:
                self.send(A_CLSE, 0, arg0)
                return
            stream.feed(payload)
            self.send(A_OKAY, stream.local_id, stream.remote_id)
        elif command == A_OKAY:
            if (stream := self.streams.get(arg1)) is not None:
                stream.on_okay()
        elif command == A_CLSE:
            if (stream := self.streams.pop(arg1, None)) is not None:
                stream.on_host_close()
                if (task := self.tasks.get(arg1)) is not None:
                    task.cancel()

    def open(self, remote_id: int, service: str) -> None:
        self.device.refresh_thermal_files()
        self.device.log("services", {"service": service})
        handler = services.handler_for(service)
        if handler is None:
            self.send(A_CLSE, 0, remote_id)
            return
        local_id = next(self._ids)
        stream = Stream(self, local_id, remote_id)
        self.streams[local_id] = stream
        self.send(A_OKAY, local_id, remote_id)
        self.tasks[local_id] = asyncio.create_task(self._serve(handler, stream, service))

    async def _serve(self, handler: Callable[[Stream, DeviceState, str], Awaitable[None]],
                     stream: Stream, service: str) -> None:
        try:
            await handler(stream, self.device, service)
        except (ConnectionError, EOFError, asyncio.CancelledError):
            pass
        except Exception:  # a bug in a service: keep serving, leave the evidence in server.log
            traceback.print_exc()
        finally:
            stream.close()
            self.tasks.pop(stream.local_id, None)


async def _exit_with_parent(parent: int) -> None:
    """A test process that dies without cleaning up must not leave its phone running."""
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    services.vanish()


async def serve(state_dir: Path) -> None:
    device = DeviceState(state_dir)
    watchdog = asyncio.create_task(_exit_with_parent(os.getppid()))

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await Connection(device, reader, writer).run()

    while True:  # adb scans 5555-5585 for emulators on its own: stay out of that range
        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        if not EMULATOR_PORTS[0] <= port <= EMULATOR_PORTS[1]:
            break
        server.close()
    tmp = state_dir / "port.tmp"
    tmp.write_text(str(port))
    os.replace(tmp, state_dir / "port")
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, services.vanish)
    async with server:
        await server.serve_forever()
    watchdog.cancel()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1])))
