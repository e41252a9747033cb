"""iPhones: find them, run the AFFBench app's benchmark on them, read the results back.

Two transports, one result schema (``affdeploy.bench/v1``, written by the app's BenchCore):

* macOS: ``xcrun devicectl`` lists devices, ``xcodebuild test`` runs the XCTest benchmark of
  ios_app/ on the phone, and ``xcrun xcresulttool`` exports the results JSON the test attached to
  the result bundle (the Xcode 16+ commands, or the legacy object graph of older Xcodes). The
  XCTest clock/memory metrics of the ``measure(metrics:)`` tests are merged into those records.
* Linux: pymobiledevice3 over usbmuxd lists devices, installs a built app, launches it in
  benchmark mode through the DVT instruments service and pulls Documents/benchmark_results.json
  from the app container (house_arrest).

Command lines and parsers are pure functions so they are tested on any machine; only the
``_run``/``asyncio`` edges touch a real phone. Every external call has a timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import BenchRecord, DeviceInfo, load_results
from affdeploy.devices import ResolvedDevice
from affdeploy.devices.profiles import PROFILES, DeviceProfile, profile, profile_for_model
from affdeploy.errors import AffdeployError, DeviceError, ToolMissingError, UsageError
from affdeploy.fsutil import atomic_write_bytes

IOS_TARGETS = ("coreml", "executorch")
BUNDLE_ID = "org.affdeploy.AFFBench"
SCHEME = "AFFBench"
BENCH_TEST = "AFFBenchTests/BenchmarkTests/testBenchmarkAllModels"
METRIC_TESTS = "AFFBenchTests/MetricTests"
RESULTS_NAME = "benchmark_results.json"  # Documents/<this> in the app, and the XCTest attachment name
CONTAINER_RESULTS = f"/Documents/{RESULTS_NAME}"
CONTAINER_ERROR = "/Documents/benchmark_error.txt"  # the app writes this instead when benchmark mode fails
DEFAULT_ITERATIONS = 30
STEP_TIMEOUT_S = 120.0  # one device service call, one xcresulttool call
RUN_TIMEOUT_S = 3600.0  # a whole benchmark run (all models x compute units)
POLL_S = 2.0
NEW_XCRESULTTOOL = 23000  # xcresulttool of Xcode 16: "get test-results", "export attachments"
CLOCK_METRIC = "com.apple.dt.XCTMetric_Clock.time.monotonic"
MEMORY_METRIC = "com.apple.dt.XCTMetric_Memory.physical"
_METRIC_TEST = re.compile(r"test(Load|Predict)_(coreml_cpu|coreml_gpu|coreml_ane|coreml_all|xnnpack)\b")
_UNIT_TO_MS = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "µs": 1e-3, "ns": 1e-6}
_UNIT_TO_BYTES = {"B": 1, "kB": 1024, "KB": 1024, "MB": 1024**2, "GB": 1024**3}

XCODE_HINT = "install Xcode from the App Store, open it once, then run: sudo xcode-select -s /Applications/Xcode.app"
USBMUXD_HINT = "install and start it: sudo apt-get install usbmuxd && sudo usbmuxd; udev also starts it when an iPhone is plugged in"
ATTACH_HINT = "connect the iPhone by USB, unlock it and tap 'Trust This Computer'"
DEV_MODE_HINT = "on the iPhone: Settings > Privacy & Security > Developer Mode > On, restart, confirm"
TUNNEL_HINT = "iOS 17+ needs a tunnel for developer services: run 'sudo python3 -m pymobiledevice3 remote tunneld' in another terminal"
SIGNING_HINT = "signing errors: set AFFDEPLOY_TEAM_ID to your team id; the full log is in Xcode's report navigator"
ASSETS_HINT = "run 'affdeploy export --target coreml,executorch' then 'affdeploy ios-assets'"

T = TypeVar("T")


# ----------------------------------------------------------------------------------------------
# What the app is asked to do (shared by both transports)


def ios_targets(request: BenchRequest) -> list[str]:
    """The requested targets an iPhone can run (Core ML, ExecuTorch); both when none of them was asked."""
    wanted = [t for t in request.targets if t in IOS_TARGETS]
    return wanted or list(IOS_TARGETS)


def app_arguments(request: BenchRequest) -> list[str]:
    """Launch arguments of the app's benchmark mode, parsed by BenchCore's BenchmarkOptions."""
    iterations = request.iters if request.iters is not None else DEFAULT_ITERATIONS
    warmup = request.warmup if request.warmup is not None else 0
    if iterations < 1:
        raise UsageError(f"--iters must be at least 1, got {iterations}")
    if warmup < 0:
        raise UsageError(f"--warmup must be >= 0, got {warmup}")
    return [
        "--benchmark",
        "--iterations", str(iterations),
        "--warmup", str(warmup),
        "--cooldown-s", f"{request.cooldown_s:g}",
        "--models", ",".join(request.models),
        "--targets", ",".join(ios_targets(request)),
    ]  # fmt: skip


def test_runner_env(request: BenchRequest) -> dict[str, str]:
    """Environment for ``xcodebuild test``: TEST_RUNNER_-prefixed variables reach the test process."""
    return {"TEST_RUNNER_AFFDEPLOY_ARGS": " ".join(app_arguments(request))}


# ----------------------------------------------------------------------------------------------
# macOS command lines (pure)


def devicectl_list_command(json_out: Path) -> list[str]:
    return ["xcrun", "devicectl", "list", "devices", "--json-output", str(json_out)]


def xcodegen_command(app_dir: Path) -> list[str]:
    return ["xcodegen", "generate", "--spec", str(app_dir / "project.yml"), "--project", str(app_dir)]


def xcodebuild_test_command(
    project: Path, udid: str, result_bundle: Path, *, team: str | None = None, derived_data: Path | None = None
) -> list[str]:
    """``xcodebuild test`` of the benchmark tests on one phone, results into ``result_bundle``."""
    kind = "-workspace" if project.suffix == ".xcworkspace" else "-project"
    cmd = [
        "xcodebuild", "test", kind, str(project), "-scheme", SCHEME,
        "-destination", f"id={udid}", "-resultBundlePath", str(result_bundle),
        f"-only-testing:{BENCH_TEST}", f"-only-testing:{METRIC_TESTS}",
        "-allowProvisioningUpdates", "-parallel-testing-enabled", "NO",
    ]  # fmt: skip
    if derived_data is not None:
        cmd += ["-derivedDataPath", str(derived_data)]
    if team:
        cmd.append(f"DEVELOPMENT_TEAM={team}")
    return cmd


def xcresulttool_version_command() -> list[str]:
    return ["xcrun", "xcresulttool", "version"]


def export_attachments_command(bundle: Path, out_dir: Path) -> list[str]:
    """Xcode 16+: every attachment of the bundle into ``out_dir`` plus a manifest.json."""
    return ["xcrun", "xcresulttool", "export", "attachments", "--path", str(bundle), "--output-path", str(out_dir)]


def metrics_command(bundle: Path) -> list[str]:
    """Xcode 16.3+: the performance metrics of every test as JSON."""
    return ["xcrun", "xcresulttool", "get", "test-results", "metrics", "--path", str(bundle)]


def legacy_get_command(bundle: Path, ref_id: str | None = None) -> list[str]:
    """Xcode 15 and older: one object of the result graph (the root when ``ref_id`` is None)."""
    cmd = ["xcrun", "xcresulttool", "get", "--format", "json", "--path", str(bundle)]
    return cmd + ["--id", ref_id] if ref_id else cmd


def legacy_export_command(bundle: Path, ref_id: str, out_file: Path) -> list[str]:
    return ["xcrun", "xcresulttool", "export", "--type", "file", "--path", str(bundle), "--id", ref_id, "--output-path", str(out_file)]


def parse_xcresulttool_version(text: str) -> int:
    """``xcresulttool version 23500, format version 3.53 (current)`` -> 23500 (0 if unreadable)."""
    match = re.search(r"version\s+(\d+)", text)
    return int(match.group(1)) if match else 0


# ----------------------------------------------------------------------------------------------
# Device descriptions


def _total_cores(prof: DeviceProfile | None) -> int:
    return sum(count for count, _ in prof.clusters) if prof else 0


def ios_device(udid: str, product_type: str, os_version: str, *, device_name: str = "", extra: dict[str, Any] | None = None) -> ResolvedDevice:
    """A ResolvedDevice for an iPhone, enriched from its profile (SoC, cores) when one matches."""
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
    return ResolvedDevice(kind="ios", id=udid, info=info, profile=prof)


def parse_devicectl_devices(doc: dict[str, Any]) -> list[ResolvedDevice]:
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


def select_device(devices: list[ResolvedDevice], selector: str) -> ResolvedDevice:
    """The one attached iPhone that ``selector`` (an iOS profile name or a UDID) names."""
    attached = ", ".join(f"{d.info.model} {d.id}" for d in devices) or "none"
    prof = profile(selector)
    if prof is not None and prof.platform != "ios":
        raise UsageError(f"{selector} is an {prof.platform} profile, not an iPhone", hint="use an iOS profile or a UDID")
    if prof is not None:
        matches = [d for d in devices if d.info.model.lower() in (m.lower() for m in prof.match)]
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


def stamp_records(records: list[BenchRecord], device: ResolvedDevice) -> list[BenchRecord]:
    """Records with the host's view of the device filled in where the app left fields empty."""
    stamped = []
    for rec in records:
        info = rec.device
        host = device.info
        merged = replace(
            info,
            kind="ios",
            name=host.name,
            serial=host.serial or info.serial,
            model=info.model or host.model,
            soc=info.soc or host.soc,
            os=info.os or host.os,
            cores=info.cores or host.cores,
            extra={**host.extra, **info.extra},
        )
        stamped.append(replace(rec, device=merged))
    return stamped


