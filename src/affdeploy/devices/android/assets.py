"""The Android app's models: the exported ExecuTorch, ONNX and LiteRT artifacts, their metadata and the labels.

The app reads android_app/app/src/main/assets/models/ only: the model files, one
``<file>.model.json`` each (schema ``affdeploy.app-model/v1``, bench/appmodel.py: inputs, outputs,
and for AFFNet its preprocessing), the ImageNet labels and ``manifest.json`` (schema
``affdeploy.app-assets/v1``: the metadata files in preference order), parsed by the app's plain-Java
ModelManifest and ModelMeta. AFFNet variants, .pt2 files and factories are all accepted: a user
model runs in the app's tensor mode. The folder is generated and git-ignored; copies are atomic,
unchanged files are skipped and files of earlier runs removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from affdeploy.devices.appassets import chosen_entries, install_models
from affdeploy.errors import AffdeployError
from affdeploy.export.manifest import ArtifactEntry, manifest_path, read_manifest
from affdeploy.export.registry import target_names
from affdeploy.vocab import DeviceKind

MANIFEST_NAME = "manifest.json"


@dataclass
class BundledModel:
    file: str
    model: str
    target: str
    backend: str
    fft: str
    precision: str
    mode: str  # image (AFFNet) | tensor (a user model)
    meta: str  # the <file>.model.json the app reads
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
    """The manifest's Android entries for ``models`` (all when empty), preferred file first.

    The classifier screen takes the first entry of a model, so XNNPACK at 256x256 leads.
    """
    entries = [e for e in read_manifest(models_dir) if e.target in target_names(DeviceKind.ANDROID)]
    if not entries:
        raise AffdeployError(
            f"no ExecuTorch, ONNX or LiteRT model is exported in {manifest_path(models_dir)}",
            hint=f"run `affdeploy export --model affnet-t --target executorch --out {models_dir}` first",
        )
    chosen = chosen_entries(entries, models, models_dir, "ExecuTorch, ONNX or LiteRT")
    return sorted(chosen, key=lambda e: (e.model, e.target, e.backend != "xnnpack", e.image_size != 256, e.path))


def copy_android_assets(models_dir: Path, app_dir: Path, models: list[str],
                        allow_unverified: bool = False) -> tuple[Path, list[BundledModel], list[str]]:
    """Copy the chosen artifacts into the app with their metadata, write its manifest and labels, remove stale files."""
    folder = assets_folder(app_dir)
    installed, removed = install_models(folder, android_entries(models_dir, models), models_dir, MANIFEST_NAME, set(),
                                        allow_unverified=allow_unverified)
    bundled = [BundledModel(i.meta.file, i.meta.model, i.meta.target, i.meta.backend, i.meta.fft, i.meta.precision,
                            i.meta.mode, i.meta.meta_name, i.size_bytes, i.status) for i in installed]
    return folder, bundled, removed
