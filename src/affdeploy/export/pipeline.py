"""The export pipeline shared by every target, and re-verification of existing artifacts.

build_model -> torch.export -> [lower_fft] -> [delegate_friendly] -> target lowering, then parity
on fixed inputs against PyTorch before anything appears under its final name: each artifact is
written to a temporary sibling, validated, and only then renamed and recorded in the manifest.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.export import ExportedProgram

from affdeploy.bench.host import tool_versions
from affdeploy.errors import AffdeployError, ExportError, ParityError, UsageError
from affdeploy.export.base import TARGET_NAMES, ExportOptions, Target, first_line, get_target, target_for_path
from affdeploy.export.manifest import FAILED, ArtifactEntry, find_entry, upsert_entries
from affdeploy.export.parity import parity_inputs, reference_outputs
from affdeploy.fsutil import atomic_path, ensure_writable_dir, path_size, sha256_path
from affdeploy.graph import check_image_size, export_program
from affdeploy.models import build_model, model_info
from affdeploy.preprocessing import input_spec

Progress = Callable[[str], None]
TOOLS = ("affdeploy", "torch", "executorch", "coremltools", "onnx", "onnxruntime", "onnxscript", "numpy")
INIT_SEED = 0
FRIENDLY_TARGETS = frozenset({"coreml", "executorch", "onnx"})
"""Targets whose program gets the delegate-friendly rewrite: all of them, since ONNX Runtime also runs
Einsum and GroupNorm slowly (benchmarks/results/fft_onnx.md: 14.5 -> 7.8 ms on AFFNet-ET)."""


def _plan(model: str, target: str, fft: str, image_size: int, precision: str | None, backend: str | None,
          input_kind: str | None, require_full_delegation: bool, ort_format: bool) -> list[tuple[Target, ExportOptions]]:
    """Resolve every choice before any slow work, so bad combinations fail in a second."""
    from affdeploy.fft import resolve_fft

    model_info(model)
    check_image_size(image_size)
    plan = []
    for name in TARGET_NAMES if target == "all" else (target,):
        tgt = get_target(name)
        kind = input_kind if name == "coreml" else None
        resolved_backend, resolved_precision, resolved_kind = tgt.check_options(backend, precision, kind)
        if require_full_delegation and name == "executorch" and resolved_backend == "portable":
            raise UsageError("--require-full-delegation needs a delegate; --backend portable has none")
        mode = resolve_fft(fft, name, resolved_backend if len(tgt.backends) > 1 else None)
        plan.append((tgt, ExportOptions(model, image_size, mode, resolved_precision, resolved_backend, resolved_kind,
                                        require_full_delegation and name == "executorch", ort_format and name == "onnx")))
    return plan


class _Programs:
    """Exported programs per (FFT mode, delegate-friendly), derived once and shared by targets."""

    def __init__(self, base: ExportedProgram, progress: Progress) -> None:
        self._base = base
        self._progress = progress
        self._cache: dict[tuple[str, bool], ExportedProgram] = {("native", False): base}

    def get(self, fft: str, friendly: bool) -> ExportedProgram:
        key = (fft, friendly)
        if key not in self._cache:
            if friendly:
                source = self.get(fft, False)
                self._progress("rewriting ops for mobile delegates")
                from affdeploy.passes import delegate_friendly

                self._cache[key] = delegate_friendly(copy.deepcopy(source))
            else:
                self._progress("lowering FFTs to DFT matrix products")
                from affdeploy.fft import lower_fft

                self._cache[key] = lower_fft(copy.deepcopy(self._base))
        return self._cache[key]


def _build(model: str, weights: str | Path | None) -> torch.nn.Module:
    """The PyTorch model; without weights, a fixed-seed init so ``verify`` can rebuild the same model."""
    with torch.random.fork_rng():
        torch.manual_seed(INIT_SEED)
        return build_model(model, weights=weights)


def _weights_record(weights: Path | None) -> tuple[str | None, str | None]:
    if weights is None:
        return None, None
    path = Path(weights).resolve()
    return str(path), sha256_path(path)


def export_model(
    model: str,
    target: str,
    *,
    out_dir: Path = Path("models"),
    fft: str = "auto",
    weights: Path | None = None,
    image_size: int = 256,
    precision: str | None = None,
    backend: str | None = None,
    require_full_delegation: bool = False,
    ort_format: bool = False,
    coreml_input: str | None = None,
    on_progress: Progress | None = None,
) -> list[ArtifactEntry]:
    """Export ``model`` to ``target`` ("all": the three targets) under ``out_dir`` and record it in the manifest.

    Each artifact is validated against PyTorch before it is renamed into place; a parity failure
    raises ParityError and leaves neither the artifact nor a manifest change behind.
    """
    progress = on_progress or (lambda _msg: None)
    plan = _plan(model, target, fft, image_size, precision, backend, coreml_input, require_full_delegation, ort_format)
    out_dir = ensure_writable_dir(Path(out_dir))
    progress(f"building {model}")
    net = _build(model, weights)
    weights_path, weights_sha = _weights_record(weights)
    spec = input_spec(image_size)
    inputs = parity_inputs(image_size)
    references = reference_outputs(net, inputs)
    progress("torch.export")
    programs = _Programs(export_program(net, image_size), progress)
    entries = []
    for tgt, opts in plan:
        started = time.perf_counter()
        program = programs.get(opts.fft, tgt.name in FRIENDLY_TARGETS)
        entry = _export_one(tgt, opts, program, spec, out_dir, references, inputs, progress, started)
        entry.weights, entry.weights_sha256 = weights_path, weights_sha
        upsert_entries(out_dir, [entry])
        entries.append(entry)
    return entries


def _export_one(tgt: Target, opts: ExportOptions, program: ExportedProgram, spec: Any, out_dir: Path,
                references: list[np.ndarray], inputs: list[np.ndarray], progress: Progress,
                started: float) -> ArtifactEntry:
    final = out_dir / tgt.artifact_name(opts)
    with ExitStack() as stack:
        tmp = stack.enter_context(atomic_path(final, is_dir=tgt.is_dir))
        progress(f"{tgt.name}: lowering ({opts.backend}, {opts.precision}, fft {opts.fft})")
        lowered = _lower(tgt, program, spec, tmp, opts)
        progress(f"{tgt.name}: checking parity against PyTorch")
        parity = _checked(tgt.validate(tmp, opts, references, inputs), final.name)
        companions = []
        for extra in lowered.companions:
            extra_tmp = stack.enter_context(atomic_path(out_dir / extra.name))
            extra.replace(extra_tmp)
            companions.append({"path": extra.name, "sha256": sha256_path(extra_tmp), "size_bytes": path_size(extra_tmp),
                               "parity": _checked(tgt.validate(extra_tmp, opts, references, inputs), extra.name)})
        progress(f"{tgt.name}: writing {final.name}")
        entry = ArtifactEntry(
            model=opts.model, target=tgt.name, backend=opts.backend, path=final.name, fft=opts.fft,
            precision=opts.precision, sha256=sha256_path(tmp), size_bytes=path_size(tmp), image_size=opts.image_size,
            input=spec.to_dict(), tool_versions=tool_versions(TOOLS), op_counts=lowered.report, parity=parity,
            export_seconds=0.0, created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            input_kind=opts.input_kind, companions=companions,
        )
    entry.export_seconds = round(time.perf_counter() - started, 2)
    return entry


def _lower(tgt: Target, program: ExportedProgram, spec: Any, dest: Path, opts: ExportOptions) -> Any:
    """Run the target's lowering; an unexpected library exception becomes one ExportError line."""
    try:
        return tgt.export(program, spec, dest, opts)
    except AffdeployError:
        raise
    except Exception as exc:  # converters raise anything from ValueError to RuntimeError
        raise ExportError(f"{tgt.name} lowering failed: {type(exc).__name__}: {first_line(exc)}") from None


