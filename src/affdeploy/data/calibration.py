"""Images for int8 calibration and for judging an int8 artifact against fp32, split by file.

Static int8 needs activation ranges from realistic inputs (noise gives other ranges than photos),
and its accuracy must be judged on pictures the observers never saw: not other crops of the same
photographs, other photographs. So the split is by file, always:

- default: the bundled photographs (:mod:`affdeploy.data.photos`), 2 for calibration (16 random
  crops) and 20 others for validation (each photo's centre crop and one mirrored random crop);
- ``--calibration DIR``: the folder's images, split by file in a fixed order (a hash of each file
  name): :data:`MIN_VALIDATION` (or half, when the folder holds more) validate, the rest calibrate.

The manifest records where they came from, which files went where, and a sha256 over the files,
so ``verify`` rebuilds the same sets or says they changed.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affdeploy.data.photos import Role, bundled, center_crop, image_files, random_crops, read_rgb
from affdeploy.errors import UsageError

DEFAULT_COUNT = 16  # calibration crops of the bundled photographs
MIN_VALIDATION = 20  # validation photographs, never seen by the observers
MIN_CALIBRATION = 4  # calibration photographs of a user folder
CALIBRATION_SEED, VALIDATION_SEED = 1, 2
SHIPPED = "shipped"
OPTION = "--calibration"


@dataclass(frozen=True)
class CalibrationSet:
    """Calibration inputs, validation inputs from other files, and where they came from; (1, 3, S, S) float32."""

    calibration: list[np.ndarray]
    validation: list[np.ndarray]
    validation_names: list[str]  # one per validation input: file name, ``(mirrored crop)`` marked
    source: str  # SHIPPED or the folder's absolute path
    calibration_files: tuple[str, ...]
    validation_files: tuple[str, ...]
    sha256: str  # over every file's name and bytes

    def describe(self) -> str:
        where = "the bundled photographs" if self.source == SHIPPED else self.source
        return (f"{len(self.calibration)} calibration inputs from {len(self.calibration_files)} photographs, "
                f"{len(self.validation)} validation inputs from {len(self.validation_files)} other photographs "
                f"({where})")

    def record(self) -> dict[str, Any]:
        """What the manifest keeps: enough for ``verify`` to rebuild the sets and notice a change."""
        return {"source": self.source, "images": len(self.calibration_files) + len(self.validation_files),
                "calibration_files": list(self.calibration_files), "validation_files": list(self.validation_files),
                "sha256": self.sha256, "calibration_inputs": len(self.calibration),
                "validation_inputs": len(self.validation), "split": "by file"}


def files_sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def split_by_file(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """(calibration, validation) files of a user folder: disjoint, in an order fixed by the names.

    Files are ordered by a hash of their name (not alphabetically, which would put ``cat_*`` in one
    set and ``dog_*`` in the other); half validate, at least :data:`MIN_VALIDATION`.
    """
    shuffled = sorted(paths, key=lambda p: hashlib.sha256(p.name.encode()).hexdigest())
    validate = max(MIN_VALIDATION, len(paths) // 2)
    if len(paths) - validate < MIN_CALIBRATION:
        images = f"{len(paths)} image{'s' * (len(paths) != 1)}"
        raise UsageError(f"{OPTION} {paths[0].parent} holds {images}; int8 needs at least "
                         f"{MIN_VALIDATION + MIN_CALIBRATION}: {MIN_CALIBRATION} or more to calibrate on and "
                         f"{MIN_VALIDATION} others to validate on (the two sets never share a file)")
    return sorted(shuffled[validate:]), sorted(shuffled[:validate])


def _bundled_files() -> list[Path]:
    return [path for _, path in bundled(Role.CALIBRATION) + bundled(Role.VALIDATION)]


def sources_sha256(directory: Path | None = None) -> str:
    """The sha256 a :class:`CalibrationSet` records, without decoding an image (cache keys need it cheaply)."""
    return files_sha256(image_files(Path(directory), OPTION) if directory is not None else _bundled_files())


def load_calibration(image_size: int, directory: Path | None = None, count: int = DEFAULT_COUNT) -> CalibrationSet:
    """The calibration and validation inputs for ``image_size``: from ``directory``, or the bundled photographs."""
    if directory is None:
        return _shipped(image_size, count)
    paths = image_files(Path(directory), OPTION)
    calibrate, validate = split_by_file(paths)
    photos = [read_rgb(p, "calibration image") for p in validate]
    return CalibrationSet([center_crop(read_rgb(p, "calibration image"), image_size) for p in calibrate],
                          [center_crop(p, image_size) for p in photos], [p.name for p in validate],
                          str(Path(directory).resolve()), tuple(p.name for p in calibrate),
                          tuple(p.name for p in validate), files_sha256(paths))


@functools.lru_cache(maxsize=4)
def _shipped(image_size: int, count: int) -> CalibrationSet:
    """The default sets (cached: an export and its parity check both need them; a user folder may change)."""
    calibrate, validate = bundled(Role.CALIBRATION), bundled(Role.VALIDATION)
    photos = [read_rgb(path) for _, path in validate]
    centre = [center_crop(p, image_size) for p in photos]
    mirrored = [random_crops([p], 2, image_size, VALIDATION_SEED + i)[1] for i, p in enumerate(photos)]
    names = [n for n, _ in validate] + [f"{n} (mirrored crop)" for n, _ in validate]
    return CalibrationSet(random_crops([read_rgb(p) for _, p in calibrate], count, image_size, CALIBRATION_SEED),
                          centre + mirrored, names, SHIPPED, tuple(n for n, _ in calibrate),
                          tuple(n for n, _ in validate), files_sha256(_bundled_files()))
