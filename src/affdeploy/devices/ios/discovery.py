"""Which iPhones are attached, and which one ``--device`` names (a profile or a UDID)."""

from __future__ import annotations

import logging
from typing import Any

from affdeploy.bench.schema import DeviceInfo
from affdeploy.devices.ios.device import IosDevice
from affdeploy.devices.profiles import PROFILES, DeviceProfile, profile, profile_for_model
from affdeploy.errors import DeviceError, UsageError

log = logging.getLogger(__name__)

ATTACH_HINT = "connect the iPhone by USB, unlock it and tap 'Trust This Computer'"


def _total_cores(prof: DeviceProfile | None) -> int:
    return sum(count for count, _ in prof.clusters) if prof else 0


def ios_device(udid: str, product_type: str, os_version: str, *, device_name: str = "",
               extra: dict[str, Any] | None = None) -> IosDevice:
    """An IosDevice for an iPhone, enriched from its profile (SoC, cores) when one matches."""
    prof = profile_for_model(product_type)
    info = DeviceInfo(
        kind="ios",
        name=prof.name if prof else (device_name or product_type or udid),
        model=product_type,
        manufacturer="Apple",
        serial=udid,
        soc=prof.soc if prof else "",
        abi="arm64",
        os=f"iOS {os_version}" if os_version else "",
        cores=_total_cores(prof),
        extra={"device_name": device_name, **(extra or {})},
    )
    return IosDevice(id=udid, info=info, profile=prof)


def parse_devicectl_devices(doc: dict[str, Any]) -> list[IosDevice]:
    """iOS devices in the JSON that ``xcrun devicectl list devices --json-output`` writes."""
    devices = []
    for entry in doc.get("result", {}).get("devices", []):
        hw = entry.get("hardwareProperties", {})
        props = entry.get("deviceProperties", {})
        conn = entry.get("connectionProperties", {})
        if hw.get("platform", "iOS") != "iOS":
            continue
        devices.append(
            ios_device(
                hw.get("udid") or entry.get("identifier", ""),
                hw.get("productType", ""),
                props.get("osVersionNumber", ""),
                device_name=props.get("name", ""),
                extra={
                    "marketing_name": hw.get("marketingName", ""),
                    "developer_mode": props.get("developerModeStatus", ""),
                    "transport": conn.get("transportType", ""),
                    "tunnel_state": conn.get("tunnelState", ""),
                    "pairing_state": conn.get("pairingState", ""),
                },
            )
        )
    return devices


def select_device(devices: list[IosDevice], selector: str) -> IosDevice:
    """The one attached iPhone that ``selector`` (an iOS profile name or a UDID) names."""
    attached = ", ".join(f"{d.info.model} {d.id}" for d in devices) or "none"
    log.debug("selecting %r among attached iPhones: %s", selector, attached)
    prof = profile(selector)
    if prof is not None and prof.platform != "ios":
        raise UsageError(f"{selector} is an {prof.platform} profile, not an iPhone", hint="use an iOS profile or a UDID")
    if prof is not None:
        matches = [d for d in devices if prof.matches(d.info.model)]
        if len(matches) > 1:
            raise DeviceError(f"several {prof.marketing_name}s are attached ({attached})", hint="pass the UDID instead")
        if matches:
            return matches[0]
        if not devices:
            raise DeviceError("no iOS device attached", hint=ATTACH_HINT)
        raise DeviceError(f"no {prof.marketing_name} ({'/'.join(prof.match)}) attached; attached: {attached}")
    wanted = selector.replace("-", "").lower()
    for dev in devices:
        if dev.id.replace("-", "").lower() == wanted:
            return dev
    known = ", ".join(p.name for p in PROFILES.values() if p.platform == "ios")
    if not devices:
        raise DeviceError("no iOS device attached", hint=ATTACH_HINT)
    raise DeviceError(f"no iOS device matches {selector!r} (iOS profiles: {known}); attached: {attached}")


