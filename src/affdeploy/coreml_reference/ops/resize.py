"""Spatial resizing of the last two dims: nearest and bilinear, with MIL's grid definitions, and crop."""

from __future__ import annotations

import numpy as np

from affdeploy.coreml_reference.errors import ProgramError
from affdeploy.coreml_reference.ops._util import check_rank, narrow, scalar, wide
from affdeploy.coreml_reference.registry import register


def _lerp(x: np.ndarray, grid: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of ``x`` along ``axis`` at fractional source positions ``grid``."""
    size = x.shape[axis]
    grid = np.clip(grid, 0, size - 1)
    lo = np.floor(grid).astype(np.int64)
    hi = np.minimum(lo + 1, size - 1)
    frac = (grid - lo).astype(x.dtype)
    shape = [1] * x.ndim
    shape[axis] = -1
    frac = frac.reshape(shape)
    return np.take(x, lo, axis=axis) * (1 - frac) + np.take(x, hi, axis=axis) * frac


def _grid(size_in: int, size_out: int, mode: str) -> np.ndarray:
    """Source positions of the output samples (the sampling modes of resize_bilinear's docs)."""
    i = np.arange(size_out, dtype=np.float64)
    if mode in ("STRICT_ALIGN_CORNERS", "ALIGN_CORNERS"):
        if size_out == 1:
            return np.array([0.0 if mode == "STRICT_ALIGN_CORNERS" else (size_in - 1) / 2])
        return i * (size_in - 1) / (size_out - 1)
    if mode == "DEFAULT":
        return i * (size_in - size_in / size_out) / max(size_out - 1, 1)
    if mode == "OFFSET_CORNERS":
        delta = max(1, size_in - 1) / size_out
        return 0.5 * delta + i * delta
    if mode == "UNALIGN_CORNERS":
        spacing = size_in / size_out
        return i * spacing + 0.5 * spacing - 0.5
    if mode == "LEGACY":
        return i * size_in / size_out
    raise ProgramError(f"unknown bilinear sampling mode {mode!r}")


def _bilinear(x: np.ndarray, out_h: int, out_w: int, mode: str) -> np.ndarray:
    check_rank(np.asarray(x), range(3, 8), "bilinear resize")
    w = wide(x)
    w = _lerp(w, _grid(w.shape[-2], out_h, mode), -2)
    return narrow(_lerp(w, _grid(w.shape[-1], out_w, mode), -1), x)


@register("upsample_bilinear")
def upsample_bilinear(x: np.ndarray, scale_factor_height: float = 1.0, scale_factor_width: float = 1.0,
                      align_corners: bool = True, half_pixel_centers: bool | None = None) -> np.ndarray:
    x = np.asarray(x)
    out_h = int(np.floor(x.shape[-2] * float(scalar(scale_factor_height))))
    out_w = int(np.floor(x.shape[-1] * float(scalar(scale_factor_width))))
    corners = bool(scalar(align_corners))
    half = (not corners) if half_pixel_centers is None else bool(scalar(half_pixel_centers))
    mode = "STRICT_ALIGN_CORNERS" if corners else ("UNALIGN_CORNERS" if half else "LEGACY")
    return _bilinear(x, out_h, out_w, mode)


@register("resize_bilinear")
def resize_bilinear(x: np.ndarray, target_size_height: int = 1, target_size_width: int = 1,
                    sampling_mode: str = "DEFAULT") -> np.ndarray:
    return _bilinear(np.asarray(x), int(scalar(target_size_height)), int(scalar(target_size_width)), str(sampling_mode))


def _nearest(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Each output pixel takes the input pixel at floor(i * in / out) (PyTorch's "nearest")."""
    x = np.asarray(x)
    rows = np.minimum(np.floor(np.arange(out_h) * (x.shape[-2] / out_h)).astype(np.int64), x.shape[-2] - 1)
    cols = np.minimum(np.floor(np.arange(out_w) * (x.shape[-1] / out_w)).astype(np.int64), x.shape[-1] - 1)
    return np.take(np.take(x, rows, axis=-2), cols, axis=-1)


@register("upsample_nearest_neighbor")
def upsample_nearest_neighbor(x: np.ndarray, scale_factor_height: float = 1, scale_factor_width: float = 1) -> np.ndarray:
    x = np.asarray(x)
    return _nearest(x, int(np.floor(x.shape[-2] * float(scalar(scale_factor_height)))),
                    int(np.floor(x.shape[-1] * float(scalar(scale_factor_width)))))


@register("resize_nearest_neighbor")
def resize_nearest_neighbor(x: np.ndarray, target_size_height: int, target_size_width: int) -> np.ndarray:
    return _nearest(np.asarray(x), int(scalar(target_size_height)), int(scalar(target_size_width)))


@register("crop")
def crop(x: np.ndarray, crop_height: np.ndarray, crop_width: np.ndarray) -> np.ndarray:
    """Removes (top, bottom) rows and (left, right) columns."""
    x = np.asarray(x)
    top, bottom = (int(v) for v in np.asarray(crop_height).reshape(-1))
    left, right = (int(v) for v in np.asarray(crop_width).reshape(-1))
    return x[..., top : x.shape[-2] - bottom, left : x.shape[-1] - right]
