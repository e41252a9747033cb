"""What Android phones are attached, which one ``--device`` means, and what each one is."""

from __future__ import annotations

import logging

from affdeploy.bench.schema import DeviceInfo
from affdeploy.devices.android.adb import CONNECT_HINT, Adb, AttachedDevice
from affdeploy.devices.android.device import AndroidDevice
from affdeploy.devices.android.probes import read_battery, read_clusters, read_thermal
from affdeploy.devices.profiles import profile, profile_for_model
from affdeploy.errors import DeviceError

log = logging.getLogger(__name__)


def _soc(props: dict[str, str]) -> str:
    for key in ("ro.soc.model", "ro.hardware.chipname", "ro.board.platform", "ro.hardware"):
        if props.get(key):
            return props[key]
    return ""


def describe(adb: Adb, attached: AttachedDevice | None = None) -> AndroidDevice:
    """Everything ``affdeploy devices`` shows about the device ``adb`` is bound to."""
    serial = adb.serial or ""
    if attached is not None and attached.state != "device":
        info = DeviceInfo(kind="android", name=attached.attributes.get("model", serial), serial=serial,
                          model=attached.attributes.get("model", ""), extra={"state": attached.state})
        return AndroidDevice(id=serial, info=info)
    props = adb.getprop()
    clusters = read_clusters(adb)
    model = props.get("ro.product.model", "")
    prof = profile_for_model(model)
    sdk = props.get("ro.build.version.sdk", "")
    release = props.get("ro.build.version.release", "")
    info = DeviceInfo(
        kind="android",
        name=prof.name if prof else (model or serial),
        model=model,
        manufacturer=props.get("ro.product.manufacturer", ""),
        serial=serial,
        soc=_soc(props),
        abi=props.get("ro.product.cpu.abi", ""),
        os=f"Android {release}" + (f" (SDK {sdk})" if sdk else "") if release else "",
        cpu=props.get("ro.hardware", ""),
        cores=sum(len(c.cpus) for c in clusters),
        extra={
            "state": "device",
            "sdk": int(sdk) if sdk.isdigit() else None,
            "clusters": [c.to_dict() for c in clusters],
            "battery": read_battery(adb),
            "thermal": read_thermal(adb),
        },
    )
    log.debug("android device %s: %s (%s), profile %s", serial, model, info.soc, prof.name if prof else None)
    return AndroidDevice(id=serial, info=info, profile=prof)


def list_devices(adb: Adb | None = None) -> list[AndroidDevice]:
    """Every device the adb server sees (unauthorized/offline ones with their state only)."""
    adb = adb or Adb()
    return [describe(adb.for_device(d.serial), d) for d in adb.devices()]


def attached_summary(adb: Adb) -> str:
    """One phrase naming what is attached, for error messages."""
    found = adb.devices()
    if not found:
        return "no Android device is attached"
    parts = [f"{d.serial} ({d.attributes.get('model', '?')}, {d.state})" for d in found]
    return "attached: " + ", ".join(parts)


def only_device(adb: Adb | None = None) -> AndroidDevice:
    """The one phone ``ANDROID_SERIAL`` names, else the only ready one; a DeviceError otherwise."""
    adb = adb or Adb()
    serial = adb.default_serial
    if serial is None:
        ready = [d for d in adb.devices() if d.state == "device"]
        if len(ready) != 1:
            raise DeviceError(
                f"{len(ready)} Android devices are ready ({attached_summary(adb)})",
                hint=CONNECT_HINT if not ready else "pass --device <serial> or set ANDROID_SERIAL",
            )
        serial = ready[0].serial
    found = find_device(serial, adb)
    if found is None:
        raise DeviceError(f"ANDROID_SERIAL={serial} is not attached ({attached_summary(adb)})", hint=CONNECT_HINT)
    return found


def find_device(selector: str, adb: Adb | None = None) -> AndroidDevice | None:
    """The attached device whose serial is ``selector``, or whose model matches the profile ``selector``.

    Returns None when nothing matches; raises DeviceError when several devices match a profile.
    """
    adb = adb or Adb()
    attached = adb.devices()
    for dev in attached:
        if dev.serial == selector:
            return _ready(adb, dev)
    prof = profile(selector)
    if prof is None or prof.platform != "android":
        return None
    hits = [d for d in attached if prof.matches(d.attributes.get("model", ""))]
    if not hits:  # `adb devices -l` may shorten or omit the model; getprop is authoritative
        hits = [d for d in attached if d.state == "device"
                and prof.matches(adb.for_device(d.serial).getprop().get("ro.product.model", ""))]
    if len(hits) > 1:
        raise DeviceError(
            f"{len(hits)} attached devices match profile {prof.name} ({', '.join(d.serial for d in hits)})",
            hint="pick one by serial: --device <serial>",
        )
    return _ready(adb, hits[0]) if hits else None


def _ready(adb: Adb, dev: AttachedDevice) -> AndroidDevice:
    if dev.state != "device":
        raise DeviceError(
            f"device {dev.serial} is {dev.state}",
            hint="accept the USB debugging prompt on the phone" if dev.state == "unauthorized" else CONNECT_HINT,
        )
    return describe(adb.for_device(dev.serial), dev)
