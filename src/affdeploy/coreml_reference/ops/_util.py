"""Helpers shared by the op families: precision handling and argument normalisation.

Precision model: a value's dtype is the one the program declares. Elementwise arithmetic on fp16
values runs in float16 (NumPy rounds every result to float16); transcendental functions, and the
accumulations of convolutions, matrix products, reductions and normalisations, run in float32 and
round once to the op's dtype. That is the math of the program; how a given Core ML device
accumulates fp16 sums is not specified by MIL and only the device shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from affdeploy.coreml_reference.errors import ProgramError


def wide(x: np.ndarray) -> np.ndarray:
    """``x`` in the precision its math is done in: float16 widens to float32, others unchanged."""
    x = np.asarray(x)
    return x.astype(np.float32) if x.dtype == np.float16 else x


def narrow(result: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``result`` rounded back to the dtype of ``like`` (the op's declared type domain)."""
    return np.asarray(result).astype(np.asarray(like).dtype, copy=False)


def param(value: Any, like: np.ndarray) -> np.ndarray:
    """A parameter (epsilon, alpha, gamma...) in the compute dtype of ``like`` (iOS17 allows mixed dtypes)."""
    return np.asarray(value).astype(wide(np.asarray(like)).dtype, copy=False)


def scalar(value: Any) -> Any:
    """A 0-d or 1-element array as a Python scalar."""
    arr = np.asarray(value)
    if arr.size != 1:
        raise ProgramError(f"expected a scalar, got shape {arr.shape}")
    return arr.reshape(()).item()


def ints(value: Any) -> list[int]:
    """An int32 vector as a list of Python ints."""
    return [int(v) for v in np.asarray(value).reshape(-1)]


def axes_of(axes: Any, rank: int) -> tuple[int, ...] | None:
    """Non-negative axes, or None for "all axes"."""
    if axes is None:
        return None
    return tuple(sorted(a % rank if rank else 0 for a in ints(axes)))


def check_rank(x: np.ndarray, ranks: Sequence[int], op: str) -> None:
    if x.ndim not in ranks:
        raise ProgramError(f"{op}: input rank {x.ndim} not in {tuple(ranks)}")
