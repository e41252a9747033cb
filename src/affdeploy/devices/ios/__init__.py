"""iPhones, one job per module.

app.py (what the AFFBench app is asked to do and writes), discovery.py (which iPhones are attached,
which one ``--device`` names), device.py (the iPhone as a Device; which transport reaches it),
xcode.py (macOS: devicectl, xcodebuild test, xcresulttool), xcresult.py (reading result bundles),
pmd3.py (Linux: pymobiledevice3 over usbmuxd).
"""

from affdeploy.devices.ios.device import IosDevice, transport, uses_xcode
from affdeploy.devices.ios.discovery import select_device


def list_devices() -> list[IosDevice]:
    """Attached iPhones (USB) with model, iOS version, SoC and core count."""
    return transport().list_devices()


def find_device(selector: str) -> IosDevice:
    """The attached iPhone named by an iOS profile (``iphone15pro``) or a UDID."""
    return select_device(list_devices(), selector)


__all__ = ["IosDevice", "find_device", "list_devices", "transport", "uses_xcode"]
