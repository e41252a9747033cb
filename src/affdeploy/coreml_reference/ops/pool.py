"""Pooling: max, average (with or without padding in the count) and L2, with MIL's pad types and ceil mode."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from affdeploy.coreml_reference.errors import ProgramError
from affdeploy.coreml_reference.ops._util import ints, narrow, scalar, wide
from affdeploy.coreml_reference.ops.conv import spatial_pads
from affdeploy.coreml_reference.registry import register


def _windows(x: np.ndarray, kernel: list[int], strides: list[int], pads: list[tuple[int, int]], ceil_mode: bool,
             fill: float, reduce: Callable[[np.ndarray, np.ndarray], np.ndarray],
             ceil_fill: float | None = None) -> np.ndarray:
    """``reduce`` folded over every kernel offset of the input padded with ``fill``.

    Windows that ceil mode adds past the padded end see ``ceil_fill`` there (default ``fill``).
    """
    sizes = x.shape[2:]
    out_sizes = []
    extra = []
    for size, k, s, (b, a) in zip(sizes, kernel, strides, pads, strict=True):
        span = size + b + a - k
        out = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (out - 1) * s >= size + b:
            out -= 1  # PyTorch's rule: the last window must start inside the input or left padding
        out_sizes.append(out)
        extra.append(max((out - 1) * s + k - (size + b + a), 0))
    xp = np.pad(x, [(0, 0), (0, 0), *pads], constant_values=fill)
    if any(extra):
        xp = np.pad(xp, [(0, 0), (0, 0), *((0, e) for e in extra)],
                    constant_values=fill if ceil_fill is None else ceil_fill)
    acc = None
    for offset in np.ndindex(*kernel):
        window = tuple(slice(o, o + (n - 1) * s + 1, s) for o, n, s in zip(offset, out_sizes, strides, strict=True))
        part = xp[(slice(None), slice(None), *window)]
        acc = part.copy() if acc is None else reduce(acc, part)
    assert acc is not None
    return acc


def _setup(x: np.ndarray, kernel_sizes: np.ndarray, strides: np.ndarray | None, pad_type: str,
           pad: np.ndarray | None) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    kernel = ints(kernel_sizes)
    if len(kernel) != x.ndim - 2:
        raise ProgramError(f"pool: {len(kernel)} kernel sizes for input rank {x.ndim}")
    s = ints(strides) if strides is not None else [1] * len(kernel)
    return kernel, s, spatial_pads(str(pad_type), pad, x.shape[2:], kernel, s)


@register("max_pool")
def max_pool(x: np.ndarray, kernel_sizes: np.ndarray, strides: np.ndarray | None = None, pad_type: str = "valid",
             pad: np.ndarray | None = None, ceil_mode: bool = False) -> np.ndarray:
    kernel, s, pads = _setup(x, kernel_sizes, strides, pad_type, pad)
    out = _windows(wide(x), kernel, s, pads, bool(scalar(ceil_mode)), -np.inf, np.maximum)
    return narrow(out, x)


@register("avg_pool")
def avg_pool(x: np.ndarray, kernel_sizes: np.ndarray, strides: np.ndarray | None = None, pad_type: str = "valid",
             pad: np.ndarray | None = None, exclude_padding_from_average: bool = False,
             ceil_mode: bool = False) -> np.ndarray:
    kernel, s, pads = _setup(x, kernel_sizes, strides, pad_type, pad)
    ceil = bool(scalar(ceil_mode))
    total = _windows(wide(x), kernel, s, pads, ceil, 0.0, np.add)
    # The divisor counts the input and, unless excluded, the declared padding under each window;
    # never the positions ceil mode adds past the padding (PyTorch's count).
    include = 0.0 if bool(scalar(exclude_padding_from_average)) else 1.0
    ones = np.ones((1, 1, *x.shape[2:]), dtype=total.dtype)
    count = _windows(ones, kernel, s, pads, ceil, include, np.add, ceil_fill=0.0)
    return narrow(total / count, x)


@register("l2_pool")
def l2_pool(x: np.ndarray, kernel_sizes: np.ndarray, strides: np.ndarray | None = None, pad_type: str = "valid",
            pad: np.ndarray | None = None, ceil_mode: bool = False) -> np.ndarray:
    kernel, s, pads = _setup(x, kernel_sizes, strides, pad_type, pad)
    w = wide(x)
    out = _windows(w * w, kernel, s, pads, bool(scalar(ceil_mode)), 0.0, np.add)
    return narrow(np.sqrt(out), x)
