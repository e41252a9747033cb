"""An attached Android phone as a Device."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import BenchRecord
from affdeploy.devices.android.bench import run_bench
from affdeploy.devices.android.runners import RunnerPaths
from affdeploy.devices.base import DeviceBase
from affdeploy.progress import Progress, silent
from affdeploy.vocab import DeviceKind

_COUNTS = "phone runners count iterations; use --warmup / --iters"


@dataclass
class AndroidDevice(DeviceBase):
    """A phone adb can reach; ``runners`` holds the native runner paths given on the command line, by target."""

    kind: ClassVar[DeviceKind] = DeviceKind.ANDROID
    refused: ClassVar[dict[str, str]] = {"warmup_s": _COUNTS, "min_s": _COUNTS}
    runners: dict[str, Path] = field(default_factory=dict)

    def use_runners(self, runners: Mapping[str, Path]) -> None:
        self.runners = dict(runners)

    def run(self, request: BenchRequest, progress: Progress = silent) -> list[BenchRecord]:
        return run_bench(self.prepare(request), self, runners=RunnerPaths.resolve(self.runners), progress=progress)
