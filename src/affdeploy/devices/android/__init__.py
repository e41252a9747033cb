"""Android phones over adb, one job per module.

adb.py (transport: the real adb client, every call timed and logged), probes.py (clusters,
thermals, battery), discovery.py (what is attached, which phone ``--device`` means), device.py (the
phone as a Device), session.py (files, cool-down, pinning on one phone), runners.py (the native
runner registry), parsing.py (what the runners print), app.py (the benchmark app as a runner),
bench.py (the flow over all configurations).
"""

from affdeploy.devices.android.device import AndroidDevice
from affdeploy.devices.android.discovery import find_device, list_devices, only_device

__all__ = ["AndroidDevice", "find_device", "list_devices", "only_device"]
