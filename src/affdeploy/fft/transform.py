"""One FFT call as real matmuls against constant DFT matrices.

Layout rules, chosen for the delegates: every stage is ``x @ M`` with a 2-D constant ``M``
on the last axis (a plain mm/linear; no batched matmul against a broadcast constant, which
becomes expand_copy), real and imaginary parts come out of the same matmul, and the real-input
symmetry is used (r2c keeps n//2+1 bins; c2r weights them as Hermitian, odd n included).
When the transformed axes are small (product <= ``KRON_LIMIT``) all of them go through one
Kronecker matrix on the flattened trailing axes: one matmul and no transposes, which beats
separable stages for AFFNet's 8x8 maps (see docs/fft.md). Larger transforms run one matrix per
axis, moving that axis last: from 16x16 on, the Kronecker matrix's MACs (H*W per value against
H+W) cost more than the transposes the separable stages add.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import torch

from affdeploy.fft.matrices import StageKey
from affdeploy.fft.values import Pair

# Largest product of transformed sizes done as one Kronecker matrix (measured, docs/fft.md).
KRON_LIMIT = 64


class DynamicDimError(ValueError):
    """A transform along a dimension whose size is only known at run time (no constant matrix exists)."""


def static_size(shape: Sequence[Any], dim: int, what: str) -> int:
    """``shape[dim]`` as an int; a dynamic (symbolic) size is an error naming the dim, never specialised."""
    size = shape[dim]
    if not isinstance(size, int):
        raise DynamicDimError(
            f"{what} runs along dim {dim % len(shape)} of a {tuple(str(s) for s in shape)} tensor, which is dynamic "
            f"({size}); a DFT matrix needs a fixed size"
        )
    return size


class MatrixStore(Protocol):
    """Where DFT matrices live: constants of the lowered program, deduplicated by key."""

    def matrix(self, key: StageKey, dtype: torch.dtype) -> torch.Tensor: ...


Value = torch.Tensor | Pair


def _out_sizes(key: StageKey) -> list[int]:
    sizes = list(key.n)
    if key.kind == "r2c" and key.onesided:
        last = key.axes_order[-1]
        sizes[last] = sizes[last] // 2 + 1
    return sizes


def _permute(x: Value, perm: list[int]) -> Value:
    return x.map(torch.permute, perm) if isinstance(x, Pair) else torch.permute(x, perm)


def _stage(x: Value, dims: list[int], n: dict[int, int], kind: str, inverse: bool, onesided: bool,
           norm: str, store: MatrixStore) -> Value:
    """Transform axes ``dims`` (in numpy's application order) with one matrix."""
    first = x.re if isinstance(x, Pair) else x
    ndim = first.dim()
    order = sorted(dims)
    k = len(order)
    trailing = order == list(range(ndim - k, ndim))
    perm = [d for d in range(ndim) if d not in order] + order
    if not trailing:
        x = _permute(x, perm)
        first = x.re if isinstance(x, Pair) else x
    lead = list(first.shape[: ndim - k])
    key = StageKey(
        kind=kind,
        inverse=inverse,
        onesided=onesided,
        in_sizes=tuple(first.shape[ndim - k:]),
        n=tuple(n[d] for d in order),
        axes_order=tuple(order.index(d) for d in dims),
        norm=norm,
    )
    flat = x.pack(k) if isinstance(x, Pair) else first.reshape(*lead, -1)
    matrix = store.matrix(key, first.dtype)
    y = torch.mm(flat.reshape(-1, matrix.shape[0]), matrix).reshape(*lead, matrix.shape[1])  # plain mm: a linear
    out = _out_sizes(key)
    if kind == "c2r":
        result: Value = y.reshape(*lead, *out)
    else:
        m = math.prod(out)
        re = y[..., :m].reshape(*lead, *out)
        im = y[..., m:].reshape(*lead, *out)
        result = Pair(re, im, packed=(k, y) if trailing else None)
    if trailing:
        return result
    inverse_perm = [perm.index(d) for d in range(ndim)]
    return _permute(result, inverse_perm)


def dft(x: Value, kind: str, dims: list[int], n: list[int], *, inverse: bool, onesided: bool, norm: str,
        store: MatrixStore) -> Value:
    """An n-dimensional DFT with torch.fft/numpy semantics.

    kind: "r2c" (real input; ``onesided`` halves the last of ``dims``), "c2c" or "c2r"
    (Hermitian input, real output of size n[-1] on the last of ``dims``). ``n`` are the signal
    sizes per axis of ``dims`` (inputs are zero-padded or truncated to them inside the matrix).
    """
    ndim = (x.re if isinstance(x, Pair) else x).dim()
    dims = [d % ndim for d in dims]
    shape = (x.re if isinstance(x, Pair) else x).shape
    for d in dims:
        static_size(shape, d, "the FFT")
    sizes = dict(zip(dims, n))
    if len(dims) == 1 or math.prod(shape[d] for d in dims) <= KRON_LIMIT:
        return _stage(x, dims, sizes, kind, inverse, onesided, norm, store)
    # Separable: numpy's order (r2c: last axis first; c2r: last axis last), one axis a stage.
    if kind == "c2r":
        for d in dims[:-1]:
            x = _stage(x, [d], sizes, "c2c", True, False, norm, store)
        return _stage(x, [dims[-1]], sizes, "c2r", True, False, norm, store)
    if kind == "r2c":
        x = _stage(x, [dims[-1]], sizes, "r2c", inverse, onesided, norm, store)
        dims = dims[:-1]
    for d in reversed(dims):
        x = _stage(x, [d], sizes, "c2c", inverse, False, norm, store)
    return x
