"""Devices a benchmark can run on: this machine, Android phones over adb, iPhones.

``resolve_device`` turns what the user typed after ``--device`` (``host``, a profile name such as
``pixel7`` or ``iphone15pro``, or a serial/UDID) into one attached device, or a clear error that
lists what is attached.
"""

from __future__ import annotations

from dataclasses import dataclass

from affdeploy.bench.schema import DeviceInfo
from affdeploy.devices.profiles import DeviceProfile


@dataclass
class ResolvedDevice:
    kind: str  # "host" | "android" | "ios"
    id: str  # "host", an adb serial, or an iOS UDID
    info: DeviceInfo
    profile: DeviceProfile | None = None
