"""The Linux transport: pymobiledevice3 over usbmuxd lists iPhones, installs a built app, launches it
in benchmark mode through the DVT instruments service and pulls its results from the app container.

Every library call is timed into the log (``affdeploy --verbose``) and every way it can fail
becomes one clear error line.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from pymobiledevice3 import exceptions as pmd3_errors
from pymobiledevice3 import usbmux
from pymobiledevice3.lockdown import create_using_usbmux
from pymobiledevice3.services.dvt.instruments.dvt_provider import DvtProvider
from pymobiledevice3.services.dvt.instruments.process_control import ProcessControl
from pymobiledevice3.services.house_arrest import HouseArrestService
from pymobiledevice3.services.installation_proxy import InstallationProxyService
from pymobiledevice3.tunneld.api import get_tunneld_device_by_udid

from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import BenchRecord, load_results
from affdeploy.devices.calls import timed
from affdeploy.devices.ios.app import (
    ASSETS_HINT,
    BUNDLE_ID,
    CONTAINER_ERROR,
    CONTAINER_RESULTS,
    RESULTS_NAME,
    RUN_TIMEOUT_S,
    STEP_TIMEOUT_S,
    app_arguments,
    installable_app,
    stamp_records,
)
from affdeploy.devices.ios.device import IosDevice
from affdeploy.devices.ios.discovery import ATTACH_HINT, ios_device
from affdeploy.errors import AffdeployError, DeviceError, ToolMissingError
from affdeploy.fsutil import atomic_write_bytes

log = logging.getLogger(__name__)

INSTALL_TIMEOUT_S = 600.0  # installing the app (hundreds of MB with its models)
POLL_S = 2.0
USBMUXD_HINT = ("install and start it: sudo apt-get install usbmuxd && sudo usbmuxd; udev also starts it when "
                "an iPhone is plugged in")
DEV_MODE_HINT = "on the iPhone: Settings > Privacy & Security > Developer Mode > On, restart, confirm"
TUNNEL_HINT = ("iOS 17+ needs a tunnel for developer services: run 'sudo python3 -m pymobiledevice3 remote tunneld' in "
               "another terminal")
LAUNCH_HINT = (
    "unlock the iPhone, trust the developer in Settings > General > VPN & Device Management, "
    "and check that the installed AFFBench is signed for this phone"
)

T = TypeVar("T")


def pmd3_error(exc: BaseException) -> AffdeployError:
    """One clear line for each way pymobiledevice3 can fail; unknown exceptions are re-raised."""
    name = type(exc).__name__
    if isinstance(exc, pmd3_errors.ConnectionFailedToUsbmuxdError):
        if shutil.which("usbmuxd") is None:
            return ToolMissingError("usbmuxd is not installed, so no iPhone can be reached", hint=USBMUXD_HINT)
        return DeviceError("usbmuxd is not running, so no iPhone can be reached", hint=USBMUXD_HINT)
    if isinstance(exc, (pmd3_errors.NotPairedError, pmd3_errors.NotTrustedError, pmd3_errors.PairingError)):
        return DeviceError("the iPhone does not trust this computer", hint=ATTACH_HINT)
    if isinstance(exc, (pmd3_errors.DeveloperModeIsNotEnabledError, pmd3_errors.DeveloperModeError)):
        return DeviceError("developer mode is off on the iPhone", hint=DEV_MODE_HINT)
    if isinstance(exc, (pmd3_errors.TunneldConnectionError, pmd3_errors.RSDRequiredError)):
        return DeviceError("no tunnel to the iPhone's developer services", hint=TUNNEL_HINT)
    if isinstance(exc, pmd3_errors.AppNotInstalledError):
        return DeviceError(f"{BUNDLE_ID} is not installed on the iPhone",
                           hint="build the app (docs/ios.md) and set AFFDEPLOY_IOS_APP to its .ipa or .app")
    if isinstance(exc, (pmd3_errors.DeveloperDiskImageNotFoundError, pmd3_errors.NotMountedError)):
        return DeviceError("the developer disk image is not mounted",
                           hint="run: python3 -m pymobiledevice3 mounter auto-mount")
    if isinstance(exc, pmd3_errors.AppInstallError):
        return DeviceError(f"installing the app failed: {exc}", hint="check signing: the app must be signed for this iPhone")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return DeviceError("the iPhone did not answer in time", hint="unlock it, keep it connected and retry")
    if isinstance(exc, (pmd3_errors.PyMobileDevice3Exception, OSError, ConnectionError)):
        return DeviceError(f"talking to the iPhone failed ({name}: {exc})")
    raise exc


def call(what: str, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one pymobiledevice3 session to its end, mapping its failures to affdeploy errors."""
    try:
        with timed(f"pymobiledevice3 {what}"):
            return asyncio.run(make())
    except AffdeployError:
        raise
    except Exception as exc:  # every library failure becomes one line; unknown kinds re-raise inside
        raise pmd3_error(exc) from None


