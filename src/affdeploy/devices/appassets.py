"""Putting exported artifacts into an app folder (Android assets, iOS resources).

Both apps get the same guarantees: every artifact is checked against its manifest sha256 before
anything is copied (so an app is never half updated), copies are atomic and skipped when the content
is already there, the ImageNet labels travel with the models, and files of earlier runs are removed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from affdeploy.errors import AffdeployError
from affdeploy.export.manifest import ArtifactEntry, manifest_path
from affdeploy.fsutil import atomic_path, atomic_write_text, sha256_path
from affdeploy.preprocessing import imagenet_labels

LABELS_NAME = "imagenet_labels.txt"


def checked_sources(entries: list[ArtifactEntry], models_dir: Path) -> list[Path]:
    """The artifact paths of ``entries``, each verified to exist and to match its manifest sha256."""
    sources = []
    for entry in entries:
        source = entry.resolve(models_dir)
        if not source.exists():
            raise AffdeployError(f"{source} is listed in {manifest_path(models_dir)} but missing", hint="export it again")
        if sha256_path(source) != entry.sha256:
            raise AffdeployError(f"{source} changed since it was exported (sha256 differs from the manifest)", hint="export it again")
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
