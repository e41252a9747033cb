"""Real photographs for parity, int8 calibration and int8 validation, read from installed packages.

A classifier's logits on noise nearly tie, so noise cannot judge a reduced-precision artifact:
parity and int8 are judged on photographs. Nothing is downloaded and nothing is added to this
package: the photographs are the sample images three dependencies install with themselves
(matplotlib's ``sample_data``, scikit-image's ``data`` folder, scikit-learn's ``datasets/images``),
located through their import specs without importing them.

The set is split by file (:data:`Role`): int8 calibrates on two photographs and is validated on
twenty others, so it is never judged on pictures its observers saw. Parity of fp32/fp16
artifacts uses eight photographs from the whole set, preprocessed as the artifact expects
(shorter side resized, centre square, pixels on the 1/255 grid).
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from affdeploy.errors import UsageError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})
MIN_SIDE = 32
PHOTO_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"})
"""8-bit modes; 16-bit or float images (scientific data, depth maps) would be clipped, not photos."""
INSTALL_HINT = "pip install -e . installs matplotlib, scikit-image and scikit-learn, which ship them"


class Role(StrEnum):
    """What a bundled photograph is used for; calibration and validation never share a file."""

    CALIBRATION = "calibration"
    VALIDATION = "validation"


@dataclass(frozen=True)
class Photo:
    """One bundled photograph: the package that installs it, its path inside it, its role."""

    package: str  # import name (the folder its files live in)
    path: str  # relative to that folder
    role: Role
    parity: bool = False  # one of the photographs fp32/fp16 parity is judged on

    @property
    def name(self) -> str:
        """``package/file``: how records and messages name it."""
        return f"{self.package}/{Path(self.path).name}"


_MPL, _SKI, _SKL = "matplotlib", "skimage", "sklearn"
_CAL, _VAL = Role.CALIBRATION, Role.VALIDATION
BUNDLED: tuple[Photo, ...] = (
    Photo(_MPL, "mpl-data/sample_data/grace_hopper.jpg", _CAL),
    Photo(_SKL, "datasets/images/china.jpg", _CAL, parity=True),
    Photo(_SKI, "data/astronaut.png", _VAL, parity=True),
    Photo(_SKI, "data/chelsea.png", _VAL, parity=True),
    Photo(_SKI, "data/coffee.png", _VAL, parity=True),
    Photo(_SKI, "data/motorcycle_left.png", _VAL, parity=True),
    Photo(_SKI, "data/motorcycle_right.png", _VAL),  # the right view of the same stereo pair
    Photo(_SKI, "data/rocket.jpg", _VAL, parity=True),
    Photo(_SKI, "data/camera.png", _VAL, parity=True),
    Photo(_SKI, "data/hubble_deep_field.jpg", _VAL),
    Photo(_SKI, "data/ihc.png", _VAL),
    Photo(_SKI, "data/retina.jpg", _VAL),
    Photo(_SKI, "data/brick.png", _VAL),
    Photo(_SKI, "data/cell.png", _VAL),
    Photo(_SKI, "data/clock_motion.png", _VAL),
    Photo(_SKI, "data/coins.png", _VAL),
    Photo(_SKI, "data/grass.png", _VAL),
    Photo(_SKI, "data/gravel.png", _VAL),
    Photo(_SKI, "data/moon.png", _VAL),
    Photo(_SKI, "data/page.png", _VAL),
    Photo(_SKI, "data/text.png", _VAL),
    Photo(_SKL, "datasets/images/flower.jpg", _VAL, parity=True),
)
"""22 photographs (12 colour, 10 greyscale); synthetic images, drawings and logos these packages also
ship (a chessboard, a phantom, colour charts, clip art) are left out."""


def _package_dir(package: str) -> Path | None:
    """Where ``package`` is installed, found without importing it (importing scikit-image takes seconds)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


def photo_path(photo: Photo) -> Path:
    """The installed file of ``photo``; a missing one is one clear error (a broken installation)."""
    folder = _package_dir(photo.package)
    path = folder / photo.path if folder else None
    if path is None or not path.is_file():
        raise UsageError(f"the bundled photograph {photo.name} is missing ({INSTALL_HINT})")
    return path


def bundled(role: Role | None = None, *, parity: bool = False) -> list[tuple[str, Path]]:
    """(name, path) of the bundled photographs with ``role`` (all when None), or only the parity ones."""
    chosen = [p for p in BUNDLED if (role is None or p.role == role) and (p.parity or not parity)]
    return [(p.name, photo_path(p)) for p in chosen]


def read_rgb(path: Path, what: str = "image") -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] (the range AFFNet takes); greyscale and palette images become RGB.

    Raises UsageError with what is wrong (not an image, too small, a 16-bit or float image, too large).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # Pillow only warns up to twice its limit, then decodes gigabytes of floats
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            if image.mode not in PHOTO_MODES:
                raise UsageError(f"{what} {path} is a {image.mode} image; 8-bit photos are expected")
            if min(image.size) < MIN_SIDE:
                raise UsageError(f"{what} {path} is {image.size[0]}x{image.size[1]}; photos of at least "
                                 f"{MIN_SIDE} px a side are expected")
            return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        width, height = _header_size(path)
        raise UsageError(f"{what} {path} is {width}x{height} ({width * height:,} pixels), beyond Pillow's limit of "
                         f"{Image.MAX_IMAGE_PIXELS:,} pixels; resize it first") from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        raise UsageError(f"{what} {path} cannot be read as an image") from None


def _header_size(path: Path) -> tuple[int, int]:
    """Width and height of an image past Pillow's pixel limit, read from its header with the limit lifted.

    Opening reads only the header (nothing is decoded); the limit is restored before anything else runs.
    """
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as image:
            return image.size
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def resized(rgb: np.ndarray, size: int) -> np.ndarray:
    """(1, 3, size, size): antialiased square resize of an (H, W, 3) crop."""
    import torch
    import torch.nn.functional as F

    chw = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
    out = F.interpolate(chw, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.clamp(0.0, 1.0).numpy().astype(np.float32)


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """The preprocessing of the manifest: shorter side to ``size``, centre square, on the 1/255 grid.

    Rounded to whole pixel values, so an image-input artifact (Core ML) is fed exactly these numbers.
    """
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return on_pixel_grid(resized(rgb[top : top + side, left : left + side], size))


def on_pixel_grid(x: np.ndarray) -> np.ndarray:
    """Round to multiples of 1/255: the values an 8-bit image scaled by 1/255 can take."""
    return (np.round(x * 255.0) / 255.0).astype(np.float32)


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
        crops.append(on_pixel_grid(resized(crop[:, ::-1] if i % 2 else crop, size)))
    return crops


def image_files(directory: Path, option: str) -> list[Path]:
    """Image files directly in ``directory``, sorted by name; a missing or empty folder is a usage error."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"{option} {directory} is not a directory")
    paths = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise UsageError(f"{option} {directory} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return paths