async def step(what: str, awaitable: Awaitable[T], timeout: float = STEP_TIMEOUT_S) -> T:
    """One pymobiledevice3 call, with a timeout and its duration in the log."""
    with timed(f"pymobiledevice3 {what}"):
        return await asyncio.wait_for(awaitable, timeout)


async def launch(process: ProcessControl, arguments: list[str]) -> int:
    """Launch the app; ProcessControl.launch asserts on the zero PID a refused launch returns."""
    try:
        return await step(f"ProcessControl.launch {BUNDLE_ID}",
                          process.launch(BUNDLE_ID, arguments=arguments, kill_existing=True))
    except AssertionError:
        raise DeviceError(f"the iPhone refused to launch {BUNDLE_ID} (it returned no process id)",
                          hint=LAUNCH_HINT) from None


async def _lockdown(udid: str | None) -> Any:
    return await step(f"lockdown {udid or ''}".strip(), create_using_usbmux(serial=udid, autopair=False))


async def _devices() -> list[IosDevice]:
    devices = []
    for mux in await step("usbmux list_devices", usbmux.list_devices()):
        if not mux.is_usb:
            continue
        lockdown = await _lockdown(mux.serial)
        try:
            values = lockdown.all_values
            devices.append(
                ios_device(
                    mux.serial,
                    values.get("ProductType", ""),
                    values.get("ProductVersion", ""),
                    device_name=values.get("DeviceName", ""),
                    extra={"hardware_model": values.get("HardwareModel", ""), "transport": "usb"},
                )
            )
        finally:
            await lockdown.close()
    return devices


def list_devices() -> list[IosDevice]:
    """Attached iPhones (USB), from usbmuxd and each phone's lockdown values."""
    return call("list devices", _devices)


async def _service_provider(lockdown: Any, udid: str) -> Any:
    """What DVT services go through: lockdown before iOS 17, a tunneld RSD tunnel from iOS 17 on."""
    log.debug("iOS %s: developer services through %s", lockdown.product_version,
              "lockdown" if int(lockdown.product_version.split(".")[0]) < 17 else "a tunneld tunnel")
    if int(lockdown.product_version.split(".")[0]) < 17:
        return lockdown
    rsd = await step("tunneld lookup", get_tunneld_device_by_udid(udid))
    if rsd is None:
        raise pmd3_errors.TunneldConnectionError()
    return rsd


async def _pull_results(lockdown: Any, deadline: float) -> bytes:
    """Wait until the app has written its results file, then read it from the app container."""
    while True:
        async with await step("house_arrest open", HouseArrestService.create(lockdown, BUNDLE_ID)) as container:
            if await step("house_arrest exists results", container.exists(CONTAINER_RESULTS)):
                return await step("house_arrest read results", container.get_file_contents(CONTAINER_RESULTS))
            if await step("house_arrest exists error", container.exists(CONTAINER_ERROR)):
                error = await step("house_arrest read error", container.get_file_contents(CONTAINER_ERROR))
                message = error.decode("utf-8", "replace").strip()
                raise DeviceError(f"the app's benchmark failed on the iPhone: {message}", hint=ASSETS_HINT)
        if time.monotonic() > deadline:
            raise DeviceError(f"the app wrote no {CONTAINER_RESULTS} within {RUN_TIMEOUT_S:.0f} s",
                              hint="open AFFBench on the phone to see its error")
        await asyncio.sleep(POLL_S)


async def _bench(request: BenchRequest, udid: str, app: Path | None) -> bytes:
    lockdown = await _lockdown(udid)
    try:
        if lockdown.has_developer_mode and not await step("developer mode status", lockdown.get_developer_mode_status()):
            raise DeviceError("developer mode is off on the iPhone", hint=DEV_MODE_HINT)
        if app is not None:
            async with InstallationProxyService(lockdown=lockdown) as installer:
                await step(f"install {app.name}", installer.install_from_local(app), INSTALL_TIMEOUT_S)
        async with await step("house_arrest open", HouseArrestService.create(lockdown, BUNDLE_ID)) as container:
            for stale in (CONTAINER_RESULTS, CONTAINER_ERROR):  # so an old run is never read back
                await step(f"house_arrest rm {stale}", container.rm_single(stale, force=True))
        provider = await _service_provider(lockdown, udid)
        async with DvtProvider(provider) as dvt, ProcessControl(dvt) as process:
            await launch(process, app_arguments(request))
        return await _pull_results(lockdown, time.monotonic() + RUN_TIMEOUT_S)
    finally:
        await lockdown.close()


def run_bench(request: BenchRequest, device: IosDevice) -> list[BenchRecord]:
    """Install (when built), launch the benchmark, read the results file back."""
    app = installable_app()
    data = call("benchmark", lambda: _bench(request, device.id, app))
    with tempfile.TemporaryDirectory(prefix="affdeploy-ios-") as tmp:
        local = atomic_write_bytes(Path(tmp) / RESULTS_NAME, data)
        records = load_results(local)
    return stamp_records(records, device)
