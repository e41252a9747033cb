"""Matrix products: linear, matmul, einsum and scaled dot-product attention (float32 accumulation)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from affdeploy.coreml_reference.ops._util import narrow, scalar, wide
from affdeploy.coreml_reference.ops.activation import softmax
from affdeploy.coreml_reference.registry import register


@register("linear")
def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """y = x W^T + b, weight [D_out, D_in]."""
    out = np.matmul(wide(x), wide(weight).T)
    if bias is not None:
        out = out + wide(bias)
    return narrow(out, x)


@register("matmul")
def matmul(x: np.ndarray, y: np.ndarray, transpose_x: bool = False, transpose_y: bool = False) -> np.ndarray:
    """NumPy matmul semantics (rank-1 operands promoted, batch dims broadcast), optional transposes."""
    a, b = wide(x), wide(y)
    if bool(scalar(transpose_x)) and a.ndim >= 2:
        a = np.swapaxes(a, -1, -2)
    if bool(scalar(transpose_y)) and b.ndim >= 2:
        b = np.swapaxes(b, -1, -2)
    return narrow(np.matmul(a, b), x)


@register("einsum", variadic=("values",))
def einsum(values: Sequence[np.ndarray], equation: str) -> np.ndarray:
    return narrow(np.einsum(str(equation), *(wide(v) for v in values), optimize=True), values[0])


@register("scaled_dot_product_attention")
def scaled_dot_product_attention(query: np.ndarray, key: np.ndarray, value: np.ndarray,
                                 attn_mask: np.ndarray | None = None) -> np.ndarray:
    """softmax(Q K^T / sqrt(d) + mask) V; a boolean mask keeps True positions."""
    q, k = wide(query), wide(key)
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) / np.sqrt(q.shape[-1]).astype(q.dtype)
    if attn_mask is not None:
        mask = np.asarray(attn_mask)
        scores = np.where(mask, scores, -np.inf) if mask.dtype == np.bool_ else scores + wide(mask)
    return narrow(np.matmul(softmax(scores), wide(value)), query)
