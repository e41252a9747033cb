"""``affdeploy profile --device <phone>``: the native runners with their profilers on (filled in next)."""

from __future__ import annotations

from affdeploy.bench.profile.model import RuntimeProfile
from affdeploy.bench.request import BenchRequest
from affdeploy.devices.android.device import AndroidDevice
from affdeploy.errors import UsageError
from affdeploy.progress import Progress, silent


def profile_android(device: AndroidDevice, request: BenchRequest, progress: Progress = silent) -> list[RuntimeProfile]:
    raise UsageError("profiling on Android is not implemented yet")
