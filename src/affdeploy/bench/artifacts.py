"""Artifacts for benchmarking: exported on demand, cached by what went into them.

A benchmark must never measure a stale file. The cache key therefore hashes everything that
changes the exported bytes: model name, the weights file's sha256, target, backend, FFT mode,
image size, precision, the tool versions, and the source of affdeploy's own export code.
Each key owns ``<models_dir>/cache/<key>/`` holding the exporter's manifest.json, the artifact
and cache-key.json (what the key covers, for humans); the folder appears atomically, so an interrupted export leaves nothing half-written behind.
The Android and iOS runners reuse :func:`ensure_artifact` to get the files they push.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import affdeploy
from affdeploy.bench.host import tool_versions
from affdeploy.errors import AffdeployError, UsageError
from affdeploy.fsutil import atomic_path, atomic_write_text, sha256_path
from affdeploy.models import model_info

if TYPE_CHECKING:
    from affdeploy.export import ArtifactEntry

CACHE_RECORD = "cache-key.json"  # what the key covers; written last, so its presence marks a complete export
EXPORT_TOOLS = ("torch", "executorch", "onnx", "onnxruntime", "onnxscript", "coremltools", "numpy")
# affdeploy sources whose changes change exported artifacts.
_CODE_PARTS = ("export", "fft", "passes", "models", "graph.py", "preprocessing.py")


def code_fingerprint() -> str:
    """sha256 over affdeploy's export-related sources, so editing an exporter invalidates the cache."""
    root = Path(affdeploy.__file__).parent
    digest = hashlib.sha256()
    for part in _CODE_PARTS:
        path = root / part
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []
        for file in files:
            digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def cache_inputs(
    model: str,
    target: str,
    *,
    fft: str,
    image_size: int,
    precision: str | None,
    weights: Path | None,
    backend: str | None,
) -> dict[str, Any]:
    """Everything the cache key covers, as a JSON-able dict (stored beside the artifact for humans)."""
    if weights is not None and not Path(weights).is_file():
        raise UsageError(f"weights file {weights} does not exist")
    return {
        "model": model,
        "weights_sha256": sha256_path(weights) if weights is not None else None,
        "target": target,
        "backend": backend,
        "fft": fft,
        "image_size": image_size,
        "precision": precision,
        "tools": tool_versions(EXPORT_TOOLS),
        "affdeploy": affdeploy.__version__,
        "code": code_fingerprint(),
    }


def cache_key(inputs: dict[str, Any]) -> str:
    """Short stable hash of :func:`cache_inputs` (24 hex digits; collisions are not a concern)."""
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def _pick_entry(entries: list[ArtifactEntry], target: str) -> ArtifactEntry:
    matching = [e for e in entries if e.target == target]
    if not matching:
        raise AffdeployError(f"the {target} exporter produced no {target} artifact")
    return matching[0]


def _cached(folder: Path, target: str) -> tuple[Path, ArtifactEntry] | None:
    """The cached artifact of ``folder`` if it is complete and its bytes still match its sha256."""
    from affdeploy.export import read_manifest

    if not (folder / CACHE_RECORD).is_file():
        return None
    try:
        entry = _pick_entry(read_manifest(folder), target)
    except AffdeployError:
        return None
    path = entry.resolve(folder)
    if not path.exists() or sha256_path(path) != entry.sha256:
        return None
    return path, entry


def ensure_artifact(
    model: str,
    target: str,
    *,
    fft: str = "auto",
    image_size: int = 256,
    precision: str | None = None,
    weights: Path | None = None,
    backend: str | None = None,
    models_dir: Path = Path("models"),
    on_progress: Callable[[str], None] | None = None,
) -> tuple[Path, ArtifactEntry]:
    """Path and manifest entry of the ``target`` artifact for these settings; export it when not cached."""
    model_info(model)
    inputs = cache_inputs(
        model, target, fft=fft, image_size=image_size, precision=precision, weights=weights, backend=backend
    )
    folder = Path(models_dir) / "cache" / cache_key(inputs)
    hit = _cached(folder, target)
    if hit is not None:
        return hit
    from affdeploy.export import export_model
    with atomic_path(folder, is_dir=True) as tmp:
        entries = export_model(
            model,
            target,
            out_dir=tmp,
            fft=fft,
            weights=weights,
            image_size=image_size,
            precision=precision,
            backend=backend,
            on_progress=on_progress,
        )
        entry = _pick_entry(entries, target)
        atomic_write_text(tmp / CACHE_RECORD, json.dumps({"key": folder.name, "inputs": inputs}, indent=2) + "\n")
    return entry.resolve(folder), entry