# ----------------------------------------------------------------------------------------------
# xcresult parsing: attachments and XCTest metrics, both formats


@dataclass
class XcMetric:
    """One XCTest performance metric of one test (all its measure iterations)."""

    test: str
    identifier: str
    name: str
    unit: str
    measurements: list[float]


def attachment_files(manifest: list[dict[str, Any]], folder: Path, name: str = RESULTS_NAME) -> list[Path]:
    """Files exported by ``xcresulttool export attachments`` whose attachment is called ``name``.

    XCTest appends ``_<index>_<UUID>`` to the name the test gave, so the stem is matched.
    """
    stem, suffix = os.path.splitext(name)
    found = []
    for test in manifest:
        for att in test.get("attachments", []):
            shown = att.get("suggestedHumanReadableName") or att.get("exportedFileName", "")
            if shown == name or (shown.startswith(f"{stem}_") and shown.endswith(suffix)):
                found.append(folder / att["exportedFileName"])
    return found


def metrics_from_test_results(doc: list[dict[str, Any]]) -> list[XcMetric]:
    """Metrics in the JSON of ``xcresulttool get test-results metrics`` (Xcode 16.3+)."""
    out = []
    for test in doc:
        test_id = test.get("testIdentifier", "")
        for run in test.get("testRuns", []):
            for metric in run.get("metrics", []):
                out.append(
                    XcMetric(
                        test=test_id,
                        identifier=metric.get("identifier", ""),
                        name=metric.get("displayName", ""),
                        unit=metric.get("unitOfMeasurement", ""),
                        measurements=[float(v) for v in metric.get("measurements", [])],
                    )
                )
    return out


