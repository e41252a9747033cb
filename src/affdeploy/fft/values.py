"""How the pass represents values it rewrites: complex tensors as real pairs, stacks lazily.

``Pair`` is a complex tensor as two real tensors of the same shape. A DFT stage produces
``[re | im]`` packed on the (flattened) last axes; the Pair remembers that packed tensor so a
following stage takes it as is instead of concatenating the slices back together.

``LazyStack`` is a real ``torch.stack`` result kept as its parts: ``view_as_real(z)[..., 0]``,
``stack([re, im], -1)`` -> pointwise ops -> ``view_as_complex`` (AFFNet's softshrink of the
mask) then never build the stacked tensor or select out of it (select_copy leaves the
XNNPACK delegate). It is stacked for real only when an op needs the stacked tensor.
"""

from __future__ import annotations

from typing import Any, overload

import torch


def broadcast_pair(re: torch.Tensor, im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both parts at the broadcast shape (a real operand can widen only one of them)."""
    if re.shape == im.shape:
        return re, im
    shape = torch.broadcast_shapes(re.shape, im.shape)
    return re.expand(shape), im.expand(shape)


class Pair:
    """A complex tensor as (real, imaginary) float tensors."""

    __slots__ = ("re", "im", "_packed", "_stacked", "constant")

    def __init__(self, re: torch.Tensor, im: torch.Tensor, packed: tuple[int, torch.Tensor] | None = None,
                 stacked: torch.Tensor | None = None, constant: tuple[str, str] | None = None) -> None:
        self.re, self.im = broadcast_pair(re, im)
        self._packed = packed
        self._stacked = stacked
        self.constant = constant  # the buffers holding it, when computed from weights at lowering time

    @property
    def shape(self) -> torch.Size:
        return self.re.shape

    def map(self, fn, *args, **kwargs) -> Pair:  # noqa: ANN001 - any op taking the tensor first
        """Apply a real op that treats both parts alike (views, slicing, reductions)."""
        return Pair(fn(self.re, *args, **kwargs), fn(self.im, *args, **kwargs))

    def stacked(self) -> torch.Tensor:
        """``stack([re, im])``: a factored transform's input (its output already is one)."""
        if self._stacked is None:
            self._stacked = torch.cat([self.re.unsqueeze(0), self.im.unsqueeze(0)])
        return self._stacked

    def pack(self, k: int) -> torch.Tensor:
        """``[re | im]`` with the last ``k`` axes flattened and concatenated: a DFT stage's input."""
        if self._packed is not None and self._packed[0] == k:
            return self._packed[1]
        lead = self.re.shape[: self.re.dim() - k]
        return torch.cat([self.re.reshape(*lead, -1), self.im.reshape(*lead, -1)], dim=-1)


class LazyStack:
    """A real tensor equal to ``torch.stack(parts, dim)``, not built until needed."""

    __slots__ = ("parts", "dim", "_stacked")

    def __init__(self, parts: list[torch.Tensor], dim: int) -> None:
        self.parts = list(parts)
        self.dim = dim if dim >= 0 else dim + parts[0].dim() + 1
        self._stacked: torch.Tensor | None = None

    @property
    def ndim(self) -> int:
        return self.parts[0].dim() + 1

    def materialize(self) -> torch.Tensor:
        if self._stacked is None:
            self._stacked = torch.stack(self.parts, self.dim)
        return self._stacked


@overload
def materialize(value: tuple[Any, ...]) -> tuple[Any, ...]: ...


@overload
def materialize(value: dict[str, Any]) -> dict[str, Any]: ...


@overload
def materialize(value: object) -> object: ...


def materialize(value: object) -> object:
    """Replace LazyStacks (also inside lists) by real stacked tensors."""
    if isinstance(value, LazyStack):
        return value.materialize()
    if isinstance(value, (list, tuple)):
        return type(value)(materialize(v) for v in value)
    return value


def contains(value: object, kind: type) -> bool:
    if isinstance(value, kind):
        return True
    if isinstance(value, (list, tuple)):
        return any(contains(v, kind) for v in value)
    if isinstance(value, dict):
        return any(contains(v, kind) for v in value.values())
    return False
