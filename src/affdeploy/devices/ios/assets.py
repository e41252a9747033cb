"""The iOS app's models: the exported Core ML and ExecuTorch artifacts, their metadata and the labels.

The app bundles ios_app/AFFBench/Models/ as a folder reference, so this folder is the whole
contract: the artifacts, one ``<file>.model.json`` each (schema ``affdeploy.app-model/v1``,
bench/appmodel.py), the ImageNet labels and ``models.json`` (schema ``affdeploy.app-assets/v1``:
the metadata files), read by the app's BenchCore catalog. AFFNet variants, .pt2 files and
factories are all accepted: a user model runs in the app's tensor mode. Copies are atomic and
skipped when the content is unchanged; files of earlier exports are removed so the app stays small.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from affdeploy.bench.appmodel import META_SUFFIX, read_app_model
from affdeploy.devices.appassets import chosen_entries, install_models
from affdeploy.errors import AffdeployError
from affdeploy.export.manifest import ArtifactEntry, manifest_path, read_manifest
from affdeploy.export.registry import bench_targets
from affdeploy.models import MODELS
from affdeploy.models.profile import model_macs
from affdeploy.vocab import DeviceKind

CATALOG_NAME = "models.json"
KEEP = {"README.md"}


@dataclass
class CopiedAsset:
    file: str
    model: str
    target: str
    precision: str
    mode: str  # image (AFFNet) | tensor (a user model)
    size_bytes: int
    status: str  # copied | unchanged


def models_folder(app_dir: Path) -> Path:
    """ios_app/AFFBench/Models, after checking that ``app_dir`` is the AFFBench app."""
    if not (app_dir / "project.yml").is_file():
        raise AffdeployError(f"{app_dir} is not the affdeploy iOS app (no project.yml)",
                             hint="pass --app ios_app from the repository root")
    return app_dir / "AFFBench" / "Models"


def ios_entries(models_dir: Path, models: list[str]) -> list[ArtifactEntry]:
    """The manifest's Core ML and ExecuTorch entries of ``models`` (all when empty); a clear error when there are none."""
    entries = [e for e in read_manifest(models_dir) if e.target in bench_targets(DeviceKind.IOS)]
    if not entries:
        raise AffdeployError(
            f"no Core ML or ExecuTorch model is exported in {manifest_path(models_dir)}",
            hint=f"run: affdeploy export --model affnet-t --target all --out {models_dir}",
        )
    return chosen_entries(entries, models, models_dir, "Core ML or ExecuTorch")


def _known_macs(folder: Path) -> dict[tuple[str, int | None], int]:
    """MACs already in the app's metadata files, so re-running the command does not profile models again."""
    metas = (read_app_model(p) for p in folder.glob(f"*{META_SUFFIX}")) if folder.is_dir() else ()
    return {(m.model, m.image_size): m.macs for m in metas if m is not None and m.macs}


def copy_ios_assets(models_dir: Path, app_dir: Path, models: list[str],
                    allow_unverified: bool = False) -> tuple[list[CopiedAsset], list[str]]:
    """Copy the iOS artifacts of ``models`` (all when empty) into the app with their metadata, catalog and labels."""
    folder = models_folder(app_dir)
    entries = ios_entries(models_dir, models)
    macs = _known_macs(folder)

    def macs_of(entry: ArtifactEntry) -> int | None:
        if entry.model not in MODELS:  # a user model: no MACs table
            return None
        key = (entry.model, entry.image_size)
        if key not in macs:
            macs[key] = model_macs(entry.model, entry.image_size)
        return macs[key]

    installed, removed = install_models(folder, entries, models_dir, CATALOG_NAME, KEEP, macs_of, allow_unverified)
    copied = [CopiedAsset(i.meta.file, i.meta.model, i.meta.target, i.meta.precision, i.meta.mode, i.size_bytes, i.status)
              for i in installed]
    return copied, removed
