"""Reductions over ``axes`` (all axes when absent), accumulated in float32 for fp16 inputs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from affdeploy.coreml_reference.ops._util import axes_of, narrow, scalar, wide
from affdeploy.coreml_reference.registry import register


def _logsumexp(w: np.ndarray, axis: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
    top = np.max(w, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(w - top), axis=axis, keepdims=True)) + top
    return out if keepdims else np.squeeze(out, axis=axis)


_REDUCERS: dict[str, Callable[[np.ndarray, tuple[int, ...] | None, bool], np.ndarray]] = {
    "reduce_sum": lambda w, a, k: np.sum(w, axis=a, keepdims=k),
    "reduce_mean": lambda w, a, k: np.mean(w, axis=a, keepdims=k),
    "reduce_max": lambda w, a, k: np.max(w, axis=a, keepdims=k),
    "reduce_min": lambda w, a, k: np.min(w, axis=a, keepdims=k),
    "reduce_prod": lambda w, a, k: np.prod(w, axis=a, keepdims=k),
    "reduce_l1_norm": lambda w, a, k: np.sum(np.abs(w), axis=a, keepdims=k),
    "reduce_l2_norm": lambda w, a, k: np.sqrt(np.sum(w * w, axis=a, keepdims=k)),
    "reduce_sum_square": lambda w, a, k: np.sum(w * w, axis=a, keepdims=k),
    "reduce_log_sum": lambda w, a, k: np.log(np.sum(w, axis=a, keepdims=k)),
    "reduce_log_sum_exp": _logsumexp,
}


def _reducer(fn: Callable[[np.ndarray, tuple[int, ...] | None, bool], np.ndarray]) -> Callable[..., np.ndarray]:
    def op(x: np.ndarray, axes: np.ndarray | None = None, keep_dims: bool = False) -> np.ndarray:
        x = np.asarray(x)
        return narrow(fn(wide(x), axes_of(axes, x.ndim), bool(scalar(keep_dims))), x)

    return op


for _name, _fn in _REDUCERS.items():
    register(_name)(_reducer(_fn))


def _arg(pick: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def op(x: np.ndarray, axis: int = -1, keep_dims: bool = False, output_dtype: str = "int32") -> np.ndarray:
        out = pick(np.asarray(x), axis=int(scalar(axis)), keepdims=bool(scalar(keep_dims)))
        return out.astype(np.uint16 if output_dtype == "uint16" else np.int32)

    return op


register("reduce_argmax")(_arg(np.argmax))
register("reduce_argmin")(_arg(np.argmin))