def _checked(parity: dict[str, Any], name: str) -> dict[str, Any]:
    """Raise ParityError (inside the atomic context, so nothing is kept) when parity failed."""
    if parity["status"] == FAILED:
        raise ParityError(f"{name} does not match PyTorch: {parity['reason']}", hint="nothing was written")
    return parity


def _entry_options(entry: ArtifactEntry) -> ExportOptions:
    return ExportOptions(entry.model, entry.image_size, entry.fft, entry.precision, entry.backend, entry.input_kind)


def _recorded_sha(entry: ArtifactEntry, name: str) -> str | None:
    if name == entry.path:
        return entry.sha256
    return next((c["sha256"] for c in entry.companions if c["path"] == name), None)


def verify_artifact(path: Path, on_progress: Progress | None = None) -> dict[str, Any]:
    """Re-run the parity check of an exported artifact, rebuilding the model its manifest entry names."""
    progress = on_progress or (lambda _msg: None)
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    tgt = target_for_path(path)
    folder, entry = find_entry(path)
    if entry.weights is not None:
        weights = Path(entry.weights)
        if not weights.is_file():
            raise AffdeployError(f"the checkpoint {weights} this artifact was exported from is gone",
                                 hint="export again with --weights")
        if sha256_path(weights) != entry.weights_sha256:
            raise AffdeployError(f"the checkpoint {weights} changed since export", hint="export again with --weights")
    progress(f"building {entry.model}")
    net = _build(entry.model, entry.weights)
    inputs = parity_inputs(entry.image_size)
    references = reference_outputs(net, inputs)
    progress(f"{tgt.name}: checking parity against PyTorch")
    parity = tgt.validate(path, _entry_options(entry), references, inputs)
    return {
        "path": str(path),
        "model": entry.model,
        "target": entry.target,
        "backend": entry.backend,
        "precision": entry.precision,
        "fft": entry.fft,
        "sha256_matches_manifest": sha256_path(path) == _recorded_sha(entry, path.name),
        "parity": parity,
    }


def inspect_artifact(path: Path) -> dict[str, Any]:
    """Op-coverage report of an artifact file, read from the file itself (no manifest needed)."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    tgt = target_for_path(path)
    try:
        report = tgt.inspect(path)
    except Exception as exc:  # protobuf/flatbuffer parsers raise assorted types on a damaged file
        raise AffdeployError(f"{path} is not a readable {tgt.suffix} artifact ({type(exc).__name__}: {first_line(exc)})") from None
    return {"path": str(path), "target": tgt.name, "size_bytes": path_size(path), **report}

