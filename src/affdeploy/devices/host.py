"""This machine as a Device: the host benchmark engine honours every field of a request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from affdeploy.bench.engine import run_host
from affdeploy.bench.host import host_device_info
from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import BenchRecord
from affdeploy.devices.base import DeviceBase
from affdeploy.progress import Progress, silent
from affdeploy.vocab import DeviceKind


@dataclass
class HostDevice(DeviceBase):
    """The computer affdeploy runs on."""

    kind: ClassVar[DeviceKind] = DeviceKind.HOST

    @classmethod
    def here(cls) -> HostDevice:
        return cls(id="host", info=host_device_info())

    def run(self, request: BenchRequest, progress: Progress = silent) -> list[BenchRecord]:
        return run_host(self.prepare(request), progress)
