"""The inputs an artifact's parity is judged on, with their names and where they came from.

Image models (AFFNet) are judged on photographs preprocessed exactly as the artifact expects (the
bundled set of :mod:`affdeploy.data.photos`, or ``--parity-images DIR``); two seeded noise images
ride along as extra inputs, which the tie rule keeps from judging what noise cannot decide.
Tensor models (a ``.pt2`` or factory) are judged on their example inputs plus seeded random
inputs of the same shapes, or on the user's own arrays (``--parity-inputs file.npz``).
"""

from __future__ import annotations

import functools
import hashlib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affdeploy.data.photos import bundled, center_crop, image_files, on_pixel_grid, read_rgb
from affdeploy.errors import UsageError
from affdeploy.fsutil import sha256_path

BUNDLED = "bundled"
SEEDED = "seeded"
CALIBRATION_SPLIT = "calibration split"  # int8: the validation files of the calibration set
NOISE_SEEDS = (0, 1)
MAX_PARITY_IMAGES = 32
"""A ``--parity-images`` folder contributes its first 32 images by name (parity runs every one through
every artifact; the Core ML reference interpreter takes about a second per image at 256 px)."""
MAX_PARITY_SETS = 16

InputSet = np.ndarray | tuple[np.ndarray, ...]
"""One set of model inputs: an array for a single-input model, a tuple for several."""


@dataclass(frozen=True)
class ParityInputs:
    """Inputs for parity, one name per input, and where they came from (recorded in the manifest)."""

    inputs: list[Any]  # list[InputSet]
    names: list[str]
    source: str  # BUNDLED, SEEDED, or the folder's / file's absolute path
    description: str  # "8 photographs + 2 seeded noise images", as records state it
    sha256: str | None = None  # of the user's folder or file


def noise_images(image_size: int) -> list[np.ndarray]:
    """Seeded uniform noise on the 1/255 pixel grid: extra inputs, never the judge of a classifier."""
    return [on_pixel_grid(np.random.default_rng(seed).random((1, 3, image_size, image_size), dtype=np.float32))
            for seed in NOISE_SEEDS]


def image_parity_inputs(image_size: int, directory: Path | None = None) -> ParityInputs:
    """Photographs (bundled, or ``directory``'s first :data:`MAX_PARITY_IMAGES`) plus the noise images."""
    if directory is None:
        return _bundled(image_size)
    paths = image_files(Path(directory), "--parity-images")[:MAX_PARITY_IMAGES]
    photos = [center_crop(read_rgb(p, "parity image"), image_size) for p in paths]
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    where = str(Path(directory).resolve())
    return ParityInputs(photos + noise_images(image_size), [p.name for p in paths] + _noise_names(), where,
                        f"{len(photos)} photographs from {where} + {len(NOISE_SEEDS)} seeded noise images",
                        digest.hexdigest())


@functools.lru_cache(maxsize=4)
def _bundled(image_size: int) -> ParityInputs:
    photos = bundled(parity=True)
    return ParityInputs([center_crop(read_rgb(path), image_size) for _, path in photos] + noise_images(image_size),
                        [name for name, _ in photos] + _noise_names(), BUNDLED,
                        f"{len(photos)} bundled photographs + {len(NOISE_SEEDS)} seeded noise images")


def _noise_names() -> list[str]:
    return [f"noise (seed {seed})" for seed in NOISE_SEEDS]


@dataclass(frozen=True)
class TensorSignature:
    """What a user model takes: each input's name, shape (a str for a dynamic dim) and dtype."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int | str, ...], ...]
    dtypes: tuple[str, ...]


def npz_parity_inputs(path: Path, signature: TensorSignature, option: str = "--parity-inputs") -> ParityInputs:
    """The user's arrays from ``--parity-inputs file.npz``, checked against the model's inputs.

    Keys are the model's input names (or ``arr_0``, ``arr_1``... in input order, as ``np.savez``
    writes positional arrays); each array has the input's shape (one set) or one more leading axis
    (that many sets, at most :data:`MAX_PARITY_SETS`).
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{option} {path} is not a file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        raise UsageError(f"{option} {path} is not an .npz file written by numpy.savez") from None
    positional = [f"arr_{i}" for i in range(len(signature.names))]
    keys = list(signature.names) if set(signature.names) <= arrays.keys() else positional
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise UsageError(f"{option} {path} has {', '.join(sorted(arrays)) or 'no arrays'}; the model takes "
                         f"{', '.join(signature.names)} (save them by those names, or positionally as arr_0...)")
    counts = set()
    for key, shape, dtype in zip(keys, signature.shapes, signature.dtypes, strict=True):
        array = arrays[key]
        if str(array.dtype) != dtype:
            raise UsageError(f"{option} {key} is {array.dtype}; the model's input is {dtype}")
        counts.add(_sets_in(array.shape, shape, f"{option} {key}"))
    if len(counts) != 1:
        raise UsageError(f"{option} {path}: the arrays hold different numbers of input sets")
    sets = counts.pop()
    if sets > MAX_PARITY_SETS:
        raise UsageError(f"{option} {path} holds {sets} input sets; at most {MAX_PARITY_SETS} are checked")
    batched = [arrays[k] if arrays[k].ndim > len(s) else arrays[k][None] for k, s in zip(keys, signature.shapes,
                                                                                          strict=True)]
    inputs: list[Any] = [tuple(np.ascontiguousarray(b[i]) for b in batched) for i in range(sets)]
    if len(keys) == 1:
        inputs = [x[0] for x in inputs]
    where = str(path.resolve())
    return ParityInputs(inputs, [f"{path.name}[{i}]" for i in range(sets)], where, f"{sets} input sets from {where}",
                        sha256_path(path))


def _sets_in(actual: Sequence[int], expected: Sequence[int | str], key: str) -> int:
    """How many input sets an array of shape ``actual`` holds for an input of shape ``expected``."""
    def fits(shape: Sequence[int]) -> bool:
        return len(shape) == len(expected) and all(isinstance(e, str) or a == e for a, e in zip(shape, expected,
                                                                                              strict=True))
    if fits(actual):
        return 1
    if len(actual) == len(expected) + 1 and fits(actual[1:]) and actual[0] > 0:
        return int(actual[0])
    raise UsageError(f"{key} has shape {tuple(actual)}; the model's input is "
                     f"{tuple(expected)} (or that shape with a leading axis of input sets)")


@dataclass(frozen=True)
class Checkset:
    """What an artifact is checked on: the inputs, their names, PyTorch's outputs for them, and where they came from."""

    inputs: list[Any]
    references: list[np.ndarray]
    names: list[str]
    description: str
    source: str  # BUNDLED, SEEDED, "calibration split" or the user's folder / file
    sha256: str | None = None

    @classmethod
    def of(cls, chosen: ParityInputs, references: list[np.ndarray]) -> Checkset:
        return cls(chosen.inputs, references, chosen.names, chosen.description, chosen.source, chosen.sha256)

    def record(self) -> dict[str, Any]:
        """The manifest's ``parity_inputs``: what ``verify`` needs to rebuild the same inputs."""
        return {"source": self.source, "sha256": self.sha256, "count": len(self.inputs), "names": list(self.names),
                "description": self.description}

    def user_path(self) -> Path | None:
        """The user's folder or file the inputs came from (None: bundled, seeded or the calibration split)."""
        return None if self.source in (BUNDLED, SEEDED, CALIBRATION_SPLIT) else Path(self.source)
