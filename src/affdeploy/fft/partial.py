"""Spectra of which only some bins are read: compute those bins, not the others.

FNO-style models keep a few modes: ``x_ft = rfft2(x); x_ft[:, :, :m1, :m2]`` and
``x_ft[:, :, -m1:, :m2]``. ``read_ranges`` looks at the graph: when every reader of a transform's
output is a chain of unit-step slices, the union of the ranges they read along each transformed
dim is all that has to be computed. The transform then returns a ``Partial``: those ranges only,
concatenated, and the slices that follow are mapped onto it.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch.fx import Node

from affdeploy.fft.values import Pair
from affdeploy.graph import op_name

Ranges = list[tuple[int, int]]


def _slice_args(node: Node, shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """(dim, start, stop) of a unit-step ``aten.slice`` node, normalised against ``shape``."""
    if node.op != "call_function" or op_name(node.target) not in ("slice", "slice_copy"):
        return None
    args = list(node.args) + [None] * 5
    dim = args[1] if args[1] is not None else node.kwargs.get("dim", 0)
    start = args[2] if args[2] is not None else node.kwargs.get("start")
    end = args[3] if args[3] is not None else node.kwargs.get("end")
    step = args[4] if args[4] is not None else node.kwargs.get("step", 1)
    if step != 1 or not all(isinstance(v, (int, type(None))) for v in (dim, start, end)):
        return None
    dim = cast(int, dim) % len(shape)
    begin, stop, _ = slice(start, end).indices(shape[dim])
    return dim, begin, max(begin, stop)


def _merge(ranges: Ranges) -> Ranges:
    out: Ranges = []
    for start, stop in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], stop))
        else:
            out.append((start, stop))
    return out


def read_ranges(node: Node, dims: list[int]) -> dict[int, Ranges]:
    """Per dim of ``dims``, the bins of ``node``'s value that slices read (dims read whole are left out)."""
    val = node.meta.get("val")
    shape = tuple(getattr(val, "shape", ()))
    if not shape or not all(isinstance(s, int) for s in (shape[d] for d in dims)):
        return {}
    reads: dict[int, Ranges] = {d: [] for d in dims}
    whole: set[int] = set()

    def walk(current: Node, box: dict[int, tuple[int, int]], sizes: list[int]) -> None:
        for user in current.users:
            sliced = _slice_args(user, tuple(sizes))
            if sliced is None or not user.users:
                _record(box if sliced is None else _narrowed(box, sliced, sizes)[0])
                continue
            inner, inner_sizes = _narrowed(box, sliced, sizes)
            walk(user, inner, inner_sizes)

    def _narrowed(box: dict[int, tuple[int, int]], sliced: tuple[int, int, int],
                  sizes: list[int]) -> tuple[dict[int, tuple[int, int]], list[int]]:
        dim, start, stop = sliced
        base = box.get(dim, (0, sizes[dim]))[0]
        new = dict(box)
        new[dim] = (base + start, base + stop)
        new_sizes = list(sizes)
        new_sizes[dim] = stop - start
        return new, new_sizes

    def _record(box: dict[int, tuple[int, int]]) -> None:
        for d in dims:
            if d in box:
                reads[d].append(box[d])
            else:
                whole.add(d)

    if not node.users:
        return {}
    walk(node, {}, list(shape))
    out = {}
    for d in dims:
        if d in whole or not reads[d]:
            continue
        merged = _merge(reads[d])
        if merged != [(0, shape[d])]:
            out[d] = merged
    return out


class Partial:
    """A complex tensor of ``shape`` of which only ``ranges`` (per dim) exist, held compactly in ``value``."""

    __slots__ = ("value", "ranges", "shape")

    def __init__(self, value: Pair, ranges: dict[int, Ranges], shape: tuple[int, ...]) -> None:
        self.value, self.ranges, self.shape = value, ranges, tuple(shape)

    def slice(self, dim: int = 0, start: int | None = None, end: int | None = None, step: int = 1) -> Any:
        dim %= len(self.shape)
        begin, stop, _ = slice(start, end).indices(self.shape[dim])
        stop = max(begin, stop)
        if dim not in self.ranges:
            value = self.value.map(torch.narrow, dim, begin, stop - begin)
            shape = list(self.shape)
            shape[dim] = stop - begin
            return Partial(value, self.ranges, tuple(shape)) if self.ranges else value
        offset = 0
        for low, high in self.ranges[dim]:
            if low <= begin and stop <= high:
                value = self.value.map(torch.narrow, dim, offset + begin - low, stop - begin)
                rest = {d: r for d, r in self.ranges.items() if d != dim}
                shape = list(self.shape)
                shape[dim] = stop - begin
                return Partial(value, rest, tuple(shape)) if rest else value
            offset += high - low
        raise ValueError(f"internal error: bins {begin}:{stop} of dim {dim} were not computed ({self.ranges[dim]})")
