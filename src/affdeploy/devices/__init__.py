"""Where a benchmark can run: this machine, Android phones over adb, iPhones.

Every place is a :class:`~affdeploy.devices.base.Device`. ``resolve_device`` turns what the user
typed after ``--device`` into one, or a clear error that lists what is attached; ``list_devices``
is everything ``affdeploy devices`` shows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from affdeploy.devices import android, ios
from affdeploy.devices.android.adb import CONNECT_HINT, Adb
from affdeploy.devices.android.discovery import attached_summary
from affdeploy.devices.base import Device
from affdeploy.devices.host import HostDevice
from affdeploy.devices.profiles import PROFILES, profile
from affdeploy.errors import AffdeployError, DeviceError, ToolMissingError

log = logging.getLogger(__name__)

HOST_NAMES = ("host", "localhost")
ANDROID_NAME = "android"  # --device android: ANDROID_SERIAL's phone, else the only attached one


def _attached_listing() -> str:
    """What is attached (Android and iOS), for "not found" errors; never raises."""
    parts = []
    try:
        parts.append(attached_summary(Adb()))
    except AffdeployError as exc:
        parts.append(f"adb: {exc.message}")
    try:
        phones = ios.list_devices()
        parts.append("iOS: " + (", ".join(f"{d.id} ({d.info.model})" for d in phones) or "none attached"))
    except AffdeployError as exc:
        log.debug("iPhones not listed: %s", exc)
    return "; ".join(parts)


def _find(selector: str) -> Device:
    prof = profile(selector)
    if prof is not None and prof.platform == "ios":
        return ios.find_device(selector)
    adb_error: AffdeployError | None = None
    try:
        found = android.find_device(selector)
        if found is not None:
            return found
    except ToolMissingError as exc:
        if prof is not None:
            raise
        adb_error = exc
    if prof is None:  # maybe an iPhone's UDID
        try:
            return ios.find_device(selector)
        except AffdeployError:
            if adb_error is not None:
                raise adb_error from None  # most likely the user meant an Android serial
    what = f"profile {prof.name} ({prof.marketing_name}: {'/'.join(prof.match)})" if prof else repr(selector)
    known = "" if prof else f" (not a serial, UDID or known profile: {', '.join(PROFILES)})"
    raise DeviceError(f"no attached device matches {what}{known}; {_attached_listing()}", hint=CONNECT_HINT)


def resolve_device(selector: str | None, *, runners: Mapping[str, Path] | None = None) -> Device:
    """The one device ``selector`` names, set up to use the native ``runners`` (by target) given.

    ``None``: the phone ANDROID_SERIAL names when it is set (as adb itself does), else this machine.
    ``host``: this machine. ``android``: ANDROID_SERIAL's phone, else the only ready one. A profile
    (``pixel7``, ``iphone15pro``) selects the attached phone whose model matches; otherwise an adb
    serial or an iPhone UDID. No match, or several, is a DeviceError listing what is attached.
    """
    if selector is None:
        device: Device = android.only_device() if Adb.serial_from_env() else HostDevice.here()
    elif selector.lower() in HOST_NAMES:
        device = HostDevice.here()
    elif selector.lower() == ANDROID_NAME:
        device = android.only_device()
    else:
        device = _find(selector)
    device.use_runners(runners or {})
    log.debug("--device %s resolved to %s %s", selector, device.kind, device.id)
    return device


def list_devices(notes: list[str]) -> list[Device]:
    """Attached Android phones and iPhones; why a kind could not be listed goes to ``notes``."""
    found: list[Device] = list(android.list_devices())
    if not found:
        notes.append(f"no Android device attached: {CONNECT_HINT}")
    try:
        found += ios.list_devices()
    except AffdeployError as exc:
        notes.append(f"iPhones are not listed: {exc}")
    return found
