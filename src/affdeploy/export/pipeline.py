"""The export pipeline shared by every target, and re-verification of existing artifacts.

build_model -> torch.export -> [lower_fft] -> [delegate_friendly] -> target lowering, then parity
on fixed inputs against PyTorch before anything appears under its final name: each artifact is
written to a temporary sibling, validated, and only then renamed and recorded in the manifest.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch.export import ExportedProgram

from affdeploy.data.calibration import CalibrationSet
from affdeploy.data.inputs import CALIBRATION_SPLIT, Checkset, image_parity_inputs
from affdeploy.errors import AffdeployError, ExportError, ParityError, UsageError
from affdeploy.export.base import ExportTarget, Lowered, first_line
from affdeploy.export.manifest import (
    ArtifactEntry,
    Companion,
    manifest_path,
    read_manifest,
    refuse_foreign,
    upsert_entries,
)
from affdeploy.export.parity import ParityResult, image_checkset, reference_outputs
from affdeploy.export.registry import get_target
from affdeploy.export.request import ExportRequest
from affdeploy.fsutil import (
    NOTHING_WRITTEN,
    atomic_path,
    disk_refused,
    ensure_writable_dir,
    full_disk_error,
    out_of_space,
    path_size,
    remove_path,
    sha256_path,
)
from affdeploy.graph import export_program
from affdeploy.models import build_model
from affdeploy.models.source import TensorInputs, is_user_model, resolve_model
from affdeploy.preprocessing import DEFAULT_IMAGE_SIZE, InputSpec, input_spec
from affdeploy.progress import Progress, silent
from affdeploy.versions import tool_versions
from affdeploy.vocab import Precision

INIT_SEED = 0
MIN_RECALIBRATION_SIZE = 64
"""The least image size whose last feature maps (1/32 of it) hold more than one value to take BatchNorm statistics of."""
log = logging.getLogger(__name__)


class _Programs:
    """Exported programs per (FFT mode, cost model, native FFT, delegate-friendly), derived once and shared.

    The FFT pass costs each transform's forms for the runtime that will run it (``cost``) and, under
    ``--fft auto`` on ONNX Runtime, may keep a transform native (``native``); a program whose
    transforms are all short enough to be dense on every runtime is lowered once for all of them.
    """

    def __init__(self, base: ExportedProgram, progress: Progress, target: str | None = None) -> None:
        self._base = base
        self._progress = progress
        self._target = target  # the one target being exported, for hints in FFT-pass errors
        self._cache: dict[tuple[Any, ...], ExportedProgram] = {("native", None, None, False): base}
        self.reports: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self._any_runtime: tuple[Any, ...] | None = None  # a lowering every runtime shares (all transforms dense)

    def _lowered_key(self, fft: str, cost: str | None, native: str | None) -> tuple[Any, ...]:
        if fft == "native":
            return ("native", None, None)
        return self._any_runtime or ("dft", cost, native)

    def get(self, fft: str, friendly: bool, cost: str | None = None, native: str | None = None) -> ExportedProgram:
        key = (*self._lowered_key(fft, cost, native), friendly)
        if key not in self._cache:
            if friendly:
                source = self.get(fft, False, cost, native)
                key = (*self._lowered_key(fft, cost, native), friendly)
                if key in self._cache:
                    return self._cache[key]
                self._progress("rewriting ops for mobile delegates")
                from affdeploy.passes import delegate_friendly

                self._cache[key] = delegate_friendly(copy.deepcopy(source))
            else:
                self._progress("lowering FFTs to DFT matrix products")
                from affdeploy.fft import lower_fft
                from affdeploy.fft.plan import runtime_independent

                report: list[dict[str, Any]] = []
                lowered = lower_fft(copy.deepcopy(self._base), target=self._target, cost=cost, native=native,
                                    report=report)
                self._cache[key] = lowered
                self.reports[key[:3]] = report
                if runtime_independent(report):
                    self._any_runtime = key[:3]
        return self._cache[key]

    def report(self, fft: str, cost: str | None, native: str | None) -> list[dict[str, Any]] | None:
        return self.reports.get(self._lowered_key(fft, cost, native))


def constant_bytes(report: list[dict[str, Any]]) -> int:
    """Bytes of the distinct DFT constants the FFT pass added (shared constants counted once)."""
    seen: dict[str, int] = {}
    for transform in report:
        seen.update(transform["constants"])
    return sum(seen.values())


def transform_summary(transform: dict[str, Any]) -> dict[str, Any]:
    """One FFT call as the manifest records it (the constants' names left out)."""
    return {k: v for k, v in transform.items() if k != "constants"}


def _build(model: str, weights: str | Path | None) -> torch.nn.Module:
    """The PyTorch model; without weights, a fixed-seed init so ``verify`` can rebuild the same model."""
    with torch.random.fork_rng():
        torch.manual_seed(INIT_SEED)
        return build_model(model, weights=weights)


def weights_record(weights: Path | None) -> tuple[str | None, str | None]:
    """(absolute path, sha256) of a checkpoint as the manifest records it; (None, None) for random init."""
    if weights is None:
        return None, None
    path = Path(weights).resolve()
    return str(path), sha256_path(path)


def reference_network(request: ExportRequest) -> tuple[torch.nn.Module, CalibrationSet | None]:
    """The PyTorch network an AFFNet artifact is made from and checked against, and for int8 its calibration set.

    int8 of untrained weights recalibrates BatchNorm on the calibration images first: random-init
    statistics shrink activations below int8's step (the quantized network outputs zeros). That
    recalibrated network is both what is quantized and the fp32 reference its parity is measured
    against. Other precisions keep the network as built.
    """
    if request.precision == Precision.INT8 and request.weights is None and request.pixels < MIN_RECALIBRATION_SIZE:
        raise UsageError(f"--precision int8 at --image-size {request.pixels} needs trained --weights: without "
                         "them BatchNorm is recalibrated on photographs, and at that size AFFNet's last maps are 1x1, "
                         "too small to take statistics of",
                         hint=f"use --image-size {MIN_RECALIBRATION_SIZE} or more, or give trained --weights")
    net = _build(request.model, request.weights)
    if request.precision != Precision.INT8:
        return net, None
    from affdeploy.data.calibration import load_calibration
    from affdeploy.export.quantize import recalibrate_batchnorm

    images = load_calibration(request.pixels, request.calibration)
    if request.weights is None:
        recalibrate_batchnorm(net, images.calibration)
    return net, images


def _reference(request: ExportRequest) -> tuple[torch.nn.Module, Checkset, dict[str, Any] | None]:
    """The reference network, what an AFFNet artifact is checked on, and for int8 how it was calibrated.

    fp32/fp16 are checked on photographs (bundled, or ``--parity-images``) plus seeded noise; int8 on
    validation photographs the calibration never saw (split by file).
    """
    net, images = reference_network(request)
    if images is None:
        return net, image_checkset(net, image_parity_inputs(request.pixels, request.parity_images)), None
    from affdeploy.export.quantize import int8_floor, kept_fp32

    record = {
        "calibration": images.record(),
        "batchnorm": "recalibrated on the calibration images (untrained weights); the fp32 reference is this network"
                     if request.weights is None else "as trained",
        "kept_fp32": kept_fp32(),
        "floor": asdict(int8_floor()),
    }
    check = Checkset(images.validation, reference_outputs(net, images.validation), images.validation_names,
                     f"{len(images.validation)} validation inputs from {len(images.validation_files)} photographs the "
                     "calibration did not see", CALIBRATION_SPLIT, images.sha256)
    return net, check, record


def export_artifacts(requests: Sequence[ExportRequest], on_progress: Progress = silent) -> list[ArtifactEntry]:
    """Export every request (one model, weights and image size) and record each in its ``out`` manifest.

    The model is built and ``torch.export``-ed once; FFT-lowered and delegate-friendly programs are
    derived once and shared. Each artifact is validated against PyTorch before it is renamed into
    place; a parity failure raises ParityError and leaves neither the artifact nor a manifest change.
    An artifact the manifest cannot record is removed again; a failure after other artifacts finished keeps
    those (recorded) and its error names them and the one that failed.
    """
    if not requests:
        raise UsageError("nothing to export")
    first = requests[0]
    if any((r.model, r.weights, r.image_size, r.parity_images, r.parity_inputs, r.input_names, r.output_names)
           != (first.model, first.weights, first.image_size, first.parity_images, first.parity_inputs,
               first.input_names, first.output_names) for r in requests):
        raise UsageError("one export run takes one model, weights file, image size and set of parity inputs")
    if any((r.precision == Precision.INT8, r.calibration) != (first.precision == Precision.INT8, first.calibration)
           for r in requests):
        raise UsageError("an int8 export run takes int8 for every target, with one calibration set")
    for request in requests:
        ensure_writable_dir(request.out)
        read_manifest(request.out)  # a damaged manifest fails now, not after minutes of lowering
    on_progress(f"building {first.model}")
    source = resolve_model(first.model) if is_user_model(first.model) else None  # a .pt2 or factory
    weights_path, weights_sha = (source.origin, source.sha256) if source else weights_record(first.weights)
    for request in requests:  # before any slow work: never replace another model's artifact
        refuse_foreign(request.out, get_target(request.target).artifact_name(request), request.model, weights_sha)
    if source is not None:  # its own inputs; recorded by file/factory and sha256
        spec: InputSpec | TensorInputs = TensorInputs(source.describe(first.input_names, first.output_names))
        check = source.checkset(first.parity_inputs)
        quantization = None
        on_progress("torch.export")
        base = source.program()
    else:
        if first.precision == Precision.INT8:
            on_progress("calibrating: BatchNorm statistics and fp32 references on the calibration images")
        net, check, quantization = _reference(first)
        spec = input_spec(first.pixels)
        on_progress("torch.export")
        base = export_program(net, first.pixels)
    programs = _Programs(base, on_progress, str(first.target) if len(requests) == 1 else None)
    from affdeploy.export.cache import code_fingerprint

    code = code_fingerprint()
    entries: list[ArtifactEntry] = []
    for request in requests:
        started = time.perf_counter()
        tgt = get_target(request.target)
        final = Path(request.out) / tgt.artifact_name(request)
        replaces = final.exists()
        try:
            cost = tgt.fft_row(request.backend).cost
            program = programs.get(request.fft, tgt.delegate_friendly, cost, request.fft_native)
            program = copy.deepcopy(program)  # lowerings consume constants
            entry = _export_one(tgt, request, program, spec, check, on_progress)
            entry.fft_native = request.fft_native
            report = programs.report(request.fft, cost, request.fft_native)
            if report is not None:
                entry.fft_constant_bytes = constant_bytes(report)
                entry.fft_transforms = [transform_summary(t) for t in report]
            entry.weights, entry.weights_sha256, entry.code_sha256 = weights_path, weights_sha, code
            entry.quantization = quantization if request.precision == Precision.INT8 else None
            entry.parity_inputs = check.record()
            entry.export_seconds = round(time.perf_counter() - started, 2)
            _record(Path(request.out), entry, replaces)
        except AffdeployError as exc:
            if not entries:
                raise
            raise _after_kept(exc, final, entries) from None
        entries.append(entry)
    return entries


def _record(out: Path, entry: ArtifactEntry, replaces: bool) -> None:
    """Add ``entry`` to the manifest; an artifact the manifest could not record is removed, never left unlisted."""
    try:
        upsert_entries(out, [entry])
    except BaseException as exc:
        for path in (entry.resolve(out), *entry.companion_paths(out)):
            remove_path(path)
        if not isinstance(exc, AffdeployError):
            raise
        gone = f"removed {entry.path}, which it could not record, and the copy exported before it: export it again"
        raise type(exc)(exc.message, hint=gone if replaces else NOTHING_WRITTEN) from None


def _after_kept(exc: AffdeployError, failed: Path, kept: list[ArtifactEntry]) -> AffdeployError:
    """``exc`` of a run that had already finished other artifacts: it names them (kept, recorded) and the one that failed."""
    rest = (exc.hint or "").removeprefix(NOTHING_WRITTEN).removeprefix("; ")  # not true of the run: others were kept
    advice = f"{rest}; " if rest else ""
    names = ", ".join(e.path for e in kept)
    return type(exc)(exc.message, hint=f"{advice}{failed.name} was not written; kept the finished {names}, "
                                       f"recorded in {manifest_path(failed.parent)}")


def _export_one(tgt: ExportTarget, request: ExportRequest, program: ExportedProgram, spec: InputSpec | TensorInputs,
                check: Checkset, progress: Progress) -> ArtifactEntry:
    out_dir = Path(request.out)
    final = out_dir / tgt.artifact_name(request)
    with ExitStack() as stack:
        tmp = stack.enter_context(atomic_path(final, is_dir=tgt.is_dir))
        progress(f"{tgt.name}: lowering ({request.backend}, {request.precision}, fft {request.fft})")
        started = time.perf_counter()
        lowered = _lower(tgt, program, spec, tmp, request)
        log.debug("%s: lowered in %.1f s", tgt.name, time.perf_counter() - started)
        progress(f"{tgt.name}: checking parity against PyTorch on {check.description}")
        started = time.perf_counter()
        parity = _checked(tgt.validate(tmp, request, check), final.name, request)
        log.debug("%s: parity %s in %.1f s", tgt.name, parity.status, time.perf_counter() - started)
        io = tgt.io(tmp)  # what the file itself takes and returns; a user model's dims named as it names them
        if isinstance(spec, TensorInputs):
            io = io.labelled(spec.description)
        companions = []
        for extra in lowered.companions:
            extra_tmp = stack.enter_context(atomic_path(out_dir / extra.name))
            extra.replace(extra_tmp)
            companions.append(Companion(extra.name, sha256_path(extra_tmp), path_size(extra_tmp),
                                        _checked(tgt.validate(extra_tmp, request, check), extra.name, request)))
        progress(f"{tgt.name}: writing {final.name}")
        entry = ArtifactEntry(
            model=request.model, target=tgt.name, backend=request.backend, path=final.name, fft=request.fft,
            precision=request.precision, sha256=sha256_path(tmp), size_bytes=path_size(tmp),
            image_size=request.image_size, input=spec.to_dict(), tool_versions=tool_versions(),
            op_counts=lowered.report, parity=parity, export_seconds=0.0,
            created=datetime.now(UTC).isoformat(timespec="seconds"), input_kind=request.input_kind,
            companions=companions, io=io,
        )
    return entry


def _lower(tgt: ExportTarget, program: ExportedProgram, spec: InputSpec | TensorInputs, dest: Path,
           request: ExportRequest) -> Lowered:
    """Run the target's lowering; an unexpected library exception becomes one ExportError line."""
    try:
        return tgt.export(program, spec, dest, request)
    except AffdeployError:
        raise
    except Exception as exc:  # converters raise anything from ValueError to RuntimeError
        if disk_refused(exc):  # a full disk is said as such by the atomic write around this
            raise
        if out_of_space(dest.parent):  # a converter that says it in its own words (and the disk is full)
            raise full_disk_error(Path(request.out) / tgt.artifact_name(request)) from None
        raise ExportError(f"{tgt.name} lowering failed: {type(exc).__name__}: {first_line(exc)}") from None


def _checked(parity: ParityResult, name: str, request: ExportRequest) -> ParityResult:
    """Raise ParityError (inside the atomic context, so nothing is kept) when parity failed."""
    if parity.failed:
        raise ParityError(f"{name} does not match PyTorch: {parity.reason}", hint=_parity_advice(request))
    return parity


def _parity_advice(request: ExportRequest) -> str:
    """What to try after a failed parity: int8's accuracy depends on what it was calibrated on and on the image size."""
    if request.precision != Precision.INT8:
        return NOTHING_WRITTEN
    images = ("more representative images in --calibration" if request.calibration
              else "--calibration <folder of representative images>")
    larger = f" or a larger --image-size than {request.pixels}" if request.pixels < DEFAULT_IMAGE_SIZE else ""
    return f"{NOTHING_WRITTEN}; int8 may meet the floor with {images}{larger}"
