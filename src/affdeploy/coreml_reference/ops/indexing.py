"""Slicing, gathering and ordering: slice_by_index/size, gather family, topk, argsort."""

from __future__ import annotations

import numpy as np

from affdeploy.coreml_reference.errors import ProgramError
from affdeploy.coreml_reference.ops._util import ints, scalar
from affdeploy.coreml_reference.registry import register


def _mask(value: np.ndarray | None, rank: int) -> list[bool]:
    return [False] * rank if value is None else [bool(v) for v in np.asarray(value).reshape(-1)]


@register("slice_by_index")
def slice_by_index(x: np.ndarray, begin: np.ndarray, end: np.ndarray, stride: np.ndarray | None = None,
                   begin_mask: np.ndarray | None = None, end_mask: np.ndarray | None = None,
                   squeeze_mask: np.ndarray | None = None) -> np.ndarray:
    """x[begin:end:stride] per dim, masks meaning "from the start", "to the end" and "index, drop the dim"."""
    x = np.asarray(x)
    rank = x.ndim
    b, e = ints(begin), ints(end)
    s = ints(stride) if stride is not None else [1] * rank
    bm, em, sm = _mask(begin_mask, rank), _mask(end_mask, rank), _mask(squeeze_mask, rank)
    index: list[slice | int] = []
    for i in range(rank):
        if sm[i]:
            index.append(b[i])
        else:
            index.append(slice(None if bm[i] else b[i], None if em[i] else e[i], s[i]))
    return np.asarray(x[tuple(index)])


@register("slice_by_size")
def slice_by_size(x: np.ndarray, begin: np.ndarray, size: np.ndarray) -> np.ndarray:
    """``size`` -1 takes the rest of the dim."""
    x = np.asarray(x)
    index = tuple(slice(b, None if n == -1 else b + n) for b, n in zip(ints(begin), ints(size), strict=True))
    return x[index]


def _positive(indices: np.ndarray, size: int) -> np.ndarray:
    idx = np.asarray(indices).astype(np.int64)
    if np.any(idx < -size) or np.any(idx >= size):
        raise ProgramError(f"gather index out of range for a dim of size {size}")
    return np.where(idx < 0, idx + size, idx)


@register("gather")
def gather(x: np.ndarray, indices: np.ndarray, axis: int = 0, batch_dims: int = 0,
           validate_indices: bool = False) -> np.ndarray:
    x = np.asarray(x)
    axis = int(scalar(axis)) % x.ndim
    bd = int(scalar(batch_dims))
    idx = _positive(indices, x.shape[axis])
    if bd == 0:
        return np.take(x, idx, axis=axis)
    # Batched gather: the leading ``bd`` dims of x and indices are paired, not crossed.
    batch = x.shape[:bd]
    xs = x.reshape(int(np.prod(batch)), *x.shape[bd:])
    ids = idx.reshape(int(np.prod(batch)), *idx.shape[bd:])
    parts = [np.take(xs[i], ids[i], axis=axis - bd) for i in range(xs.shape[0])]
    return np.stack(parts).reshape(*batch, *parts[0].shape)


@register("gather_along_axis")
def gather_along_axis(x: np.ndarray, indices: np.ndarray, axis: int = 0, validate_indices: bool = False) -> np.ndarray:
    x = np.asarray(x)
    axis = int(scalar(axis)) % x.ndim
    return np.take_along_axis(x, _positive(indices, x.shape[axis]), axis=axis)


@register("gather_nd")
def gather_nd(x: np.ndarray, indices: np.ndarray, batch_dims: int = 0, validate_indices: bool = False) -> np.ndarray:
    """indices[..., :k] address the first k dims of x (after the batch dims)."""
    x = np.asarray(x)
    idx = np.asarray(indices).astype(np.int64)
    bd = int(scalar(batch_dims))
    if bd:
        batch = x.shape[:bd]
        xs = x.reshape(int(np.prod(batch)), *x.shape[bd:])
        ids = idx.reshape(int(np.prod(batch)), *idx.shape[bd:])
        parts = [xs[i][tuple(np.moveaxis(ids[i], -1, 0))] for i in range(xs.shape[0])]
        return np.stack(parts).reshape(*batch, *parts[0].shape)
    return x[tuple(np.moveaxis(idx, -1, 0))]


def _order(x: np.ndarray, axis: int, ascending: bool) -> np.ndarray:
    """Stable order along ``axis``: ties keep their original order in both directions."""
    return np.argsort(x if ascending else -x.astype(np.float64), axis=axis, kind="stable")


@register("topk")
def topk(x: np.ndarray, k: int = 1, axis: int = -1, ascending: bool = False, sort: bool = True,
         return_indices: bool = True, output_indices_dtype: str = "int32") -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    axis = int(scalar(axis))
    count = int(scalar(k))
    order = _order(x, axis, bool(scalar(ascending)))
    if count != -1:
        order = np.take(order, np.arange(count), axis=axis)
    values = np.take_along_axis(x, order, axis=axis)
    if not bool(scalar(return_indices)):
        return values
    return values, order.astype(np.uint16 if output_indices_dtype == "uint16" else np.int32)


@register("argsort")
def argsort(x: np.ndarray, axis: int = -1, ascending: bool = False) -> np.ndarray:
    return _order(np.asarray(x), int(scalar(axis)), bool(scalar(ascending))).astype(np.int32)
