"""An attached iPhone as a Device, and which transport reaches it from this machine."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import ClassVar

from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import BenchRecord
from affdeploy.devices.base import DeviceBase
from affdeploy.errors import UsageError
from affdeploy.progress import Progress, silent
from affdeploy.vocab import DeviceKind

TRANSPORT_ENV = "AFFDEPLOY_IOS_TRANSPORT"  # xcode | pymobiledevice3
_BUNDLED = ("the app runs the models `affdeploy ios-assets` bundled into it; export with these settings, rerun ios-assets, "
            "and rebuild the app")
_COUNTS = "the app counts iterations; use --warmup / --iters"


def uses_xcode() -> bool:
    """macOS drives phones through Xcode's tools, other systems through pymobiledevice3.

    ``AFFDEPLOY_IOS_TRANSPORT=pymobiledevice3`` uses pymobiledevice3 on a Mac without Xcode;
    ``=xcode`` forces the Xcode flow.
    """
    choice = os.environ.get(TRANSPORT_ENV, "").lower()
    if choice not in ("", "xcode", "pymobiledevice3"):
        raise UsageError(f"{TRANSPORT_ENV} must be xcode or pymobiledevice3, got {choice!r}")
    return choice == "xcode" or (not choice and sys.platform == "darwin")


def transport() -> ModuleType:
    """The module (xcode or pmd3) with ``list_devices()`` and ``run_bench(request, device)`` for this machine."""
    # Imported here: both transports build IosDevice objects, so they import this module.
    if uses_xcode():
        from affdeploy.devices.ios import xcode

        return xcode
    from affdeploy.devices.ios import pmd3

    return pmd3


@dataclass
class IosDevice(DeviceBase):
    """An iPhone; the AFFBench app measures on it."""

    kind: ClassVar[DeviceKind] = DeviceKind.IOS
    refused: ClassVar[dict[str, str]] = {
        "threads": "Core ML and the app's ExecuTorch runtime choose their own threads",
        "fft": _BUNDLED,
        "image_size": _BUNDLED,
        "precision": _BUNDLED,
        "weights": _BUNDLED,
        "models_dir": _BUNDLED,
        "artifacts": _BUNDLED,
        "warmup_s": _COUNTS,
        "min_s": _COUNTS,
    }

    def run(self, request: BenchRequest, progress: Progress = silent) -> list[BenchRecord]:
        request = self.prepare(request)
        progress(f"benchmarking on {self.info.name} with the AFFBench app", None)
        return transport().run_bench(request, self)
