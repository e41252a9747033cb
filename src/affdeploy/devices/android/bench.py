"""The on-phone benchmark flow: for each model x target x threads, push, cool down, run, record.

Each configuration is measured by the native runner of its target (runners.py) when one is
configured, else by the benchmark app (app.py) when it is installed. Free space is checked and only
files whose sha256 differs are pushed; the phone cools down first; temporary files are removed
after. If the phone disappears or a runner hangs mid-run (its time limits: session.py), the records
measured so far are written to a partial results file that the error names.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from affdeploy.bench.records import Subject, Timing, build_record, record_image_size
from affdeploy.bench.request import BenchRequest
from affdeploy.bench.schema import BenchRecord, dump_results
from affdeploy.devices.android.app import APP_PACKAGE, app_extras, app_installed, run_app
from affdeploy.devices.android.probes import Cluster
from affdeploy.devices.android.runners import RUNNERS, Job, Measured, ModelInput, RunnerPaths
from affdeploy.devices.android.session import AndroidSession
from affdeploy.errors import DeviceError, ToolMissingError, UsageError
from affdeploy.export.cache import ensure_artifact
from affdeploy.export.registry import target_for_path
from affdeploy.export.request import ExportRequest
from affdeploy.fsutil import atomic_write_text, sha256_path
from affdeploy.models.source import is_user_model, resolve_model
from affdeploy.progress import Progress, silent
from affdeploy.vocab import DeviceKind, FFTMode

if TYPE_CHECKING:
    from affdeploy.devices.android.device import AndroidDevice

log = logging.getLogger(__name__)

DEFAULT_WARMUP = 5
DEFAULT_ITERS = 30


class PhoneBench:
    """One ``run_bench`` call: the session on the phone, the request, and how each target is run."""

    def __init__(self, device: AndroidDevice, request: BenchRequest, runners: RunnerPaths) -> None:
        self.device = device
        self.request = request
        self.runners = runners
        clusters = [Cluster.from_dict(c) for c in device.info.extra.get("clusters", [])]
        self.session = AndroidSession(device.id, clusters)
        self.app_ok: bool | None = None

    def _app_available(self) -> bool:
        if self.app_ok is None:
            self.app_ok = app_installed(self.session)
        return self.app_ok

    def measure(self, job: Job) -> Measured:
        """Push, cool down, run the chosen runner for one job and clean up."""
        runner = RUNNERS.get(job.target)
        if runner is None:
            raise UsageError(f"no Android runner is registered for {job.target} (affdeploy.devices.android.runners)")
        native = self.runners.native(job.target)
        files = [(job.artifact, job.remote_artifact)]
        if native is None and (self.runners.choice == "native" or not self._app_available()):
            raise ToolMissingError(
                f"no Android runner for {job.target}: neither {runner.option} / {runner.env} names "
                f"{runner.name} nor is the app {APP_PACKAGE} installed on {self.session.serial}",
                hint=f"build {runner.name} (docs/android.md) and pass {runner.option} PATH, or install android_app",
            )
        binary = None
        if native is not None:
            binary, runner_files = runner.device_files(native)
            files += runner_files
        notes = self.session.sync(files)
        if binary is not None:
            self.session.adb.shell(f"chmod 755 {shlex.quote(binary)}")
        notes += self.session.cool_down(self.request.cooldown_s)
        try:
            if binary is None:
                extras = app_extras(job)
                measured = run_app(self.session, job, extras)
            else:
                assert native is not None  # binary is set from it
                measured = runner.measure(self.session, job, binary)
                measured.tools = {runner.name: sha256_path(native)[:16]}
        finally:
            self.session.cleanup()
        measured.notes = notes + measured.notes
        return measured

    def record(self, job: Job, measured: Measured) -> BenchRecord:
        notes = list(measured.notes)
        if measured.output.peak_memory_bytes is not None:
            notes.append(f"runner peak working set {measured.output.peak_memory_bytes} bytes")
        subject = Subject(job.export.model, job.target, RUNNERS[job.target].backend, job.fft, job.threads,
                          job.export.precision, record_image_size(job.export.image_size), job.artifact,
                          sha256_path(job.artifact), job.model_sha256)
        timing = Timing(measured.output.samples_ms, job.warmup, measured.output.load_ms,
                        measured.output.first_inference_ms, notes=notes)
        return build_record(subject, timing, self.device.info, measured.runner, measured.tools)


def model_inputs(model: str) -> tuple[tuple[ModelInput, ...], str]:
    """A user model's inputs at its example shapes (with the axes torch.export keeps dynamic) and its sha256.

    AFFNet: none and "" (the runners know its one image input).
    """
    if not is_user_model(model):
        return (), ""
    source = resolve_model(model)
    inputs = tuple(
        ModelInput(spec.name, tuple(tensor.shape), spec.dtype,
                   tuple(axis for axis, dim in enumerate(spec.shape) if isinstance(dim, str)))
        for spec, tensor in zip(source.input_specs(), source.example_inputs, strict=True)
    )
    return inputs, source.sha256 or ""


def jobs(request: BenchRequest, warmup: int, iters: int) -> Iterator[Job]:
    """What to measure: the given --artifact files, else each model x target exported (or found exported)."""
    for path in map(Path, request.artifacts):
        tgt = target_for_path(path, DeviceKind.ANDROID)
        export = ExportRequest.create(request.models[0], tgt.name, image_size=request.image_size_of(request.models[0]),
                                      precision=request.precision)
        fft = request.fft if request.fft != FFTMode.AUTO else "unknown"
        inputs, sha = model_inputs(export.model)
        yield from (Job(export, path, fft, threads, warmup, iters, inputs, sha) for threads in request.threads)
    if request.artifacts:
        return
    for model in request.models:
        inputs, sha = model_inputs(model)
        for target in request.targets:
            export = ExportRequest.create(model, target, fft=request.fft, image_size=request.image_size_of(model),
                                          precision=request.precision, weights=request.weights)
            artifact, entry = ensure_artifact(export, request.models_dir)  # the host bench's cache keys
            yield from (Job(export, artifact, entry.fft, threads, warmup, iters, inputs, sha)
                        for threads in request.threads)


def _partial_path(request: BenchRequest, serial: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", serial)
    return Path(request.models_dir).parent / "results" / f"android-partial-{safe}-{stamp}.json"


def _job_progress(progress: Progress, label: str, done: int, total: int) -> Callable[[str, float], None]:
    """Where a runner's iterations show: its step under the job's label, its share of the whole run."""
    return lambda text, share: progress(f"{label}: {text}", (done + share) / total)


def run_bench(
    request: BenchRequest,
    device: AndroidDevice,
    *,
    runners: RunnerPaths | None = None,
    progress: Progress = silent,
    partial_path: Path | None = None,
) -> list[BenchRecord]:
    """Benchmark every configuration of ``request`` (targets already checked for Android) on ``device``.

    If the device disappears or a runner hangs mid-run, the records measured so far are written to ``partial_path``
    (default results/android-partial-<serial>-<time>.json) and the DeviceError says where.
    """
    bench = PhoneBench(device, request, runners or RunnerPaths.resolve())
    warmup = request.warmup if request.warmup is not None else DEFAULT_WARMUP
    iters = request.iters if request.iters is not None else DEFAULT_ITERS
    total = (len(request.artifacts) or len(request.models) * len(request.targets)) * len(request.threads)
    records: list[BenchRecord] = []
    try:
        for job in jobs(request, warmup, iters):
            label = f"{job.export.model} {job.target} {job.threads}t on {device.id}"
            progress(label, len(records) / total)
            bench.session.report = _job_progress(progress, label, len(records), total)
            log.debug("measuring %s", job)
            records.append(bench.record(job, bench.measure(job)))
    except DeviceError as exc:
        if not records:
            raise
        path = partial_path or _partial_path(request, device.id)
        atomic_write_text(path, json.dumps(dump_results(records), indent=2) + "\n")
        raise DeviceError(f"{exc.message}; the {len(records)} record(s) measured before were saved to {path}",
                          hint=exc.hint) from None
    return records
