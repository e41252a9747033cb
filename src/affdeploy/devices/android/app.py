"""The affdeploy benchmark app (android_app/) as a runner: intent extras in, a results file out.

``am start`` passes every field of the job the app's BenchmarkArgs takes; the app writes
files/benchmark_results.json on success or files/benchmark_error.txt on failure. Both are polled,
so an app-side error ends the run within a poll interval, with the app's own message. A user model
(.pt2 or factory) also gets its ``<artifact>.model.json`` (bench/appmodel.py, built from the manifest
next to the artifact) pushed beside the artifact and named by the ``model_meta`` extra: the app then
benchmarks it in tensor mode, on generated inputs of the recorded shapes.
"""

from __future__ import annotations

import json
import logging
import shlex
import tempfile
import time
from pathlib import Path

from affdeploy.bench.appmodel import META_SUFFIX, app_model, write_app_model
from affdeploy.bench.records import record_image_size
from affdeploy.bench.schema import BenchRecord
from affdeploy.devices.android import parsing
from affdeploy.devices.android.runners import Job, Measured
from affdeploy.devices.android.session import DEVICE_DIR, AndroidSession, Step
from affdeploy.devices.appassets import LABELS_NAME
from affdeploy.errors import AffdeployError, DeviceError
from affdeploy.export.manifest import find_entry
from affdeploy.models import MODELS
from affdeploy.models.profile import model_macs

log = logging.getLogger(__name__)

APP_PACKAGE = "org.affdeploy.bench"
APP_ACTIVITY = f"{APP_PACKAGE}/.BenchmarkActivity"
APP_RESULTS = "files/benchmark_results.json"
APP_ERROR = "files/benchmark_error.txt"
APP_BACKEND = {"executorch": "xnnpack", "onnx": "ort", "tflite": "litert"}  # BenchmarkArgs.BACKENDS for each target
APP_RUNNER = "android-app"
POLL_S = 1.0
LOGCAT_HINT = "look at `adb logcat -s AffdeployBench` for its log"


def app_installed(session: AndroidSession) -> bool:
    """True when the benchmark app is installed on the phone."""
    result = session.adb.shell(f"pm path {APP_PACKAGE}", check=False)
    return result.exit_code == 0 and "package:" in result.stdout


def app_extras(job: Job) -> dict[str, str | int]:
    """The intent extras of one job (keys of the app's BenchmarkArgs.KEYS): AFFNet's MACs, or a user model's metadata
    file."""
    export = job.export
    extras: dict[str, str | int] = {
        "model_path": job.remote_artifact, "model_name": export.model, "backend": APP_BACKEND[job.target],
        "warmup": job.warmup, "iterations": job.iters, "threads": job.threads, "fft": job.fft,
        "image_size": record_image_size(export.image_size), "precision": str(export.precision),
    }  # fmt: skip
    if export.model in MODELS:
        extras["macs"] = model_macs(export.model, export.pixels)
    else:
        extras["model_meta"] = f"{DEVICE_DIR}/{job.artifact.name}{META_SUFFIX}"
    return extras


def push_meta(session: AndroidSession, job: Job, remote: str) -> None:
    """Write the user model's metadata from the manifest beside its artifact and push it to ``remote``.

    A dynamic or non-float input is refused here, before the app starts.
    """
    try:
        _, entry = find_entry(job.artifact)
    except AffdeployError as exc:
        raise AffdeployError(f"{exc.message}: the app learns a user model's inputs from it",
                             hint="bench the artifact where `affdeploy export` wrote it, next to its manifest.json"
                             ) from None
    meta = app_model(entry, labels=LABELS_NAME)
    with tempfile.TemporaryDirectory(prefix="affdeploy-meta-") as tmp:
        local = Path(tmp) / write_app_model(Path(tmp), meta)
        session.sync([(local, remote)])


def am_start_command(extras: dict[str, str | int]) -> str:
    """``am start -W`` of BenchmarkActivity; ints go as --ei (or --el when they do not fit 32 bits), text as --es."""
    def kind(value: str | int) -> str:
        if isinstance(value, str):
            return "--es"
        return "--ei" if -(2**31) <= value < 2**31 else "--el"

    args = " ".join(f"{kind(v)} {k} {shlex.quote(str(v))}" for k, v in extras.items())
    return f"am start -W -n {APP_ACTIVITY} {args}"


def _read(session: AndroidSession, path: str) -> str:
    result = session.adb.shell(f"run-as {APP_PACKAGE} cat {path}", check=False)
    return result.stdout if result.exit_code == 0 else ""


def run_app(session: AndroidSession, job: Job, extras: dict[str, str | int]) -> Measured:
    """Start the app's benchmark and wait for its results file, or fail with its error file's message."""
    if "model_meta" in extras:
        push_meta(session, job, str(extras["model_meta"]))
    session.adb.shell(f"run-as {APP_PACKAGE} rm -f {APP_RESULTS} {APP_ERROR}", check=False)
    started = session.adb.shell(am_start_command(extras)).stdout
    if "Error" in started:
        raise DeviceError(f"could not start {APP_ACTIVITY}: {started.strip().splitlines()[-1]}")
    watch = session.watch(Step("the benchmark app", job.artifact.name, job.warmup + job.iters, job.warmup, "benchmark"))
    while True:
        text = _read(session, APP_RESULTS)
        if text.strip():
            try:
                doc = json.loads(text)
                break
            except json.JSONDecodeError:
                pass  # the app writes atomically, but a partial read of a slow pipe is still possible
        error = _read(session, APP_ERROR).strip()
        if error:
            raise DeviceError(f"the benchmark app failed on {session.serial}: {error}", hint=LOGCAT_HINT)
        overdue = watch.overdue()
        if overdue is not None:
            raise DeviceError(f"{overdue} (it wrote neither {APP_RESULTS} nor {APP_ERROR})", hint=LOGCAT_HINT)
        time.sleep(POLL_S)
    watch.finished()
    session.adb.shell(f"run-as {APP_PACKAGE} rm -f {APP_RESULTS}", check=False)
    records = [BenchRecord.from_dict(r) for r in (doc.get("records") if isinstance(doc, dict) else None) or []]
    if not records:
        raise DeviceError(f"the benchmark app's {APP_RESULTS} holds no records")
    app = records[0]
    log.debug("app measured %d samples of %s", len(app.samples_ms), job.export.model)
    output = parsing.RunnerOutput(app.samples_ms, load_ms=app.load_ms, first_inference_ms=app.first_inference_ms)
    notes = ["measured by the benchmark app in the foreground (Android schedules it; not pinned)", *app.notes]
    return Measured(APP_RUNNER, output, notes=notes, tools=app.tools)
