"""The iOS app's models: the exported Core ML and ExecuTorch artifacts, their catalog and the labels.

The app bundles ios_app/AFFBench/Models/ as a folder reference, so this folder is the whole
contract: the artifacts, the ImageNet labels and ``models.json`` (what each file is, read by
the app's BenchCore catalog). Copies are atomic and skipped when the content is unchanged;
files of earlier exports that the manifest no longer lists are removed so the app stays small.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from affdeploy.devices.appassets import LABELS_NAME, checked_sources, install, remove_stale, write_labels
from affdeploy.errors import AffdeployError
from affdeploy.export.manifest import ArtifactEntry, manifest_path, read_manifest
from affdeploy.export.registry import bench_targets
from affdeploy.fsutil import atomic_write_text, ensure_writable_dir, path_size
from affdeploy.models.profile import model_macs
from affdeploy.vocab import DeviceKind

CATALOG_SCHEMA = "affdeploy.ios-assets/v1"  # BenchCore's catalogSchemaID
CATALOG_NAME = "models.json"
KEEP = {"README.md", CATALOG_NAME, LABELS_NAME}
# Manifest fields copied into each catalog entry (BenchCore's CatalogEntry reads these, "file" and "macs").
ENTRY_FIELDS = ("model", "target", "backend", "fft", "precision", "image_size", "input_kind", "sha256")


@dataclass
class CopiedAsset:
    file: str
    model: str
    target: str
    precision: str
    size_bytes: int
    status: str  # copied | unchanged


def models_folder(app_dir: Path) -> Path:
    """ios_app/AFFBench/Models, after checking that ``app_dir`` is the AFFBench app."""
    if not (app_dir / "project.yml").is_file():
        raise AffdeployError(f"{app_dir} is not the affdeploy iOS app (no project.yml)", hint="pass --app ios_app from the repository root")
    return app_dir / "AFFBench" / "Models"


def ios_entries(models_dir: Path) -> list[ArtifactEntry]:
    """The manifest's Core ML and ExecuTorch entries; a clear error when there are none."""
    entries = [e for e in read_manifest(models_dir) if e.target in bench_targets(DeviceKind.IOS)]
    if not entries:
        raise AffdeployError(
            f"no Core ML or ExecuTorch model is exported in {manifest_path(models_dir)}",
            hint=f"run: affdeploy export --model affnet-t --target all --out {models_dir}",
        )
    return entries


def _known_macs(catalog_file: Path) -> dict[tuple[str, int], int]:
    """MACs already in the app's catalog, so re-running the command does not profile models again."""
    try:
        models = json.loads(catalog_file.read_text("utf-8")).get("models", [])
        return {(m["model"], int(m["image_size"])): int(m["macs"]) for m in models if m.get("macs")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def copy_ios_assets(models_dir: Path, app_dir: Path) -> tuple[list[CopiedAsset], list[str]]:
    """Copy every iOS artifact of ``models_dir`` into the app and write its catalog and labels."""
    folder = models_folder(app_dir)
    entries = ios_entries(models_dir)
    sources = checked_sources(entries, models_dir)  # all checked before any copy: never half updated
    ensure_writable_dir(folder)
    copied, catalog = [], []
    macs = _known_macs(folder / CATALOG_NAME)
    for entry, source in zip(entries, sources):
        name = source.name
        status = install(source, folder / name, entry.sha256)
        key = (entry.model, entry.image_size)
        if key not in macs:
            macs[key] = model_macs(entry.model, entry.image_size)
        copied.append(CopiedAsset(name, entry.model, entry.target, entry.precision, path_size(folder / name), status))
        catalog.append({**{k: getattr(entry, k) for k in ENTRY_FIELDS}, "file": name, "macs": macs[key]})
    labels = write_labels(folder)
    doc: dict[str, Any] = {"schema": CATALOG_SCHEMA, "models": catalog, "labels": labels}
    atomic_write_text(folder / CATALOG_NAME, json.dumps(doc, indent=2) + "\n")
    removed = remove_stale(folder, KEEP | {c.file for c in copied})
    return copied, removed
