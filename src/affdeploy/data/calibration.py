"""Images for int8 calibration and for checking an int8 artifact against fp32.

Static int8 needs activation ranges from realistic inputs: random noise gives other ranges than
photos, and a quantized model tuned on noise misclassifies photos. ``--calibration DIR`` takes the
user's own images. Without it, crops of the photographs matplotlib (a dependency) ships as sample
data are used: real pictures, nothing downloaded, nothing added to this package. Calibration and
validation crops are drawn with different seeds, so parity is measured on images the observers
did not see. The manifest records where they came from (``shipped`` or the folder), how many, and
a sha256 over the files, so ``verify`` rebuilds the same sets or says they changed.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affdeploy.errors import UsageError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})
DEFAULT_COUNT = 16
VALIDATION_COUNT = 32  # top-1 agreement in steps of 1/32
SAMPLE_PHOTOS = ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png")  # matplotlib/mpl-data/sample_data
CALIBRATION_SEED, VALIDATION_SEED = 1, 2
SHIPPED = "shipped"
MIN_SIDE = 32
PHOTO_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"})
"""8-bit modes; 16-bit or float images (scientific data, depth maps) would be clipped, not photos."""


def _rgb(path: Path) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1], the range AFFNet takes (affdeploy.preprocessing)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode not in PHOTO_MODES:
                raise UsageError(f"calibration image {path} is a {image.mode} image; calibration takes 8-bit photos")
            if min(image.size) < MIN_SIDE:
                raise UsageError(f"calibration image {path} is {image.size[0]}x{image.size[1]}; "
                                 f"calibration takes photos of at least {MIN_SIDE} px a side")
            return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
        raise UsageError(f"calibration image {path} cannot be read as an image") from None


def _resized(rgb: np.ndarray, size: int) -> np.ndarray:
    """(1, 3, size, size): antialiased square resize of an (H, W, 3) crop."""
    import torch
    import torch.nn.functional as F

    chw = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
    out = F.interpolate(chw, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.clamp(0.0, 1.0).numpy().astype(np.float32)


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """The preprocessing of the manifest: shorter side to ``size``, centre square."""
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return _resized(rgb[top : top + side, left : left + side], size)


def random_crops(photos: list[np.ndarray], count: int, size: int, seed: int) -> list[np.ndarray]:
    """``count`` crops covering 30-100% of a photo's shorter side, every other one mirrored."""
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(count):
        rgb = photos[i % len(photos)]
        h, w = rgb.shape[:2]
        side = max(8, int(min(h, w) * rng.uniform(0.3, 1.0)))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = rgb[top : top + side, left : left + side]
        crops.append(_resized(crop[:, ::-1] if i % 2 else crop, size))
    return crops


def sample_photo_paths() -> list[Path]:
    """The photographs matplotlib installs with itself."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "sample_data"
    return [folder / name for name in SAMPLE_PHOTOS if (folder / name).is_file()]


def image_paths(directory: Path) -> list[Path]:
    """Image files directly in ``directory``, sorted; a missing or empty folder is a usage error."""
    if not directory.is_dir():
        raise UsageError(f"--calibration {directory} is not a directory")
    paths = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise UsageError(f"--calibration {directory} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return paths


@dataclass(frozen=True)
class CalibrationSet:
    """Calibration inputs, validation inputs (other crops), and where they came from, each (1, 3, S, S) float32."""

    calibration: list[np.ndarray]
    validation: list[np.ndarray]
    source: str  # SHIPPED or the folder's absolute path
    files: tuple[Path, ...]
    sha256: str  # over the files' names and bytes

    def describe(self) -> str:
        where = "matplotlib's sample photos" if self.source == SHIPPED else self.source
        return f"{len(self.files)} images ({where})"

    def record(self) -> dict[str, Any]:
        """What the manifest keeps: enough for ``verify`` to rebuild the sets and notice a change."""
        return {"source": self.source, "images": len(self.files), "files": [p.name for p in self.files],
                "sha256": self.sha256, "calibration_inputs": len(self.calibration),
                "validation_inputs": len(self.validation)}


def files_sha256(paths: tuple[Path, ...]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def load_calibration(image_size: int, directory: Path | None = None, count: int = DEFAULT_COUNT,
                     validation_count: int = VALIDATION_COUNT) -> CalibrationSet:
    """The calibration and validation inputs for ``image_size``: from ``directory``, or the shipped photos.

    A user folder gives one centre crop per image for calibration and random crops of the same
    images for validation; the default gives disjoint random crops of matplotlib's photographs.
    """
    if directory is not None:
        paths = tuple(image_paths(Path(directory)))
        photos = [_rgb(p) for p in paths]
        return CalibrationSet([center_crop(p, image_size) for p in photos],
                              random_crops(photos, validation_count, image_size, VALIDATION_SEED),
                              str(Path(directory).resolve()), paths, files_sha256(paths))
    return _shipped(image_size, count, validation_count)


@functools.lru_cache(maxsize=4)
def _shipped(image_size: int, count: int, validation_count: int) -> CalibrationSet:
    """The default sets (cached: an export and its parity check both need them; a user folder may change)."""
    paths = tuple(sample_photo_paths())
    if not paths:
        raise UsageError("matplotlib's sample photos are missing; pass --calibration DIR with your own images")
    photos = [_rgb(p) for p in paths]
    return CalibrationSet(random_crops(photos, count, image_size, CALIBRATION_SEED),
                          random_crops(photos, validation_count, image_size, VALIDATION_SEED), SHIPPED, paths,
                          files_sha256(paths))


def calibration_sets(image_size: int, directory: Path | None = None,
                     count: int = DEFAULT_COUNT) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """(calibration inputs, validation inputs, where they came from) of :func:`load_calibration`."""
    found = load_calibration(image_size, Path(directory) if directory is not None else None, count, count)
    return found.calibration, found.validation, found.describe()
