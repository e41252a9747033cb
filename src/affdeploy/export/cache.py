"""Artifacts on demand: what ``export`` already wrote, else a cached export, else a fresh one.

A benchmark must never measure a stale file, nor wait for an export the user already ran. For an
:class:`ExportRequest`, :func:`ensure_artifact` therefore looks in this order:

1. ``<models_dir>/manifest.json`` (what ``affdeploy export`` wrote): an entry with the same request
   fields, the same weights sha256, the same tool versions and export code (as far as the entry
   records them), whose file still has its recorded sha256;
2. ``<models_dir>/cache/<key>/``, where the key hashes the same facts; the folder appears
   atomically with its manifest and cache-key.json (what the key covers, for humans);
3. a fresh export into a new cache folder.

Devices (Android, iOS) use the same function to get the files they push.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import affdeploy
from affdeploy.errors import AffdeployError
from affdeploy.export.manifest import ArtifactEntry, read_manifest
from affdeploy.export.request import ExportRequest
from affdeploy.fsutil import atomic_path, atomic_write_text, sha256_path
from affdeploy.progress import Progress, silent
from affdeploy.versions import tool_versions
from affdeploy.vocab import Precision

CACHE_DIR = "cache"
CACHE_RECORD = "cache-key.json"  # what the key covers; written last, so its presence marks a complete export
_CODE_PARTS = ("export", "fft", "passes", "models", "data", "graph.py", "preprocessing.py", "vocab.py")
"""affdeploy sources whose changes change exported artifacts."""


@functools.cache
def code_fingerprint() -> str:
    """sha256 over affdeploy's export-related sources, so editing an exporter invalidates old artifacts."""
    root = Path(affdeploy.__file__).parent
    digest = hashlib.sha256()
    for part in _CODE_PARTS:
        path = root / part
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []
        for file in files:
            digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def _weights_sha256(request: ExportRequest) -> str | None:
    """What the manifest records as ``weights_sha256``: the checkpoint's, or a user model's .pt2 / factory source's."""
    from affdeploy.models.source import source_sha256

    return sha256_path(request.weights) if request.weights is not None else source_sha256(request.model)


def _calibration_sha256(request: ExportRequest) -> str | None:
    """int8: the sha256 of the images it is calibrated on (a user folder, or the bundled photographs)."""
    if request.precision != Precision.INT8:
        return None
    from affdeploy.data.calibration import sources_sha256

    return sources_sha256(request.calibration)


def cache_inputs(request: ExportRequest) -> dict[str, Any]:
    """Everything that shapes the artifact's bytes, as JSON (the cache key's preimage)."""
    return {
        **request.identity(),
        "weights_sha256": _weights_sha256(request),
        "calibration_sha256": _calibration_sha256(request),
        "tools": tool_versions(),
        "code": code_fingerprint(),
    }


def cache_key(inputs: dict[str, Any]) -> str:
    """Short stable hash of :func:`cache_inputs` (24 hex digits; collisions are not a concern)."""
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def matches(entry: ArtifactEntry, inputs: dict[str, Any]) -> bool:
    """Whether a manifest entry was exported from exactly these inputs (fields it lacks are not held against it)."""
    identity = {k: v for k, v in inputs.items()
                if k not in ("weights_sha256", "calibration_sha256", "tools", "code", "ort_format")}
    recorded = {k: getattr(entry, k) for k in identity}
    calibration = ((entry.quantization or {}).get("calibration") or {}).get("sha256")
    return (
        recorded == identity
        and entry.weights_sha256 == inputs["weights_sha256"]
        and calibration == inputs.get("calibration_sha256")
        and all(inputs["tools"].get(tool) == ver for tool, ver in entry.tool_versions.items())
        and entry.code_sha256 in (None, inputs["code"])
    )


def _intact(folder: Path, entry: ArtifactEntry) -> tuple[Path, ArtifactEntry] | None:
    path = entry.resolve(folder)
    if path.exists() and sha256_path(path) == entry.sha256:
        return path, entry
    return None


def find_exported(folder: Path, inputs: dict[str, Any]) -> tuple[Path, ArtifactEntry] | None:
    """An intact artifact in ``folder``'s manifest exported from ``inputs``, or None."""
    for entry in read_manifest(folder):
        if matches(entry, inputs):
            hit = _intact(folder, entry)
            if hit is not None:
                return hit
    return None


def _cached(request: ExportRequest, models_dir: Path) -> tuple[Path, ArtifactEntry] | None:
    """What ``export`` wrote into ``models_dir``, else a complete cached export; None when neither has it."""
    inputs = cache_inputs(request)
    hit = find_exported(models_dir, inputs)
    if hit is not None:
        return hit
    folder = models_dir / CACHE_DIR / cache_key(inputs)
    if (folder / CACHE_RECORD).is_file():
        return find_exported(folder, inputs)
    return None


def ensure_artifact(request: ExportRequest, models_dir: Path, on_progress: Progress = silent) -> tuple[Path, ArtifactEntry]:
    """Path and manifest entry of the artifact for ``request``: reused when exported before, else exported."""
    return ensure_artifacts([request], models_dir, on_progress)[0]


def ensure_artifacts(requests: list[ExportRequest], models_dir: Path,
                     on_progress: Progress = silent) -> list[tuple[Path, ArtifactEntry]]:
    """:func:`ensure_artifact` for several requests of one model: the missing ones are exported in ONE run
    (one build, torch.export and FFT lowering shared by every target), each into its own cache folder."""
    from affdeploy.export.pipeline import export_artifacts

    models_dir = Path(models_dir)
    found = {request: _cached(request, models_dir) for request in requests}
    missing = [request for request, hit in found.items() if hit is None]
    for batch in _batches(missing):
        with ExitStack() as stack:
            folders = {r: stack.enter_context(atomic_path(models_dir / CACHE_DIR / cache_key(cache_inputs(r)),
                                                          is_dir=True)) for r in batch}
            entries = export_artifacts([dataclasses.replace(r, out=folders[r]) for r in batch], on_progress)
            if len(entries) != len(batch):
                raise AffdeployError(f"the exporters produced {len(entries)} artifacts for {len(batch)} requests")
            for request, entry in zip(batch, entries, strict=True):
                tmp = folders[request]
                key = models_dir / CACHE_DIR / cache_key(cache_inputs(request))
                atomic_write_text(tmp / CACHE_RECORD, json.dumps({"key": key.name, "inputs": cache_inputs(request)},
                                                                 indent=2) + "\n")
                found[request] = (entry.resolve(key), entry)
    return [hit for hit in (found[r] for r in requests) if hit is not None]


def _batches(requests: list[ExportRequest]) -> list[list[ExportRequest]]:
    """Requests one export run can take together (one model, weights, size and int8-ness; see export_artifacts)."""
    groups: dict[tuple[Any, ...], list[ExportRequest]] = {}
    for r in requests:
        key = (r.model, r.weights, r.image_size, r.parity_images, r.parity_inputs, r.precision == Precision.INT8,
               r.calibration)
        groups.setdefault(key, []).append(r)
    return list(groups.values())
