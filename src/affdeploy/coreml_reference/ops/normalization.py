"""Normalisations: batch, instance, layer, L2 and local response norm (moments in float32)."""

from __future__ import annotations

import numpy as np

from affdeploy.coreml_reference.ops._util import axes_of, check_rank, narrow, param, scalar, wide
from affdeploy.coreml_reference.registry import register


def _per_channel(value: np.ndarray | None, x: np.ndarray, default: float) -> np.ndarray:
    if value is None:
        return np.asarray(default, dtype=x.dtype)
    return param(value, x).reshape((1, -1) + (1,) * (x.ndim - 2))


@register("batch_norm")
def batch_norm(x: np.ndarray, mean: np.ndarray, variance: np.ndarray, gamma: np.ndarray | None = None,
               beta: np.ndarray | None = None, epsilon: float = 1e-5) -> np.ndarray:
    w = wide(x)
    scale = _per_channel(gamma, w, 1.0) / np.sqrt(_per_channel(variance, w, 1.0) + param(epsilon, w))
    return narrow((w - _per_channel(mean, w, 0.0)) * scale + _per_channel(beta, w, 0.0), x)


@register("instance_norm")
def instance_norm(x: np.ndarray, gamma: np.ndarray | None = None, beta: np.ndarray | None = None,
                  epsilon: float = 1e-5) -> np.ndarray:
    check_rank(np.asarray(x), (3, 4), "instance_norm")
    w = wide(x)
    axes = tuple(range(2, w.ndim))
    mean = w.mean(axis=axes, keepdims=True)
    var = ((w - mean) ** 2).mean(axis=axes, keepdims=True)
    out = (w - mean) / np.sqrt(var + param(epsilon, w))
    return narrow(out * _per_channel(gamma, w, 1.0) + _per_channel(beta, w, 0.0), x)


@register("layer_norm")
def layer_norm(x: np.ndarray, axes: np.ndarray | None = None, gamma: np.ndarray | None = None,
               beta: np.ndarray | None = None, epsilon: float = 1e-5) -> np.ndarray:
    """gamma and beta have the shape of the normalised axes, so they broadcast when those axes are trailing."""
    w = wide(x)
    norm_axes = axes_of(axes, w.ndim) or tuple(range(w.ndim))
    mean = w.mean(axis=norm_axes, keepdims=True)
    var = ((w - mean) ** 2).mean(axis=norm_axes, keepdims=True)
    out = (w - mean) / np.sqrt(var + param(epsilon, w))
    shape = [w.shape[a] if a in norm_axes else 1 for a in range(w.ndim)]
    if gamma is not None:
        out = out * param(gamma, w).reshape(shape)
    if beta is not None:
        out = out + param(beta, w).reshape(shape)
    return narrow(out, x)


@register("l2_norm")
def l2_norm(x: np.ndarray, epsilon: float = 1e-6) -> np.ndarray:
    """Divides by the L2 norm over the last three dims (all dims for rank 3 and lower)."""
    w = wide(x)
    axes = tuple(range(max(w.ndim - 3, 0), w.ndim))
    return narrow(w / np.sqrt(np.sum(w * w, axis=axes, keepdims=True) + param(epsilon, w)), x)


@register("local_response_norm")
def local_response_norm(x: np.ndarray, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> np.ndarray:
    """Sum of squares over ``size`` neighbouring channels (centred, zero-padded)."""
    w = wide(x)
    size = int(scalar(size))
    sq = np.pad(w * w, [(0, 0), ((size - 1) // 2, size // 2)] + [(0, 0)] * (w.ndim - 2))
    window = sum(sq[:, i : i + w.shape[1]] for i in range(size))
    return narrow(w / (param(k, w) + param(alpha, w) / size * window) ** param(beta, w), x)
