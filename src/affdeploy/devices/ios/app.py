"""What the AFFBench app is asked to do, where it is, and what it writes (shared by both transports).

``affdeploy bench`` passes the same words to the app (launch arguments on Linux) and to its XCTest
benchmark (TEST_RUNNER_AFFDEPLOY_ARGS on macOS); BenchCore's BenchmarkOptions parses them. The app
runs the models ``affdeploy ios-assets`` bundled into it, so the request fields that shape an
artifact cannot be honoured here (IosDevice refuses them). Models are asked for by the id their
metadata files carry: the AFFNet variant, or a user model's file-name-safe slug.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from affdeploy.bench.appmodel import read_app_model
from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import BenchRecord
from affdeploy.devices.ios.assets import CATALOG_NAME
from affdeploy.errors import AffdeployError, UsageError
from affdeploy.export.registry import bench_targets
from affdeploy.models import MODELS
from affdeploy.models.source import model_slug, source_sha256
from affdeploy.vocab import DeviceKind

if TYPE_CHECKING:
    from affdeploy.devices.ios.device import IosDevice

BUNDLE_ID = "org.affdeploy.AFFBench"
RESULTS_NAME = "benchmark_results.json"  # Documents/<this> in the app, and the XCTest attachment name
CONTAINER_RESULTS = f"/Documents/{RESULTS_NAME}"
CONTAINER_ERROR = "/Documents/benchmark_error.txt"  # the app writes this instead when benchmark mode fails
DEFAULT_ITERATIONS = 30
STEP_TIMEOUT_S = 120.0  # one device service, devicectl or xcresulttool call
RUN_TIMEOUT_S = 3600.0  # the app's whole benchmark (building and installing it included): all models x compute units
ASSETS_HINT = "run 'affdeploy export --target coreml,executorch' then 'affdeploy ios-assets'"


def ios_targets(request: BenchRequest) -> list[str]:
    """The requested targets an iPhone can run (Core ML, ExecuTorch); both when none of them was asked."""
    runnable = bench_targets(DeviceKind.IOS)
    wanted = [t for t in request.targets if t in runnable]
    return wanted or list(runnable)


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
        "--models", ",".join(model_slug(m) for m in request.models),  # the ids in the app's metadata files
        "--targets", ",".join(ios_targets(request)),
    ]  # fmt: skip


def test_runner_env(request: BenchRequest) -> dict[str, str]:
    """Environment for ``xcodebuild test``: TEST_RUNNER_-prefixed variables reach the test process."""
    return {"TEST_RUNNER_AFFDEPLOY_ARGS": " ".join(app_arguments(request))}


def app_dir() -> Path:
    """Where ios_app/ is: $AFFDEPLOY_IOS_APP_DIR, else ./ios_app."""
    return Path(os.environ.get("AFFDEPLOY_IOS_APP_DIR", "ios_app"))


def installable_app() -> Path | None:
    """The built app to install: $AFFDEPLOY_IOS_APP, else ios_app/build/AFFBench.ipa if it exists."""
    explicit = os.environ.get("AFFDEPLOY_IOS_APP")
    if explicit:
        path = Path(explicit)
        if not path.exists():
            raise AffdeployError(f"AFFDEPLOY_IOS_APP={path} does not exist",
                                 hint="point it at the built AFFBench.ipa or AFFBench.app")
        return path
    default = app_dir() / "build" / "AFFBench.ipa"
    return default if default.exists() else None


def bundled_ids(models_dir: Path) -> set[str]:
    """Ids (``--models`` names) of the models the app's catalog lists in ``models_dir``."""
    try:
        names = json.loads((models_dir / CATALOG_NAME).read_text("utf-8")).get("models", [])
    except (OSError, ValueError, AttributeError):
        return set()
    metas = (read_app_model(models_dir / name) for name in names if isinstance(name, str))
    return {meta.id for meta in metas if meta is not None}


def stamp_records(records: list[BenchRecord], device: IosDevice) -> list[BenchRecord]:
    """Records with the host's view of the device (and a user model's sha256) filled in where the app left them empty."""
    stamped = []
    shas: dict[str, str] = {}
    for rec in records:
        if rec.model not in MODELS and not rec.model_sha256:
            if rec.model not in shas:
                try:
                    shas[rec.model] = source_sha256(rec.model) or ""
                except UsageError:  # the .pt2 was moved since the app bundled it: the record keeps its name only
                    shas[rec.model] = ""
            rec = replace(rec, model_sha256=shas[rec.model])
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


