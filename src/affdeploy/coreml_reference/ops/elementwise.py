"""Elementwise ops: binary arithmetic and comparisons (NumPy broadcasting, as MIL), unary math, cast."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from affdeploy.coreml_reference.errors import ProgramError
from affdeploy.coreml_reference.ops._util import narrow, param, scalar, wide
from affdeploy.coreml_reference.registry import register
from affdeploy.coreml_reference.values import DTYPE_NAMES

_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "maximum": np.maximum, "minimum": np.minimum,
    "floor_div": np.floor_divide, "mod": np.mod,
    "equal": np.equal, "not_equal": np.not_equal, "greater": np.greater, "greater_equal": np.greater_equal,
    "less": np.less, "less_equal": np.less_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or, "logical_xor": np.logical_xor,
}


def _binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    def op(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return fn(np.asarray(x), np.asarray(y))

    return op


for _name, _fn in _BINARY.items():
    register(_name)(_binary(_fn))


@register("real_div")
def real_div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The output type is the inputs' promoted type (MIL's elementwise_binary): int32 / int32 stays int32.

    Integer division appears in the shape arithmetic coremltools emits for dynamic dims (a reshape's
    -1 as numel / batch); the quotient is truncated toward zero, as a C cast of the real quotient.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind in "iu" and y.dtype.kind in "iu":
        return np.true_divide(x, y).astype(np.result_type(x, y))
    return np.true_divide(x, y)


@register("pow")
def pow_(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return narrow(np.power(wide(x), wide(np.asarray(y))), x)


def _erf(x: np.ndarray) -> np.ndarray:
    """erf by Abramowitz & Stegun 7.1.26 refined: max abs error 1.5e-7, below float32 parity needs."""
    sign = np.sign(x)
    a = np.abs(x).astype(np.float64)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(x.dtype)


_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "abs": np.abs, "acos": np.arccos, "asin": np.arcsin, "atan": np.arctan, "atanh": np.arctanh,
    "ceil": np.ceil, "cos": np.cos, "cosh": np.cosh, "erf": _erf, "exp": np.exp, "exp2": np.exp2,
    "floor": np.floor, "round": np.round, "sign": np.sign, "sin": np.sin, "sinh": np.sinh, "sqrt": np.sqrt,
    "square": np.square, "tan": np.tan, "tanh": np.tanh,
}


def _unary(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    def op(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        return narrow(fn(wide(x)), x)

    return op


for _name, _unary_fn in _UNARY.items():
    register(_name)(_unary(_unary_fn))


@register("inverse")
def inverse(x: np.ndarray, epsilon: float = 1e-4) -> np.ndarray:
    return narrow(1.0 / (wide(x) + param(epsilon, x)), x)


@register("log")
def log(x: np.ndarray, epsilon: float = 1e-45) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return narrow(np.log(wide(x) + param(epsilon, x)), x)


@register("rsqrt")
def rsqrt(x: np.ndarray, epsilon: float = 1e-12) -> np.ndarray:
    return narrow(1.0 / np.sqrt(wide(x) + param(epsilon, x)), x)


@register("clip")
def clip(x: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    return narrow(np.minimum(np.maximum(wide(x), param(alpha, x)), param(beta, x)), x)


@register("threshold")
def threshold(x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return narrow(np.maximum(wide(x), param(alpha, x)), x)


@register("logical_not")
def logical_not(x: np.ndarray) -> np.ndarray:
    return np.logical_not(x)


@register("cast")
def cast(x: np.ndarray, dtype: str) -> np.ndarray:
    target = DTYPE_NAMES.get(str(dtype))
    if target is None:
        raise ProgramError(f"cast: unknown dtype {dtype!r}")
    x = np.asarray(x)
    if target.kind in "iu" and x.dtype.kind == "f":
        x = np.trunc(x)
    return x.astype(target)


@register("identity")
def identity(x: np.ndarray) -> np.ndarray:
    return np.asarray(x)


@register("select")
def select(cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(cond).astype(bool), a, b)


@register("fill")
def fill(shape: np.ndarray, value: np.ndarray | np.float32 = np.float32(0.0)) -> np.ndarray:
    value = np.asarray(value)
    return np.full([int(s) for s in np.asarray(shape).reshape(-1)], scalar(value), dtype=value.dtype)


@register("fill_like")
def fill_like(ref_tensor: np.ndarray, value: np.ndarray | np.float32 = np.float32(0.0)) -> np.ndarray:
    value = np.asarray(value)
    return np.full(np.shape(ref_tensor), scalar(value), dtype=value.dtype)
