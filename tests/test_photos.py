"""The photographs parity and int8 are judged on, and the user's own parity inputs (--parity-images, --parity-inputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from affdeploy.data.calibration import MIN_VALIDATION
from affdeploy.data.inputs import (
    BUNDLED,
    MAX_PARITY_IMAGES,
    NOISE_SEEDS,
    TensorSignature,
    image_parity_inputs,
    npz_parity_inputs,
)
from affdeploy.data.photos import BUNDLED as PHOTOS
from affdeploy.data.photos import Role, bundled, read_rgb
from affdeploy.errors import UsageError

SIZE = 32


def test_the_bundled_photographs_are_installed_real_and_split_by_file() -> None:
    everything = bundled()
    assert len(everything) == len(PHOTOS) >= 22 and all(path.is_file() for _, path in everything)
    calibration, validation = bundled(Role.CALIBRATION), bundled(Role.VALIDATION)
    assert len(validation) >= MIN_VALIDATION and not {n for n, _ in calibration} & {n for n, _ in validation}
    assert {name.split("/")[0] for name, _ in everything} == {"matplotlib", "skimage", "sklearn"}
    for _, path in everything:
        rgb = read_rgb(path)
        assert rgb.ndim == 3 and rgb.shape[2] == 3 and min(rgb.shape[:2]) >= 128
        assert rgb.std() > 0.03  # a picture, not a flat or synthetic card


def test_image_parity_inputs_are_photographs_on_the_pixel_grid_plus_noise() -> None:
    found = image_parity_inputs(SIZE)
    photos = bundled(parity=True)
    assert found.source == BUNDLED and len(found.inputs) == len(photos) + len(NOISE_SEEDS) == len(found.names)
    assert found.names[: len(photos)] == [name for name, _ in photos] and found.names[-1].startswith("noise")
    for x in found.inputs:
        assert x.shape == (1, 3, SIZE, SIZE) and x.dtype == np.float32
        pixels = x.astype(np.float64) * 255
        assert np.abs(pixels - np.round(pixels)).max() < 1e-4  # whole 8-bit values: an image input sees these
    assert f"{len(photos)} bundled photographs" in found.description


def test_a_parity_images_folder_is_capped_hashed_and_checked(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(MAX_PARITY_IMAGES + 3):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(tmp_path / f"{i:03d}.png")
    found = image_parity_inputs(SIZE, tmp_path)
    assert len(found.inputs) == MAX_PARITY_IMAGES + len(NOISE_SEEDS) and found.names[0] == "000.png"
    assert found.source == str(tmp_path.resolve()) and found.sha256 and len(found.sha256) == 64
    Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "000.png")
    assert image_parity_inputs(SIZE, tmp_path).sha256 != found.sha256  # verify notices a changed folder
    (tmp_path / "001.png").write_bytes(b"not a png")
    with pytest.raises(UsageError, match="001.png cannot be read as an image"):
        image_parity_inputs(SIZE, tmp_path)


SIGNATURE = TensorSignature(("x", "mask"), ((2, 3), ("s0", 4)), ("float32", "bool"))


def test_npz_parity_inputs_by_name_positionally_and_batched(tmp_path: Path) -> None:
    path = tmp_path / "inputs.npz"
    np.savez(path, x=np.ones((5, 2, 3), np.float32), mask=np.zeros((5, 7, 4), bool))
    found = npz_parity_inputs(path, SIGNATURE)
    assert len(found.inputs) == 5 and found.inputs[0][0].shape == (2, 3) and found.inputs[0][1].shape == (7, 4)
    np.savez(path, np.ones((2, 3), np.float32), np.zeros((1, 4), bool))  # arr_0, arr_1: one set
    (single,) = npz_parity_inputs(path, SIGNATURE).inputs
    assert single[0].shape == (2, 3) and single[1].dtype == bool


@pytest.mark.parametrize(("arrays", "message"), [
    ({"y": np.ones((2, 3), np.float32)}, "has y; the model takes x, mask"),
    ({"x": np.ones((2, 3), np.float64), "mask": np.zeros((1, 4), bool)}, "x is float64; the model's input is float32"),
    ({"x": np.ones((3, 3), np.float32), "mask": np.zeros((1, 4), bool)}, r"x has shape \(3, 3\)"),
    ({"x": np.ones((2, 2, 3), np.float32), "mask": np.zeros((3, 1, 4), bool)}, "different numbers of input sets"),
])
def test_npz_parity_inputs_errors_say_what_to_change(tmp_path: Path, arrays: dict[str, np.ndarray], message: str) -> None:
    path = tmp_path / "inputs.npz"
    np.savez(path, **arrays)
    with pytest.raises(UsageError, match=message):
        npz_parity_inputs(path, SIGNATURE)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(UsageError, match="not an .npz file"):
        npz_parity_inputs(tmp_path / "junk.npz", SIGNATURE)
