"""The Android app's models: the exported ExecuTorch and ONNX artifacts, their catalog and the labels.

The app reads android_app/app/src/main/assets/models/ only: the model files, the ImageNet labels
and ``manifest.json`` (schema ``affdeploy.android-assets/v1``: what each file is and the
preprocessing it expects), parsed by the app's plain-Java ModelManifest. The folder is generated
and git-ignored; copies are atomic, unchanged files are skipped and files of earlier runs removed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from affdeploy.devices.appassets import checked_sources, install, remove_stale, write_labels
from affdeploy.errors import AffdeployError, UsageError
from affdeploy.export.manifest import ArtifactEntry, manifest_path, read_manifest
from affdeploy.export.registry import target_names
from affdeploy.fsutil import atomic_write_text, ensure_writable_dir, path_size
from affdeploy.models import MODELS
from affdeploy.vocab import DeviceKind

ASSETS_SCHEMA = "affdeploy.android-assets/v1"  # ModelManifest.SCHEMA in android_app/benchcore
MANIFEST_NAME = "manifest.json"
INPUT_KEYS = ("height", "width", "color_order", "scale", "mean", "std")  # what the app's InputSpec reads


@dataclass
class BundledModel:
    file: str
    model: str
    target: str
    backend: str
    fft: str
    precision: str
    image_size: int
    size_bytes: int
    status: str  # copied | unchanged


def assets_folder(app_dir: Path) -> Path:
    """APP/app/src/main/assets/models, after checking that ``app_dir`` is the affdeploy Android project."""
    if not (app_dir / "app" / "src" / "main" / "AndroidManifest.xml").is_file():
        raise AffdeployError(
            f"{app_dir} is not the affdeploy Android project (no app/src/main/AndroidManifest.xml)",
            hint="pass --app android_app from the repository root",
        )
    return app_dir / "app" / "src" / "main" / "assets" / "models"


def android_entries(models_dir: Path, models: list[str]) -> list[ArtifactEntry]:
    """The manifest's ExecuTorch and ONNX entries for ``models`` (all when empty), preferred file first.

    The classifier screen takes the first entry of a model, so XNNPACK at 256x256 leads.
    """
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise UsageError(f"unknown model {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    entries = [e for e in read_manifest(models_dir) if e.target in target_names(DeviceKind.ANDROID)]
    if not entries:
        raise AffdeployError(
            f"no ExecuTorch or ONNX model is exported in {manifest_path(models_dir)}",
            hint=f"run `affdeploy export --model affnet-t --target executorch --out {models_dir}` first",
        )
    missing = sorted(set(models) - {e.model for e in entries})
    if missing:
        exported = sorted({e.model for e in entries})
        raise AffdeployError(
            f"{', '.join(missing)} has no ExecuTorch or ONNX export in {models_dir} (exported: {', '.join(exported)})",
            hint=f"run `affdeploy export --model {missing[0]} --target executorch` first",
        )
    chosen = [e for e in entries if not models or e.model in models]
    return sorted(chosen, key=lambda e: (e.model, e.target, e.backend != "xnnpack", e.image_size != 256, e.path))


def _check_inputs(entry: ArtifactEntry) -> None:
    """The app's InputSpec needs these manifest fields; an old manifest without them must be re-exported."""
    lacking = [key for key in INPUT_KEYS if key not in entry.input]
    if lacking:
        raise AffdeployError(f"the manifest entry of {Path(entry.path).name} has no input {', '.join(lacking)}", hint="export it again")


def _catalog_entry(entry: ArtifactEntry, file: str) -> dict[str, Any]:
    return {
        "model": entry.model,
        "target": entry.target,
        "backend": entry.backend,
        "fft": entry.fft,
        "precision": entry.precision,
        "image_size": entry.image_size,
        "file": file,
        "sha256": entry.sha256,
        "input": {key: entry.input[key] for key in INPUT_KEYS},
    }


def copy_android_assets(models_dir: Path, app_dir: Path, models: list[str]) -> tuple[Path, list[BundledModel], list[str]]:
    """Copy the chosen artifacts into the app, write its manifest and labels, remove stale files."""
    folder = assets_folder(app_dir)
    entries = android_entries(models_dir, models)
    for entry in entries:
        _check_inputs(entry)
    sources = checked_sources(entries, models_dir)  # all checked before anything changes
    ensure_writable_dir(folder)
    bundled, catalog = [], []
    for entry, source in zip(entries, sources):
        status = install(source, folder / source.name, entry.sha256)
        bundled.append(BundledModel(source.name, entry.model, entry.target, entry.backend, entry.fft, entry.precision,
                                    entry.image_size, path_size(folder / source.name), status))
        catalog.append(_catalog_entry(entry, source.name))
    labels = write_labels(folder)
    doc = {"schema": ASSETS_SCHEMA, "labels": labels, "models": catalog}
    atomic_write_text(folder / MANIFEST_NAME, json.dumps(doc, indent=2) + "\n")
    removed = remove_stale(folder, {MANIFEST_NAME, labels} | {b.file for b in bundled})
    return folder, bundled, removed