def legacy_plain(node: Any) -> Any:
    """The legacy typed JSON (``{"_type": ..., "_value": ...}`` / ``"_values"``) as plain Python.

    Objects keep their type name under ``"_type"`` so a walker can pick them out.
    """
    if isinstance(node, dict):
        if "_values" in node:
            return [legacy_plain(v) for v in node["_values"]]
        if "_value" in node:
            return node["_value"]
        plain = {k: legacy_plain(v) for k, v in node.items() if not k.startswith("_")}
        plain["_type"] = node.get("_type", {}).get("_name", "")
        return plain
    if isinstance(node, list):
        return [legacy_plain(v) for v in node]
    return node


def _objects(node: Any, type_name: str) -> Iterator[dict[str, Any]]:
    """Every object of ``type_name`` anywhere inside a legacy_plain tree."""
    if isinstance(node, dict):
        if node.get("_type") == type_name:
            yield node
        for value in node.values():
            yield from _objects(value, type_name)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value, type_name)


def legacy_tests_refs(root: dict[str, Any]) -> list[str]:
    """Ids of the test-plan summaries referenced by the root ActionsInvocationRecord."""
    plain = legacy_plain(root)
    return [a["actionResult"]["testsRef"]["id"] for a in plain.get("actions", []) if a.get("actionResult", {}).get("testsRef")]


