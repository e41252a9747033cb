"""Putting exported artifacts into an app folder (Android assets, iOS resources).

Both apps get the same guarantees: every artifact must lie in the models folder, have passed its parity
check at export (unless the user allows otherwise) and match its manifest sha256, and every
model's metadata built (a user model the apps cannot feed is refused) before anything is copied (so
an app is never half updated), copies are atomic and skipped when the content is already there, each
artifact gets its ``<file>.model.json`` (bench/appmodel.py), the ImageNet labels travel with the
models, and files of earlier runs are removed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from affdeploy.bench.appmodel import AppModel, app_model, write_app_model, write_catalog
from affdeploy.errors import AffdeployError
from affdeploy.export.manifest import ArtifactEntry, manifest_path, model_ref
from affdeploy.export.parity import PASSED
from affdeploy.fsutil import atomic_path, atomic_write_text, ensure_writable_dir, path_size, sha256_path
from affdeploy.preprocessing import imagenet_labels

LABELS_NAME = "imagenet_labels.txt"


def checked_sources(entries: list[ArtifactEntry], models_dir: Path, allow_unverified: bool = False) -> list[Path]:
    """The artifact paths of ``entries``, each verified to stay in ``models_dir``, to exist, to match its manifest
    sha256 and (unless ``allow_unverified``) to have passed its parity check at export."""
    sources = []
    for entry in entries:
        if entry.parity.status != PASSED and not allow_unverified:
            reason = f" ({entry.parity.reason})" if entry.parity.reason else ""
            raise AffdeployError(f"{entry.path}: parity {entry.parity.status} at export{reason}; an app would "
                                 "ship outputs nobody checked against PyTorch",
                                 hint="export it again, or pass --allow-unverified to bundle it anyway")
        source = entry.resolve(models_dir)
        if not source.exists():
            raise AffdeployError(f"{source} is listed in {manifest_path(models_dir)} but missing", hint="export it again")
        if sha256_path(source) != entry.sha256:
            raise AffdeployError(f"{source} changed since it was exported (sha256 differs from the manifest)",
                                 hint="export it again")
        sources.append(source)
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise AffdeployError(f"two exported artifacts share a file name in {models_dir}: {sorted(names)}")
    return sources


def install(source: Path, dest: Path, sha256: str) -> str:
    """Atomically copy a file or .mlpackage folder; ``unchanged`` when ``dest`` already holds this content."""
    if dest.exists() and sha256_path(dest) == sha256:
        return "unchanged"
    with atomic_path(dest, is_dir=source.is_dir()) as tmp:
        if source.is_dir():
            shutil.copytree(source, tmp, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, tmp)
    return "copied"


def write_labels(folder: Path) -> str:
    """Write the ImageNet-1k labels (one per line, index = class id) next to the models."""
    atomic_write_text(folder / LABELS_NAME, "\n".join(imagenet_labels()) + "\n")
    return LABELS_NAME


def remove_stale(folder: Path, keep: set[str]) -> list[str]:
    """Delete what earlier runs left in the generated folder, so the app carries only what is listed."""
    stale = sorted(p for p in folder.iterdir() if p.name not in keep and not p.name.startswith("."))
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return [p.name for p in stale]


def chosen_entries(entries: list[ArtifactEntry], models: list[str], models_dir: Path, what: str) -> list[ArtifactEntry]:
    """The entries of the ``--model`` choices (AFFNet variants, .pt2 files, factories); all when none."""
    refs = {model_ref(m): m for m in models}
    missing = [given for ref, given in refs.items() if not any(e.model == ref for e in entries)]
    if missing:
        exported = sorted({e.model for e in entries}) or ["nothing"]
        raise AffdeployError(
            f"{missing[0]} has no {what} export in {manifest_path(models_dir)} (exported: {', '.join(exported)})",
            hint=f"run `affdeploy export --model {missing[0]} --out {models_dir}` first",
        )
    return [e for e in entries if not refs or e.model in refs]


@dataclass
class Installed:
    """One artifact put into an app folder, with the metadata the app reads for it."""

    meta: AppModel
    size_bytes: int
    status: str  # copied | unchanged


def install_models(folder: Path, entries: list[ArtifactEntry], models_dir: Path, catalog: str, keep: set[str],
                   macs: Callable[[ArtifactEntry], int | None] = lambda entry: None,
                   allow_unverified: bool = False) -> tuple[list[Installed], list[str]]:
    """Copy ``entries`` into ``folder`` with a metadata file each, the catalog and the labels; prune the rest."""
    sources = checked_sources(entries, models_dir, allow_unverified)
    metas = [app_model(e, labels=LABELS_NAME, macs=macs(e)) for e in entries]  # all refusals before any copy
    ensure_writable_dir(folder)
    installed = []
    for entry, source, meta in zip(entries, sources, metas, strict=True):
        status = install(source, folder / source.name, entry.sha256)
        write_app_model(folder, meta)
        installed.append(Installed(meta, path_size(folder / source.name), status))
    write_labels(folder)
    write_catalog(folder / catalog, metas, LABELS_NAME)
    written = {catalog, LABELS_NAME} | {m.file for m in metas} | {m.meta_name for m in metas}
    return installed, remove_stale(folder, keep | written)
