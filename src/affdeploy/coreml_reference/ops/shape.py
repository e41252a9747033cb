"""Tensor transformations that move values without arithmetic: reshape, transpose, concat, pad..."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from affdeploy.coreml_reference.errors import ProgramError
from affdeploy.coreml_reference.ops._util import axes_of, ints, narrow, scalar, wide
from affdeploy.coreml_reference.registry import register


@register("reshape")
def reshape(x: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """0 copies the input dim aligned from the right (iOS 17; the same as by position when the ranks agree),
    or 1 where there is none; -1 is inferred."""
    x = np.asarray(x)
    target = ints(shape)
    offset = x.ndim - len(target)
    dims = [(x.shape[i + offset] if i + offset >= 0 else 1) if d == 0 else d for i, d in enumerate(target)]
    try:
        return x.reshape(dims)
    except ValueError as exc:
        raise ProgramError(f"reshape of {x.shape} to {target}: {exc}") from None


@register("transpose")
def transpose(x: np.ndarray, perm: np.ndarray) -> np.ndarray:
    return np.transpose(x, ints(perm))


@register("squeeze")
def squeeze(x: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
    x = np.asarray(x)
    found = axes_of(axes, x.ndim)
    return np.squeeze(x) if found is None else np.squeeze(x, axis=found)


@register("expand_dims")
def expand_dims(x: np.ndarray, axes: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    out_rank = x.ndim + len(ints(axes))
    return np.expand_dims(x, tuple(a % out_rank for a in ints(axes)))


@register("flatten2d")
def flatten2d(x: np.ndarray, axis: int = 1) -> np.ndarray:
    x = np.asarray(x)
    axis = int(scalar(axis)) % (x.ndim + 1)
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


@register("concat", variadic=("values",))
def concat(values: Sequence[np.ndarray], axis: int, interleave: bool = False) -> np.ndarray:
    """Scalars join as 1-element vectors (coremltools builds dynamic shapes that way)."""
    axis = int(scalar(axis))
    values = [np.atleast_1d(np.asarray(v)) for v in values]
    if not bool(scalar(interleave)):
        return np.concatenate(values, axis=axis)
    stacked = np.stack(values, axis=axis % values[0].ndim + 1)
    shape = list(values[0].shape)
    shape[axis] *= len(values)
    return stacked.reshape(shape)


@register("stack", variadic=("values",))
def stack(values: Sequence[np.ndarray], axis: int) -> np.ndarray:
    return np.stack([np.asarray(v) for v in values], axis=int(scalar(axis)))


@register("split")
def split(x: np.ndarray, axis: int, num_splits: int | None = None,
          split_sizes: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    x = np.asarray(x)
    axis = int(scalar(axis))
    if split_sizes is not None:
        bounds = np.cumsum(ints(split_sizes))[:-1]
        return tuple(np.split(x, bounds, axis=axis))
    if num_splits is None:
        raise ProgramError("split needs num_splits or split_sizes")
    return tuple(np.split(x, int(scalar(num_splits)), axis=axis))


@register("tile")
def tile(x: np.ndarray, reps: np.ndarray) -> np.ndarray:
    return np.tile(x, ints(reps))


@register("reverse")
def reverse(x: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
    x = np.asarray(x)
    return np.flip(x, axis=axes_of(axes, x.ndim))


@register("pad")
def pad(x: np.ndarray, pad: np.ndarray, mode: str = "constant", constant_val: float = 0.0) -> np.ndarray:
    """``pad`` holds (before, after) pairs for the last len(pad)/2 dims, outermost first."""
    x = np.asarray(x)
    values = ints(pad)
    n = len(values) // 2
    widths = [(0, 0)] * (x.ndim - n) + [(values[2 * i], values[2 * i + 1]) for i in range(n)]
    if mode == "constant":
        return narrow(np.pad(wide(x), widths, constant_values=scalar(constant_val)), x)
    if mode in ("reflect", "replicate"):
        return np.pad(x, widths, mode="reflect" if mode == "reflect" else "edge")
    raise ProgramError(f"pad: unknown mode {mode!r}")


def _blocks_to_depth(x: np.ndarray, b: int) -> np.ndarray:
    n, c, h, w = x.shape
    return x.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4).reshape(n, c * b * b, h // b, w // b)


@register("space_to_depth")
def space_to_depth(x: np.ndarray, block_size: int) -> np.ndarray:
    return _blocks_to_depth(np.asarray(x), int(scalar(block_size)))


@register("depth_to_space")
def depth_to_space(x: np.ndarray, block_size: int) -> np.ndarray:
    x = np.asarray(x)
    b = int(scalar(block_size))
    n, c, h, w = x.shape
    return x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2).reshape(n, c // (b * b), h * b, w * b)


@register("pixel_shuffle")
def pixel_shuffle(x: np.ndarray, upscale_factor: int) -> np.ndarray:
    """Channel-major (PyTorch) order: channel c*r*r + i*r + j goes to pixel (i, j) of block c."""
    x = np.asarray(x)
    r = int(scalar(upscale_factor))
    n, c, h, w = x.shape
    return x.reshape(n, c // (r * r), r, r, h, w).transpose(0, 1, 4, 2, 5, 3).reshape(n, c // (r * r), h * r, w * r)


@register("pixel_unshuffle")
def pixel_unshuffle(x: np.ndarray, downscale_factor: int) -> np.ndarray:
    x = np.asarray(x)
    r = int(scalar(downscale_factor))
    n, c, h, w = x.shape
    return x.reshape(n, c, h // r, r, w // r, r).transpose(0, 1, 3, 5, 2, 4).reshape(n, c * r * r, h // r, w // r)


@register("shape")
def shape(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.shape(x), dtype=np.int32)


@register("range_1d")
def range_1d(end: np.ndarray, start: np.ndarray, step: np.ndarray) -> np.ndarray:
    start_v = np.asarray(start)
    return np.arange(scalar(start), scalar(end), scalar(step)).astype(start_v.dtype)


@register("cumsum")
def cumsum(x: np.ndarray, axis: int = 0, exclusive: bool = False, reverse: bool = False) -> np.ndarray:
    x = np.asarray(x)
    axis = int(scalar(axis))
    w = np.flip(wide(x), axis) if bool(scalar(reverse)) else wide(x)
    out = np.cumsum(w, axis=axis)
    if bool(scalar(exclusive)):
        out = out - w
    return narrow(np.flip(out, axis) if bool(scalar(reverse)) else out, x)


@register("band_part")
def band_part(x: np.ndarray, lower: int = -1, upper: int = -1) -> np.ndarray:
    """Keeps entries with i - j <= lower and j - i <= upper in the last two dims (negative: unbounded)."""
    x = np.asarray(x)
    rows, cols = np.indices(x.shape[-2:])
    low, up = int(scalar(lower)), int(scalar(upper))
    keep = ((low < 0) | (rows - cols <= low)) & ((up < 0) | (cols - rows <= up))
    return np.where(keep, x, np.zeros((), dtype=x.dtype))


@register("one_hot")
def one_hot(indices: np.ndarray, one_hot_vector_size: int, axis: int = -1, on_value: float = 1.0,
            off_value: float = 0.0) -> np.ndarray:
    idx = np.asarray(indices)
    depth = int(scalar(one_hot_vector_size))
    on, off = np.asarray(on_value), np.asarray(off_value)
    hot = np.expand_dims(idx, -1) == np.arange(depth)
    out = np.where(hot, on, off).astype(on.dtype)
    return np.moveaxis(out, -1, int(scalar(axis)) % out.ndim)