def legacy_summary_refs(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """(test identifier, summaryRef id) of every test in an ActionTestPlanRunSummaries object."""
    return [
        (meta.get("identifier", ""), meta["summaryRef"]["id"])
        for meta in _objects(legacy_plain(plan), "ActionTestMetadata")
        if meta.get("summaryRef")
    ]


def legacy_attachments(summary: dict[str, Any], name: str = RESULTS_NAME) -> list[tuple[str, str]]:
    """(payload id, filename) of the attachments called ``name`` in an ActionTestSummary."""
    return [
        (att["payloadRef"]["id"], att.get("filename", name))
        for att in _objects(legacy_plain(summary), "ActionTestAttachment")
        if att.get("name") == name and att.get("payloadRef")
    ]


def legacy_metrics(summary: dict[str, Any]) -> list[XcMetric]:
    """The performanceMetrics of one ActionTestSummary."""
    plain = legacy_plain(summary)
    return [
        XcMetric(
            test=plain.get("identifier", ""),
            identifier=m.get("identifier", ""),
            name=m.get("displayName", ""),
            unit=m.get("unitOfMeasurement", ""),
            measurements=[float(v) for v in m.get("measurements", [])],
        )
        for m in plain.get("performanceMetrics", [])
    ]


def merge_metrics(records: list[BenchRecord], metrics: list[XcMetric], model: str) -> list[BenchRecord]:
    """Fold the XCTest measure(metrics:) results of ``model`` into the matching records.

    MetricTests name their methods ``testLoad_<backend>``/``testPredict_<backend>``; their clock
    medians become notes (and load_ms when the app's own timer did not set it), their physical
    memory growth fills peak_rss_growth_bytes when missing.
    """
    by_backend: dict[str, list[tuple[str, XcMetric]]] = {}
    for metric in metrics:
        match = _METRIC_TEST.search(metric.test)
        if match and metric.measurements:
            by_backend.setdefault(match.group(2).replace("_", "-"), []).append((match.group(1), metric))
    merged = []
    for rec in records:
        rec = replace(rec, notes=list(rec.notes))
        for phase, metric in by_backend.get(rec.backend, []) if rec.model == model else []:
            if metric.identifier == CLOCK_METRIC and metric.unit in _UNIT_TO_MS:
                median_ms = statistics.median(metric.measurements) * _UNIT_TO_MS[metric.unit]
                rec.notes.append(f"XCTClockMetric {phase.lower()}: median {median_ms:.3f} ms over {len(metric.measurements)}")
                if phase == "Load" and rec.load_ms is None:
                    rec.load_ms = median_ms
            elif metric.identifier == MEMORY_METRIC and metric.unit in _UNIT_TO_BYTES and phase == "Predict":
                if rec.peak_rss_growth_bytes is None:
                    rec.peak_rss_growth_bytes = int(max(metric.measurements) * _UNIT_TO_BYTES[metric.unit])
        merged.append(rec)
    return merged


# ----------------------------------------------------------------------------------------------
# Running external tools (macOS)


def _run(
    cmd: list[str], *, timeout: float = STEP_TIMEOUT_S, env: dict[str, str] | None = None, what: str = "", hint: str | None = None
) -> str:
    """Run a tool; a missing binary, a timeout or a failure become one clear error line."""
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}, check=False
        )
    except FileNotFoundError:
        if cmd[0] in ("xcrun", "xcodebuild"):
            raise ToolMissingError(f"{cmd[0]} not found: Xcode is not installed", hint=XCODE_HINT) from None
        raise ToolMissingError(f"{cmd[0]} is not installed", hint=f"install {cmd[0]} (e.g. brew install {cmd[0]})") from None
    except subprocess.TimeoutExpired:
        raise DeviceError(f"{what or cmd[0]} did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0:
        tail = " | ".join(line for line in (proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise DeviceError(f"{what or ' '.join(cmd[:3])} failed (exit {proc.returncode}): {tail}", hint=hint)
    return proc.stdout


def _xcode_list_devices() -> list[ResolvedDevice]:
    with tempfile.TemporaryDirectory(prefix="affdeploy-devicectl-") as tmp:
        out = Path(tmp) / "devices.json"
        _run(devicectl_list_command(out), what="xcrun devicectl list devices")
        return parse_devicectl_devices(json.loads(out.read_text("utf-8")))


def app_dir() -> Path:
    """Where ios_app/ is: $AFFDEPLOY_IOS_APP_DIR, else ./ios_app."""
    return Path(os.environ.get("AFFDEPLOY_IOS_APP_DIR", "ios_app"))


def _xcode_project(folder: Path) -> Path:
    project = folder / "AFFBench.xcodeproj"
    if project.exists():
        return project
    if not (folder / "project.yml").exists():
        raise AffdeployError(f"{folder} is not the affdeploy iOS app (no project.yml)", hint="run from the repository root or set AFFDEPLOY_IOS_APP_DIR")
    if shutil.which("xcodegen") is None:
        raise ToolMissingError(f"{project} does not exist and xcodegen is not installed", hint="brew install xcodegen")
    _run(xcodegen_command(folder), what="xcodegen generate")
    return project


def _check_assets(folder: Path) -> None:
    if not (folder / "AFFBench" / "Models" / "models.json").exists():
        raise AffdeployError("the iOS app has no models yet", hint=ASSETS_HINT)


def read_xcresult(bundle: Path, work: Path) -> tuple[list[BenchRecord], list[XcMetric]]:
    """The results JSON attached by the benchmark test and the XCTest metrics of a result bundle."""
    new_api = parse_xcresulttool_version(_run(xcresulttool_version_command(), what="xcresulttool version")) >= NEW_XCRESULTTOOL
    records: list[BenchRecord] = []
    metrics: list[XcMetric] = []
    if new_api:
        out_dir = work / "attachments"
        _run(export_attachments_command(bundle, out_dir), what="xcresulttool export attachments")
        manifest = json.loads((out_dir / "manifest.json").read_text("utf-8"))
        for file in attachment_files(manifest, out_dir):
            records += load_results(file)
        try:
            metrics = metrics_from_test_results(json.loads(_run(metrics_command(bundle), what="xcresulttool metrics")))
        except DeviceError:
            metrics = []  # Xcode 16.0-16.2 have no "get test-results metrics"; the attachment has everything
    else:
        root = json.loads(_run(legacy_get_command(bundle), what="xcresulttool get"))
        for tests_ref in legacy_tests_refs(root):
            plan = json.loads(_run(legacy_get_command(bundle, tests_ref), what="xcresulttool get"))
            for _test, summary_ref in legacy_summary_refs(plan):
                summary = json.loads(_run(legacy_get_command(bundle, summary_ref), what="xcresulttool get"))
                metrics += legacy_metrics(summary)
                for i, (payload, _filename) in enumerate(legacy_attachments(summary)):
                    out = work / f"{summary_ref}-{i}.json"
                    _run(legacy_export_command(bundle, payload, out), what="xcresulttool export")
                    records += load_results(out)
    if not records:
        raise DeviceError(f"{bundle} holds no {RESULTS_NAME} attachment: the benchmark test did not finish (open the bundle in Xcode to see why)")
    return records, metrics


def _xcode_run_bench(request: BenchRequest, device: ResolvedDevice) -> list[BenchRecord]:
    folder = app_dir()
    _check_assets(folder)
    project = _xcode_project(folder)
    with tempfile.TemporaryDirectory(prefix="affdeploy-xcresult-") as tmp:
        work = Path(tmp)
        bundle = work / "bench.xcresult"
        cmd = xcodebuild_test_command(project, device.id, bundle, team=os.environ.get("AFFDEPLOY_TEAM_ID"))
        _run(cmd, timeout=RUN_TIMEOUT_S, env=test_runner_env(request), what="xcodebuild test", hint=SIGNING_HINT)
        records, metrics = read_xcresult(bundle, work)
    return stamp_records(merge_metrics(records, metrics, request.models[0]), device)


# ----------------------------------------------------------------------------------------------
# Linux: pymobiledevice3 over usbmuxd


def _pmd3() -> Any:
    try:
        import pymobiledevice3  # noqa: F401
    except ImportError:
        raise ToolMissingError("pymobiledevice3 is not installed", hint="pip install pymobiledevice3==11.45.0") from None
    from pymobiledevice3 import exceptions

    return exceptions


def _pmd3_error(exc: BaseException) -> AffdeployError:
    """One clear line for each way pymobiledevice3 can fail."""
    errors = _pmd3()
    name = type(exc).__name__
    if isinstance(exc, errors.ConnectionFailedToUsbmuxdError):
        if shutil.which("usbmuxd") is None:
            return ToolMissingError("usbmuxd is not installed, so no iPhone can be reached", hint=USBMUXD_HINT)
        return DeviceError("usbmuxd is not running, so no iPhone can be reached", hint=USBMUXD_HINT)
    if isinstance(exc, (errors.NotPairedError, errors.NotTrustedError, errors.PairingError)):
        return DeviceError("the iPhone does not trust this computer", hint=ATTACH_HINT)
    if isinstance(exc, (errors.DeveloperModeIsNotEnabledError, errors.DeveloperModeError)):
        return DeviceError("developer mode is off on the iPhone", hint=DEV_MODE_HINT)
    if isinstance(exc, (errors.TunneldConnectionError, errors.RSDRequiredError)):
        return DeviceError("no tunnel to the iPhone's developer services", hint=TUNNEL_HINT)
    if isinstance(exc, errors.AppNotInstalledError):
        return DeviceError(f"{BUNDLE_ID} is not installed on the iPhone", hint="build the app (docs/ios.md) and set AFFDEPLOY_IOS_APP to its .ipa or .app")
    if isinstance(exc, (errors.DeveloperDiskImageNotFoundError, errors.NotMountedError)):
        return DeviceError("the developer disk image is not mounted", hint="run: python3 -m pymobiledevice3 mounter auto-mount")
    if isinstance(exc, errors.AppInstallError):
        return DeviceError(f"installing the app failed: {exc}", hint="check signing: the app must be signed for this iPhone")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return DeviceError("the iPhone did not answer in time", hint="unlock it, keep it connected and retry")
    if isinstance(exc, (errors.PyMobileDevice3Exception, OSError, ConnectionError)):
        return DeviceError(f"talking to the iPhone failed ({name}: {exc})")
    raise exc


def _pmd3_call(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one pymobiledevice3 coroutine, mapping its failures to affdeploy errors."""
    try:
        return asyncio.run(make())
    except AffdeployError:
        raise
    except Exception as exc:  # every library failure becomes one line; unknown kinds re-raise inside
        raise _pmd3_error(exc) from None


async def _lockdown(udid: str | None) -> Any:
    from pymobiledevice3.lockdown import create_using_usbmux

    return await asyncio.wait_for(create_using_usbmux(serial=udid, autopair=False), STEP_TIMEOUT_S)


async def _pmd3_devices() -> list[ResolvedDevice]:
    from pymobiledevice3 import usbmux

    devices = []
    for mux in await asyncio.wait_for(usbmux.list_devices(), STEP_TIMEOUT_S):
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


async def _service_provider(lockdown: Any, udid: str) -> Any:
    """What DVT services go through: lockdown before iOS 17, a tunneld RSD tunnel from iOS 17 on."""
    if int(lockdown.product_version.split(".")[0]) < 17:
        return lockdown
    from pymobiledevice3.exceptions import TunneldConnectionError
    from pymobiledevice3.tunneld.api import get_tunneld_device_by_udid

    rsd = await asyncio.wait_for(get_tunneld_device_by_udid(udid), STEP_TIMEOUT_S)
    if rsd is None:
        raise TunneldConnectionError()
    return rsd


def installable_app() -> Path | None:
    """The built app to install: $AFFDEPLOY_IOS_APP, else ios_app/build/AFFBench.ipa if it exists."""
    explicit = os.environ.get("AFFDEPLOY_IOS_APP")
    if explicit:
        path = Path(explicit)
        if not path.exists():
            raise AffdeployError(f"AFFDEPLOY_IOS_APP={path} does not exist", hint="point it at the built AFFBench.ipa or AFFBench.app")
        return path
    default = app_dir() / "build" / "AFFBench.ipa"
    return default if default.exists() else None


async def _pull_results(lockdown: Any, deadline: float) -> bytes:
    """Wait until the app has written its results file, then read it from the app container."""
    from pymobiledevice3.services.house_arrest import HouseArrestService

    while True:
        async with await HouseArrestService.create(lockdown, BUNDLE_ID) as container:
            if await container.exists(CONTAINER_RESULTS):
                return await container.get_file_contents(CONTAINER_RESULTS)
            if await container.exists(CONTAINER_ERROR):
                message = (await container.get_file_contents(CONTAINER_ERROR)).decode("utf-8", "replace").strip()
                raise DeviceError(f"the app's benchmark failed on the iPhone: {message}", hint=ASSETS_HINT)
        if time.monotonic() > deadline:
            raise DeviceError(f"the app wrote no {CONTAINER_RESULTS} within {RUN_TIMEOUT_S:.0f} s", hint="open AFFBench on the phone to see its error")
        await asyncio.sleep(POLL_S)


async def _pmd3_bench(request: BenchRequest, udid: str, app: Path | None) -> bytes:
    from pymobiledevice3.services.dvt.instruments.dvt_provider import DvtProvider
    from pymobiledevice3.services.dvt.instruments.process_control import ProcessControl
    from pymobiledevice3.services.house_arrest import HouseArrestService
    from pymobiledevice3.services.installation_proxy import InstallationProxyService

    lockdown = await _lockdown(udid)
    try:
        if lockdown.has_developer_mode and not await lockdown.get_developer_mode_status():
            raise DeviceError("developer mode is off on the iPhone", hint=DEV_MODE_HINT)
        if app is not None:
            async with InstallationProxyService(lockdown=lockdown) as installer:
                await asyncio.wait_for(installer.install_from_local(app), RUN_TIMEOUT_S)
        async with await HouseArrestService.create(lockdown, BUNDLE_ID) as container:
            for stale in (CONTAINER_RESULTS, CONTAINER_ERROR):  # so an old run is never read back
                await container.rm_single(stale, force=True)
        provider = await _service_provider(lockdown, udid)
        async with DvtProvider(provider) as dvt, ProcessControl(dvt) as process:
            await asyncio.wait_for(process.launch(BUNDLE_ID, arguments=app_arguments(request), kill_existing=True), STEP_TIMEOUT_S)
        return await _pull_results(lockdown, time.monotonic() + RUN_TIMEOUT_S)
    finally:
        await lockdown.close()


def _pmd3_run_bench(request: BenchRequest, device: ResolvedDevice) -> list[BenchRecord]:
    app = installable_app()
    data = _pmd3_call(lambda: _pmd3_bench(request, device.id, app))
    with tempfile.TemporaryDirectory(prefix="affdeploy-ios-") as tmp:
        local = atomic_write_bytes(Path(tmp) / RESULTS_NAME, data)
        records = load_results(local)
    return stamp_records(records, device)


# ----------------------------------------------------------------------------------------------
# Public API


def uses_xcode() -> bool:
    """macOS drives phones through Xcode's tools, other systems through pymobiledevice3.

    ``AFFDEPLOY_IOS_TRANSPORT=pymobiledevice3`` uses pymobiledevice3 on a Mac without Xcode;
    ``=xcode`` forces the Xcode flow.
    """
    choice = os.environ.get("AFFDEPLOY_IOS_TRANSPORT", "").lower()
    if choice not in ("", "xcode", "pymobiledevice3"):
        raise UsageError(f"AFFDEPLOY_IOS_TRANSPORT must be xcode or pymobiledevice3, got {choice!r}")
    return choice == "xcode" or (not choice and sys.platform == "darwin")


def list_devices() -> list[ResolvedDevice]:
    """Attached iPhones (USB) with model, iOS version, SoC and core count."""
    if uses_xcode():
        return _xcode_list_devices()
    _pmd3()
    return _pmd3_call(_pmd3_devices)


def find_device(selector: str) -> ResolvedDevice:
    """The attached iPhone named by an iOS profile (``iphone15pro``) or a UDID."""
    return select_device(list_devices(), selector)


def run_bench(request: BenchRequest, device: ResolvedDevice) -> list[BenchRecord]:
    """Benchmark every requested model x iOS target x compute unit on ``device`` with the AFFBench app."""
    if device.kind != "ios":
        raise UsageError(f"{device.id} is not an iOS device")
    if uses_xcode():
        return _xcode_run_bench(request, device)
    return _pmd3_run_bench(request, device)
