"""Convolutions as one batched matrix product per kernel position (no im2col buffer).

For every kernel offset the strided input view is multiplied by that offset's weight slice and
accumulated: a 1x1 convolution is a single GEMM, a KxK one K*K GEMMs over the whole image, and a
depthwise one K*K broadcast multiply-adds, so no path loops in Python over pixels or channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from affdeploy.coreml_reference.errors import ProgramError
from affdeploy.coreml_reference.ops._util import ints, narrow, scalar, wide
from affdeploy.coreml_reference.registry import register


def spatial_pads(pad_type: str, pad: np.ndarray | None, sizes: Sequence[int], kernel: Sequence[int],
                 strides: Sequence[int]) -> list[tuple[int, int]]:
    """(before, after) padding per spatial dim for the MIL pad types valid/custom/same/same_lower.

    ``kernel`` is the dilated kernel extent. ``same`` puts an odd extra row/column at the end,
    ``same_lower`` at the start.
    """
    n = len(sizes)
    if pad_type == "valid":
        return [(0, 0)] * n
    if pad_type == "custom":
        values = ints(pad) if pad is not None else [0] * (2 * n)
        if len(values) != 2 * n:
            raise ProgramError(f"pad has {len(values)} values for {n} spatial dims")
        return [(values[2 * i], values[2 * i + 1]) for i in range(n)]
    if pad_type in ("same", "same_lower"):
        pads = []
        for size, k, s in zip(sizes, kernel, strides, strict=True):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            small, large = total // 2, total - total // 2
            pads.append((small, large) if pad_type == "same" else (large, small))
        return pads
    raise ProgramError(f"unknown pad_type {pad_type!r}")


def _conv_nd(x: np.ndarray, w: np.ndarray, strides: list[int], dilations: list[int],
             pads: list[tuple[int, int]], groups: int) -> np.ndarray:
    n, c = x.shape[:2]
    c_out, c_group = w.shape[:2]
    kernel = w.shape[2:]
    if c != c_group * groups or c_out % groups:
        raise ProgramError(f"conv: {c} input channels, weight {w.shape}, groups {groups} do not fit")
    xp = np.pad(x, [(0, 0), (0, 0), *pads]) if any(p != (0, 0) for p in pads) else x
    out_sizes = [(xp.shape[2 + i] - (kernel[i] - 1) * dilations[i] - 1) // strides[i] + 1 for i in range(len(kernel))]
    if min(out_sizes) <= 0:
        raise ProgramError(f"conv: kernel {kernel} larger than padded input {xp.shape[2:]}")
    depthwise = c_group == 1 and groups == c
    mult = c_out // groups
    pixels = int(np.prod(out_sizes))
    acc = np.zeros((n, c, mult, *out_sizes) if depthwise else (n, groups, mult, pixels), dtype=x.dtype)
    for offset in np.ndindex(*kernel):
        window = tuple(slice(k * d, k * d + (o - 1) * s + 1, s)
                       for k, d, o, s in zip(offset, dilations, out_sizes, strides, strict=True))
        xs = xp[(slice(None), slice(None), *window)]
        wk = w[(slice(None), slice(None), *offset)]
        if depthwise:
            acc += xs[:, :, None] * wk.reshape((c, mult) + (1,) * len(kernel))
        else:
            acc += np.matmul(wk.reshape(groups, mult, c_group), xs.reshape(n, groups, c_group, pixels))
    return acc.reshape(n, c_out, *out_sizes)


def _spatial_args(x: np.ndarray, strides: np.ndarray | None, dilations: np.ndarray | None) -> tuple[list[int], list[int]]:
    dims = x.ndim - 2
    if dims < 1:
        raise ProgramError(f"conv: input rank {x.ndim} has no spatial dims")
    return (ints(strides) if strides is not None else [1] * dims, ints(dilations) if dilations is not None else [1] * dims)


def _bias(out: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    if bias is None:
        return out
    return out + wide(bias).reshape((1, -1) + (1,) * (out.ndim - 2))


@register("conv")
def conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, strides: np.ndarray | None = None,
         pad_type: str = "valid", pad: np.ndarray | None = None, dilations: np.ndarray | None = None,
         groups: np.ndarray | int = 1) -> np.ndarray:
    s, d = _spatial_args(x, strides, dilations)
    kernel = [(k - 1) * di + 1 for k, di in zip(weight.shape[2:], d, strict=True)]
    pads = spatial_pads(str(pad_type), pad, x.shape[2:], kernel, s)
    out = _conv_nd(wide(x), wide(weight), s, d, pads, int(scalar(groups)))
    return narrow(_bias(out, bias), x)


@register("conv_transpose")
def conv_transpose(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
                   pad: np.ndarray | None = None, output_shape: np.ndarray | None = None, pad_type: str = "valid",
                   strides: np.ndarray | None = None, dilations: np.ndarray | None = None,
                   groups: np.ndarray | int = 1) -> np.ndarray:
    """Scatter-add of every input pixel times its kernel, then the padding cropped off (MIL's output sizes)."""
    s, d = _spatial_args(x, strides, dilations)
    groups = int(scalar(groups))
    xw, w = wide(x), wide(weight)
    n, c_in = x.shape[:2]
    kernel, in_sizes = w.shape[2:], x.shape[2:]
    c_group, mult = c_in // groups, w.shape[1]
    if w.shape[0] != c_in or c_in % groups:
        raise ProgramError(f"conv_transpose: weight {w.shape} does not fit {c_in} input channels, groups {groups}")
    full = [(i - 1) * st + (k - 1) * di + 1 for i, k, st, di in zip(in_sizes, kernel, s, d, strict=True)]
    acc = np.zeros((n, groups, mult, *full), dtype=xw.dtype)
    xg = xw.reshape(n, groups, c_group, -1)
    for offset in np.ndindex(*kernel):
        wk = w[(slice(None), slice(None), *offset)].reshape(groups, c_group, mult)
        contrib = np.matmul(np.swapaxes(wk, 1, 2), xg).reshape(n, groups, mult, *in_sizes)
        window = tuple(slice(k * di, k * di + (i - 1) * st + 1, st)
                       for k, di, i, st in zip(offset, d, in_sizes, s, strict=True))
        acc[(slice(None), slice(None), slice(None), *window)] += contrib
    acc = acc.reshape(n, groups * mult, *full)
    if output_shape is not None:
        targets = ints(output_shape)[-len(kernel):]
    elif str(pad_type) == "same":
        targets = [i * st for i, st in zip(in_sizes, s, strict=True)]
    else:
        pairs = spatial_pads(str(pad_type), pad, in_sizes, kernel, s)
        targets = [f - b - a for f, (b, a) in zip(full, pairs, strict=True)]
    if str(pad_type) == "custom" and pad is not None:
        starts = [b for b, _ in spatial_pads("custom", pad, in_sizes, kernel, s)]
    else:
        starts = [max(f - t, 0) // 2 for f, t in zip(full, targets, strict=True)]
    grow = [(0, 0), (0, 0)] + [(0, max(st + t - f, 0)) for st, t, f in zip(starts, targets, full, strict=True)]
    acc = np.pad(acc, grow) if any(g != (0, 0) for g in grow) else acc
    out = acc[(slice(None), slice(None), *(slice(st, st + t) for st, t in zip(starts, targets, strict=True)))]
    return narrow(_bias(out, bias), x)
