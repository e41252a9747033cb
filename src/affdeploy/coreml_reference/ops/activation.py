"""Activations, each computed in float32 for fp16 inputs and rounded once (see ``_util``)."""

from __future__ import annotations

import numpy as np

from affdeploy.coreml_reference.errors import ProgramError
from affdeploy.coreml_reference.ops._util import narrow, param, scalar, wide
from affdeploy.coreml_reference.ops.elementwise import _erf
from affdeploy.coreml_reference.registry import register


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _channel(value: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A per-channel [C] parameter broadcast over axis 1 of ``x``."""
    value = param(value, x).reshape(-1)
    return value.reshape((1, -1) + (1,) * (x.ndim - 2)) if value.size > 1 else value.reshape(())


@register("relu")
def relu(x: np.ndarray) -> np.ndarray:
    return narrow(np.maximum(wide(x), 0), x)


@register("relu6")
def relu6(x: np.ndarray) -> np.ndarray:
    return narrow(np.clip(wide(x), 0, 6), x)


@register("sigmoid")
def sigmoid(x: np.ndarray) -> np.ndarray:
    return narrow(_sigmoid(wide(x)), x)


@register("silu")
def silu(x: np.ndarray) -> np.ndarray:
    w = wide(x)
    return narrow(w * _sigmoid(w), x)


@register("gelu")
def gelu(x: np.ndarray, mode: str = "EXACT") -> np.ndarray:
    w = wide(x)
    if mode == "EXACT":
        out = 0.5 * w * (1.0 + _erf(w / np.sqrt(2.0).astype(w.dtype)))
    elif mode == "TANH_APPROXIMATION":
        out = 0.5 * w * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (w + 0.044715 * w**3)))
    elif mode == "SIGMOID_APPROXIMATION":
        out = w * _sigmoid(1.702 * w)
    else:
        raise ProgramError(f"gelu: unknown mode {mode!r}")
    return narrow(out, x)


@register("softplus")
def softplus(x: np.ndarray) -> np.ndarray:
    return narrow(_softplus(wide(x)), x)


@register("softplus_parametric")
def softplus_parametric(x: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    return narrow(_channel(alpha, x) * _softplus(_channel(beta, x) * wide(x)), x)


@register("softsign")
def softsign(x: np.ndarray) -> np.ndarray:
    w = wide(x)
    return narrow(w / (1.0 + np.abs(w)), x)


@register("elu")
def elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    w = wide(x)
    return narrow(np.where(w > 0, w, param(alpha, x) * np.expm1(np.minimum(w, 0))), x)


@register("leaky_relu")
def leaky_relu(x: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    w = wide(x)
    return narrow(np.where(w >= 0, w, param(alpha, x) * w), x)


@register("prelu")
def prelu(x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    w = wide(x)
    return narrow(np.where(w >= 0, w, _channel(alpha, x) * w), x)


@register("thresholded_relu")
def thresholded_relu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    w = wide(x)
    return narrow(np.where(w > param(alpha, x), w, 0), x)


@register("clamped_relu")
def clamped_relu(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    w = wide(x)
    return narrow(np.minimum(np.where(w >= 0, w, param(alpha, x) * w), param(beta, x)), x)


@register("sigmoid_hard")
def sigmoid_hard(x: np.ndarray, alpha: float = 0.2, beta: float = 0.5) -> np.ndarray:
    return narrow(np.clip(param(alpha, x) * wide(x) + param(beta, x), 0, 1), x)


@register("scaled_tanh")
def scaled_tanh(x: np.ndarray, alpha: float = 1.0, beta: float = 1.0) -> np.ndarray:
    return narrow(param(alpha, x) * np.tanh(param(beta, x) * wide(x)), x)


@register("linear_activation")
def linear_activation(x: np.ndarray, alpha: float, beta: float = 0.0) -> np.ndarray:
    return narrow(param(alpha, x) * wide(x) + param(beta, x), x)


@register("softmax")
def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    w = wide(x)
    axis = int(scalar(axis))
    e = np.exp(w - np.max(w, axis=axis, keepdims=True))
    return narrow(e / np.sum(e, axis=axis, keepdims=True), x)
