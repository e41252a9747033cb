"""The macOS transport: ``xcrun devicectl`` lists iPhones, ``xcodebuild test`` runs the XCTest
benchmark of ios_app/ on one, ``xcrun xcresulttool`` reads the results back.

Command lines are pure functions, tested on any machine; :func:`_run` is the one place that runs
them, with a timeout, its duration logged, and one clear error line for every failure.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import BenchRecord, load_results
from affdeploy.devices.calls import run_tool
from affdeploy.devices.ios.app import (
    ASSETS_HINT,
    RESULTS_NAME,
    RUN_TIMEOUT_S,
    STEP_TIMEOUT_S,
    app_dir,
    bundled_ids,
    stamp_records,
    test_runner_env,
)
from affdeploy.devices.ios.assets import CATALOG_NAME
from affdeploy.devices.ios.device import IosDevice
from affdeploy.devices.ios.discovery import parse_devicectl_devices
from affdeploy.devices.ios.xcresult import (
    XcMetric,
    attachment_files,
    legacy_attachments,
    legacy_metrics,
    legacy_summary_refs,
    legacy_tests_refs,
    merge_metrics,
    metrics_from_test_results,
    parse_xcresulttool_version,
)
from affdeploy.errors import AffdeployError, DeviceError, ToolMissingError, UsageError
from affdeploy.models import MODELS
from affdeploy.models.source import model_slug

log = logging.getLogger(__name__)

SCHEME = "AFFBench"
BENCH_TEST = "AFFBenchTests/BenchmarkTests/testBenchmarkAllModels"
METRIC_TESTS = "AFFBenchTests/MetricTests"
NEW_XCRESULTTOOL = 23000  # xcresulttool of Xcode 16: "get test-results", "export attachments"
XCODE_HINT = "install Xcode from the App Store, open it once, then run: sudo xcode-select -s /Applications/Xcode.app"
SIGNING_HINT = "signing errors: set AFFDEPLOY_TEAM_ID to your team id; the full log is in Xcode's report navigator"


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
    return ["xcrun", "xcresulttool", "export", "--type", "file", "--path", str(bundle), "--id", ref_id,
            "--output-path", str(out_file)]



def _run(
    cmd: list[str], *, timeout: float = STEP_TIMEOUT_S, env: dict[str, str] | None = None, what: str = "",
    hint: str | None = None
) -> str:
    """Run a tool; a missing binary, a timeout or a failure become one clear error line."""
    try:
        proc = run_tool(cmd, timeout=timeout, env={**os.environ, **(env or {})}, text=True)
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


def list_devices() -> list[IosDevice]:
    """Attached iPhones, from ``xcrun devicectl list devices``."""
    with tempfile.TemporaryDirectory(prefix="affdeploy-devicectl-") as tmp:
        out = Path(tmp) / "devices.json"
        _run(devicectl_list_command(out), what="xcrun devicectl list devices")
        return parse_devicectl_devices(json.loads(out.read_text("utf-8")))


def _xcode_project(folder: Path) -> Path:
    project = folder / "AFFBench.xcodeproj"
    if project.exists():
        return project
    if not (folder / "project.yml").exists():
        raise AffdeployError(f"{folder} is not the affdeploy iOS app (no project.yml)",
                             hint="run from the repository root or set AFFDEPLOY_IOS_APP_DIR")
    if shutil.which("xcodegen") is None:
        raise ToolMissingError(f"{project} does not exist and xcodegen is not installed", hint="brew install xcodegen")
    _run(xcodegen_command(folder), what="xcodegen generate")
    return project


def _check_assets(folder: Path, request: BenchRequest) -> None:
    """The app has models, and every user model asked for is bundled (else the app says so after a whole build)."""
    models = folder / "AFFBench" / "Models"
    if not (models / CATALOG_NAME).exists():
        raise AffdeployError("the iOS app has no models yet", hint=ASSETS_HINT)
    users = [m for m in request.models if m not in MODELS]
    bundled = bundled_ids(models) if users else set()
    missing = [m for m in users if model_slug(m) not in bundled]
    if missing:
        raise UsageError(f"the iOS app has no bundled artifact of {', '.join(missing)} (it has: "
                         f"{', '.join(sorted(bundled)) or 'no user model'})",
                         hint=f"run 'affdeploy ios-assets --model {missing[0]}' and rebuild the app")


def read_xcresult(bundle: Path, work: Path) -> tuple[list[BenchRecord], list[XcMetric]]:
    """The results JSON attached by the benchmark test and the XCTest metrics of a result bundle."""
    version = parse_xcresulttool_version(_run(xcresulttool_version_command(), what="xcresulttool version"))
    new_api = version >= NEW_XCRESULTTOOL
    log.debug("xcresulttool %d: reading %s with the %s commands", version, bundle.name, "Xcode 16" if new_api else "legacy")
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
        raise DeviceError(f"{bundle} holds no {RESULTS_NAME} attachment: the benchmark test did not finish (open the bundle "
                          "in Xcode to see why)")
    return records, metrics


def run_bench(request: BenchRequest, device: IosDevice) -> list[BenchRecord]:
    """``xcodebuild test`` of the benchmark on ``device``; the records come from the result bundle."""
    folder = app_dir()
    _check_assets(folder, request)
    project = _xcode_project(folder)
    with tempfile.TemporaryDirectory(prefix="affdeploy-xcresult-") as tmp:
        work = Path(tmp)
        bundle = work / "bench.xcresult"
        cmd = xcodebuild_test_command(project, device.id, bundle, team=os.environ.get("AFFDEPLOY_TEAM_ID"))
        _run(cmd, timeout=RUN_TIMEOUT_S, env=test_runner_env(request), what="xcodebuild test", hint=SIGNING_HINT)
        records, metrics = read_xcresult(bundle, work)
    return stamp_records(merge_metrics(records, metrics, request.models[0]), device)
