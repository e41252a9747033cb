"""A folder of images to evaluate on, streamed one file at a time, with ImageNet labels where it has them.

Two layouts, as torchvision's ImageFolder and every ImageNet validation set use them:

- class folders (``DIR/<class>/<image>``): each folder name maps to an ImageNet-1k class index,
  by WordNet id (``n01440764``), class index (``0``-``999``), the bundled label name
  (``tench``, ``great_white_shark``), or a ``--labels`` file; accuracy is measured on the images
  whose folder maps, agreement on all;
- flat (``DIR/<image>``): no labels, agreement with PyTorch only.

Nothing is read ahead: file names are listed one folder at a time and each image is decoded when
it is its turn, so memory stays flat over thousands of images.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from affdeploy.data.photos import IMAGE_SUFFIXES
from affdeploy.errors import UsageError
from affdeploy.preprocessing import NUM_CLASSES, imagenet_labels

CLASS_FOLDERS, FLAT = "class folders", "flat"


@functools.cache
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ILSVRC-2012 WordNet ids, index = class id (the sorted synset order every ImageNet loader uses)."""
    text = resources.files("affdeploy.data").joinpath("imagenet_wnids.txt").read_text("utf-8")
    wnids = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(wnids) != NUM_CLASSES:
        raise RuntimeError(f"imagenet_wnids.txt has {len(wnids)} ids, expected {NUM_CLASSES}")
    return wnids


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("-", " ").lower().split())


@functools.cache
def _by_name() -> dict[str, int]:
    """Lower-cased label and WordNet id -> class index (the first class of a repeated label wins)."""
    found: dict[str, int] = {}
    for index, (wnid, label) in enumerate(zip(imagenet_wnids(), imagenet_labels(), strict=True)):
        found.setdefault(wnid, index)
        found.setdefault(_key(label), index)
    return found


def class_index(name: str) -> int | None:
    """The ImageNet-1k class a folder or ``--labels`` value names: a WordNet id, an index or a label; else None."""
    name = name.strip()
    if name.isdigit():
        return int(name) if int(name) < NUM_CLASSES else None
    return _by_name().get(name if name.startswith("n") and name[1:].isdigit() else _key(name))


def read_labels(path: Path) -> dict[str, int]:
    """``--labels FILE``: one ``folder<TAB or comma>class`` per line (class: index, WordNet id or label name)."""
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--labels {path} cannot be read ({type(exc).__name__})") from None
    mapping: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t") if "\t" in line else line.split(",", 1)
        index = class_index(parts[1]) if len(parts) == 2 else None
        if index is None:
            raise UsageError(f"--labels {path}:{number}: expected 'folder<TAB or comma>class' with an ImageNet class "
                             f"index, WordNet id or label; got {line.strip()[:80]!r}")
        mapping[parts[0].strip()] = index
    return mapping


@dataclass(frozen=True)
class Image:
    """One file to evaluate: its path, its name relative to the folder, and its class (None: unlabelled)."""

    path: Path
    name: str
    label: int | None


def _images_in(folder: Path) -> list[str]:
    """Image file names directly in ``folder``, sorted (names only: nothing is opened)."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_file() and Path(e.name).suffix.lower() in IMAGE_SUFFIXES)


@dataclass(frozen=True)
class ImageSet:
    """The images of a folder in its layout, the class each class folder maps to, and the folders that map to none."""

    root: Path
    layout: str
    classes: dict[str, int | None] = field(default_factory=dict)  # class folder -> index (None: unmapped)
    count: int = 0  # image files found (each may still turn out unreadable)

    @property
    def labelled(self) -> bool:
        return any(index is not None for index in self.classes.values())

    @property
    def unmapped(self) -> list[str]:
        return [name for name, index in self.classes.items() if index is None]

    def __iter__(self) -> Iterator[Image]:
        if self.layout == FLAT:
            for name in _images_in(self.root):
                yield Image(self.root / name, name, None)
            return
        for folder, index in self.classes.items():
            for name in _images_in(self.root / folder):
                yield Image(self.root / folder / name, f"{folder}/{name}", index)


def open_image_set(root: Path, labels: Path | None = None) -> ImageSet:
    """The layout of ``root`` and its class mapping; a missing folder or one without images is one clear error."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"--images {root} is not a directory")
    mapping = read_labels(labels) if labels is not None else {}
    with os.scandir(root) as entries:
        folders = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
    counts = {name: len(_images_in(root / name)) for name in folders}
    classes = {name: mapping.get(name, class_index(name)) for name in folders if counts[name]}
    if classes:
        return ImageSet(root, CLASS_FOLDERS, classes, sum(counts.values()))
    flat = len(_images_in(root))
    if not flat:
        raise UsageError(f"--images {root} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}), neither directly "
                         "nor in class folders")
    if labels is not None:
        raise UsageError(f"--labels maps class folders, and {root} has none (its images are directly in it)")
    return ImageSet(root, FLAT, {}, flat)
