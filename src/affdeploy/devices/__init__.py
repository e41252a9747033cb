"""Devices a benchmark can run on: this machine, Android phones over adb, iPhones.

``resolve_device`` turns what the user typed after ``--device`` (``host``, a profile name such as
``pixel7`` or ``iphone15pro``, or a serial/UDID) into one attached device, or a clear error that
lists what is attached.
"""

from __future__ import annotations

from dataclasses import dataclass

from affdeploy.bench.schema import DeviceInfo
from affdeploy.devices.profiles import DeviceProfile
from affdeploy.errors import AffdeployError, DeviceError, ToolMissingError


@dataclass
class ResolvedDevice:
    """One attached device (or this machine) and what we know about it."""

    kind: str  # "host" | "android" | "ios"
    id: str  # "host", an adb serial, or an iOS UDID
    info: DeviceInfo
    profile: DeviceProfile | None = None


def _attached_listing() -> str:
    """What is attached (Android and iOS), for "not found" errors; never raises."""
    from affdeploy.devices import android
    from affdeploy.devices.adb import Adb

    parts = []
    try:
        parts.append(android.attached_summary(Adb()))
    except AffdeployError as exc:
        parts.append(f"adb: {exc.message}")
    try:
        from affdeploy.devices import ios

        phones = ios.list_devices()
        parts.append("iOS: " + (", ".join(f"{d.id} ({d.info.model})" for d in phones) or "none attached"))
    except (AffdeployError, ImportError):
        pass  # no iOS tooling here: Android is all we can list
    return "; ".join(parts)


def resolve_device(selector: str | None) -> ResolvedDevice:
    """The one device ``selector`` names: ``host``, a profile (``pixel7``, ``iphone15pro``), a serial or UDID.

    An Android profile selects the attached phone whose ro.product.model matches the profile;
    an iOS profile is resolved by the iOS module. No match, or several, is a DeviceError that
    lists what is attached. ``None`` means ANDROID_SERIAL, else the only attached adb device.
    """
    from affdeploy.devices import android
    from affdeploy.devices.adb import CONNECT_HINT, Adb
    from affdeploy.devices.profiles import PROFILES, profile

    if selector is not None and selector.lower() == "host":
        from affdeploy.bench.host import host_device_info

        return ResolvedDevice(kind="host", id="host", info=host_device_info())
    prof = profile(selector) if selector else None
    if prof is not None and prof.platform == "ios":
        from affdeploy.devices import ios

        return ios.find_device(selector)
    if selector is None:
        adb = Adb()
        selector = adb.default_serial
        if selector is None:
            ready = [d for d in adb.devices() if d.state == "device"]
            if len(ready) != 1:
                raise DeviceError(
                    f"--device is needed: {len(ready)} Android devices are ready ({android.attached_summary(adb)})",
                    hint=CONNECT_HINT if not ready else "pass --device <serial> or set ANDROID_SERIAL",
                )
            selector = ready[0].serial
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
            from affdeploy.devices import ios

            return ios.find_device(selector)
        except (AffdeployError, ImportError):
            if adb_error is not None:
                raise adb_error from None  # most likely the user meant an Android serial
    what = f"profile {prof.name} ({prof.marketing_name}: {'/'.join(prof.match)})" if prof else repr(selector)
    known = "" if prof else f" (not a serial, UDID or known profile: {', '.join(PROFILES)})"
    raise DeviceError(f"no attached device matches {what}{known}; {_attached_listing()}", hint=CONNECT_HINT)
