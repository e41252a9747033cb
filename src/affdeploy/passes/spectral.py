"""Delegate-friendly forms of the ops spectral models leave after the FFT pass.

XNNPACK has log, abs, div, minimum/maximum, clamp, mul/add and slice/cat, but no ``log1p``
(log-mel and log-magnitude front ends), no ``atan2`` (the phase of a spectrum, ``angle``) and no
``index_select`` (``roll``, ``fftshift`` written by hand). Each would cut the graph into a CPU
island; each has an equivalent in ops the delegate takes:

- ``log1p(x)`` -> ``log(x + 1)`` (absolute error stays at float32 rounding, which is what parity
  is measured in); ``log10(x)`` -> ``log(x) * (1 / ln 10)`` (Whisper's log-mel).
- ``max(x)`` over every element (Whisper's floor at max - 8) -> ``amax`` over every dim: the same value,
  and the form coremltools' transpose optimisation takes (its reduce_max without axes fails in
  reduce_transposes with KeyError 'axes', coremltools 9.0).
- ``atan2(y, x)`` -> octant reduction with min/max/div, an odd polynomial for atan on [0, 1]
  (fitted once in float64, error below 1e-7 rad) and branch selection by saturated clamps, which
  blend only where both branches agree (|y| = |x|, x = 0).
- ``index_select`` with a constant index made of a few ascending runs -> slices + cat.
- ``pad(mode="reflect")`` on the last axis (``torch.stft(center=True)``) -> the two mirrored edges
  as slices times a constant anti-identity (a linear) and a cat, instead of gather indices; reflect and
  replicate pads of the last two axes (``Conv2d(padding_mode="reflect")``) also take single-row slices + cat.
- ``slice_scatter`` (``out[..., a:b] = y`` into a zero spectrum, FNO; strided ``x[:, ::2] += y`` too) and
  ``select_scatter`` (``v[:, 0] /= n``) -> slices + cat; a functional
  ``copy`` of a same-shaped source -> the source; ``split``/``chunk`` -> slices.
- a strided slice ``x[:, ::s]`` -> a unit-step slice viewed as (blocks, s) and its first column.
- ``zeros_like``/``full_like(x, v)`` of a static shape (the zero imaginary part of ``x.to(torch.cfloat)``) -> a
  constant ``full``, folded, instead of a fill computed per inference outside the delegate.
- ``pow(x, 2.0)`` -> ``x * x`` (XNNPACK takes only an int exponent 2), and ``pow(sqrt(y), 2)`` -> ``y``
  (the power spectrum of a magnitude).
"""

from __future__ import annotations

import math
import operator
from functools import lru_cache
from typing import Any, cast

import numpy as np
import torch
from torch.export import ExportedProgram
from torch.fx import Node

from affdeploy.passes._graph import (
    aten,
    constant_nodes,
    constant_value,
    emit,
    has_static_shape,
    numel,
    replace,
    reshape,
    shape,
)
from affdeploy.passes.base import NodeRewrite, Rewrite

_BIG = 1e30
"""Turns a sign test into a 0/1 step with clamp; overflow to inf still clamps to the bound."""
_MAX_RUNS = 4


@lru_cache(maxsize=1)
def atan_coefficients() -> tuple[float, ...]:
    """c such that atan(a) ~= a * sum(c[k] * a^(2k)) on [0, 1] (least squares on Chebyshev nodes)."""
    nodes = 0.5 + 0.5 * np.cos(np.pi * (np.arange(400) + 0.5) / 400)  # u = a^2 in (0, 1)
    a = np.sqrt(nodes)
    return tuple(float(c) for c in np.polynomial.polynomial.polyfit(nodes, np.arctan(a) / a, 10))


class Log1pToLog(NodeRewrite):
    """``log1p(x)`` -> ``log(x + 1)``."""

    targets = frozenset({aten.log1p.default})

    def rewrite(self, node: Node) -> Node | None:
        shifted = emit(node.graph, aten.add.Tensor, (node.args[0], 1.0), node)
        return emit(node.graph, aten.log.default, (shifted,), node)


class Log10ToLog(NodeRewrite):
    """``log10(x)`` -> ``log(x) * (1 / ln 10)``."""

    targets = frozenset({aten.log10.default})

    def rewrite(self, node: Node) -> Node | None:
        natural = emit(node.graph, aten.log.default, (node.args[0],), node)
        return emit(node.graph, aten.mul.Tensor, (natural, 1.0 / math.log(10.0)), node)


class GlobalMaxToAmax(NodeRewrite):
    """``max(x)`` (every element) -> ``amax(x, all dims)``."""

    targets = frozenset({aten.max.default})

    def rewrite(self, node: Node) -> Node | None:
        x = node.args[0]
        if not has_static_shape(x):
            return None
        return emit(node.graph, aten.amax.default, (x, list(range(len(shape(x)))), False), node)


class Atan2ToPolynomial(NodeRewrite):
    """``atan2(y, x)`` on activations -> abs/min/max/div/clamp/mul/add (see module docstring)."""

    targets = frozenset({aten.atan2.default})
    activations_only = True

    def rewrite(self, node: Node) -> Node | None:
        y, x = cast(tuple[Node, Node], node.args[:2])
        return self._atan2(node.graph, node, y, x)

    @staticmethod
    def _atan2(graph: Any, like: Node, y: Node, x: Node) -> Node:
        def op(target: Any, *args: Any) -> Node:
            return emit(graph, target, args, like)

        ax, ay = op(aten.abs.default, x), op(aten.abs.default, y)
        low, high = op(aten.minimum.default, ax, ay), op(aten.maximum.default, ax, ay)
        ratio = op(aten.div.Tensor, low, op(aten.add.Tensor, high, float(torch.finfo(torch.float32).tiny)))
        square = op(aten.mul.Tensor, ratio, ratio)
        *rest, last = atan_coefficients()
        poly = op(aten.mul.Tensor, square, last)
        for c in reversed(rest[1:]):
            poly = op(aten.mul.Tensor, op(aten.add.Tensor, poly, c), square)
        angle = op(aten.mul.Tensor, op(aten.add.Tensor, poly, rest[0]), ratio)  # atan(low/high) in [0, pi/4]

        def reflect(value: Node, step: Node, about: float) -> Node:
            """value + step * (about - 2 value): picks ``about - value`` where step is 1."""
            delta = op(aten.add.Tensor, op(aten.mul.Tensor, value, -2.0), about)
            return op(aten.add.Tensor, value, op(aten.mul.Tensor, step, delta))

        steep = op(aten.clamp.default, op(aten.mul.Tensor, op(aten.sub.Tensor, ay, ax), _BIG), 0.0, 1.0)
        angle = reflect(angle, steep, math.pi / 2)  # |y| > |x|: pi/2 - atan(|x|/|y|)
        left = op(aten.clamp.default, op(aten.mul.Tensor, x, -_BIG), 0.0, 1.0)
        angle = reflect(angle, left, math.pi)  # x < 0: pi - angle
        sign = op(aten.clamp.default, op(aten.add.Tensor, op(aten.mul.Tensor, y, 2 * _BIG), 1.0), -1.0, 1.0)
        return op(aten.mul.Tensor, angle, sign)  # y >= 0: +, y < 0: -


def _runs(index: list[int]) -> list[tuple[int, int]]:
    """``index`` as maximal ascending runs ``[start, end)``."""
    runs: list[tuple[int, int]] = []
    for i in index:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def _join(pieces: list[Node], dim: int, node: Node) -> Node:
    """``pieces`` concatenated along ``dim``, with no cat for a single piece (a cat of one is a copy)."""
    return pieces[0] if len(pieces) == 1 else emit(node.graph, aten.cat.default, (pieces, dim), node)


class IndexSelectToSlices(Rewrite):
    """``index_select(x, dim, const)`` -> slices + cat when the index is a few ascending runs (roll)."""

    def apply(self, ep: ExportedProgram) -> int:
        constants = constant_nodes(ep)
        cache: dict[Node, Any] = {}
        count = 0
        for node in list(ep.graph.nodes):
            if node.target != aten.index_select.default or node in constants or node.args[2] not in constants:
                continue
            x, dim, index_node = node.args
            runs = _runs(constant_value(ep, index_node, cache).reshape(-1).tolist())
            if len(runs) > _MAX_RUNS:
                continue
            with ep.graph.inserting_before(node):
                pieces = [emit(ep.graph, aten.slice.Tensor, (x, dim, start, end), node) for start, end in runs]
                new = _join(pieces, dim, node)
            replace(node, new)
            count += 1
        return count


_EDGE_PAD_MODES = {
    aten.reflection_pad1d.default: "reflect", aten.reflection_pad2d.default: "reflect",
    aten.replication_pad1d.default: "replicate", aten.replication_pad2d.default: "replicate",
}


class EdgePadToCat(NodeRewrite):
    """``pad(x, mode="reflect"|"replicate")`` on the last one or two axes -> per axis, cat(edge, x, edge).

    ATen's own forms of these pads are gather indices (arange/abs/sub/index), which XNNPACK does not take.
    Axes are padded last one first, so the corners come from the already padded rows, as in ATen.
    """

    targets = frozenset({aten.pad.default, *_EDGE_PAD_MODES})

    def rewrite(self, node: Node) -> Node | None:
        x = cast(Node, node.args[0])
        spec = _edge_pads(node)
        if spec is None or not has_static_shape(x):
            return None
        mode, pads = spec
        for axis, (left, right) in enumerate(zip(pads[::2], pads[1::2], strict=True)):
            dim, size = -1 - axis, shape(x)[-1 - axis]
            if mode == "reflect":
                edges = (list(range(left, 0, -1)), list(range(size - 2, size - 2 - right, -1)))
            else:
                edges = ([0] * left, [size - 1] * right)
            pieces = [self._edge(node, x, dim, edges[0], mode), x, self._edge(node, x, dim, edges[1], mode)]
            x = _join([p for p in pieces if p is not None], dim, node)
        return x

    @staticmethod
    def _edge(like: Node, x: Node, dim: int, index: list[int], mode: str) -> Node | None:
        """``x`` at ``index`` along ``dim``: a reflected last-axis edge wider than one is a slice times a folded
        anti-identity (one linear, however wide: the stft's centre pad); other edges one slice per index and a
        cat (a conv's halo of a row or two)."""
        if not index:
            return None
        graph = like.graph
        if mode == "reflect" and dim == -1 and len(index) > 1:
            start, width = min(index), len(index)
            edge = emit(graph, aten.slice.Tensor, (x, -1, start, start + width), like)
            eye = emit(graph, aten.eye.default, (width,), like, dtype=x.meta["val"].dtype)
            flipped = emit(graph, aten.flip.default, (eye, [0]), like)
            return emit(graph, aten.linear.default, (edge, flipped), like)
        # One slice per position even where replicate repeats one: XNNPACK refuses a cat that lists a tensor twice.
        return _join([emit(graph, aten.slice.Tensor, (x, dim, i, i + 1), like) for i in index], dim, like)


def _edge_pads(node: Node) -> tuple[str, list[int]] | None:
    """(mode, pads) of a reflect/replicate pad of the last one or two axes, else None."""
    pads = list(cast(list[int], node.args[1]))
    if node.target == aten.pad.default:
        mode = node.args[2] if len(node.args) > 2 else node.kwargs.get("mode", "constant")
    else:
        mode = _EDGE_PAD_MODES[cast(Any, node.target)]
    return (cast(str, mode), pads) if mode in ("reflect", "replicate") and len(pads) in (2, 4) else None


class SquareToMul(NodeRewrite):
    """``pow(x, 2)`` -> ``x * x``; ``pow(sqrt(y), 2)`` -> ``y``."""

    targets = frozenset({aten.pow.Tensor_Scalar})

    def rewrite(self, node: Node) -> Node | None:
        base = node.args[0]
        if node.args[1] != 2:
            return None
        if isinstance(base, Node) and base.target == aten.sqrt.default:
            return cast(Node, base.args[0])
        return emit(node.graph, aten.mul.Tensor, (base, base), node)


class ScatterToCat(NodeRewrite):
    """``slice_scatter``/``select_scatter`` (in-place writes ``x[:, a:b] = y``, ``x[:, ::2] += y``,
    ``v[:, 0] /= n``) -> slices + cat; ``copy(d, s)`` of a same-shaped source -> s.

    XNNPACK has no scatter: each one is a CPU kernel that splits the graph into two delegate calls.
    """

    targets = frozenset({aten.copy.default, aten.slice_scatter.default, aten.select_scatter.default})

    def rewrite(self, node: Node) -> Node | None:
        dest, src = cast(tuple[Node, Node], node.args[:2])
        if node.target == aten.copy.default:
            same = isinstance(src, Node) and has_static_shape(src) and has_static_shape(dest)
            return src if same and shape(src) == shape(dest) and src.meta["val"].dtype == dest.meta["val"].dtype else None
        if not has_static_shape(dest):
            return None
        if node.target == aten.select_scatter.default:
            dim, index = cast(tuple[int, int], node.args[2:4])
            dim, index = dim % len(shape(dest)), index % shape(dest)[dim]
            row = emit(node.graph, aten.unsqueeze.default, (src, dim), node)
            return _scatter(node, dest, row, dim, range(index, index + 1))
        dim, start, end, step = cast(list[Any], [*node.args[2:], *(None,) * 4][:4])
        dim = dim or 0
        return _scatter(node, dest, src, dim, range(*slice(start, end, step).indices(shape(dest)[dim])))


def _scatter(node: Node, dest: Node, src: Node, dim: int, written: range) -> Node:
    """``dest`` with ``src`` written at the positions ``written`` of ``dim``, as slices and cats.

    A strided write works on ``dest`` viewed as (before, blocks, step, after): column 0 of each block is
    ``src``, the other columns ``dest``'s, so one cat per write whatever the stride, at rank 4.
    """
    graph, size, count = node.graph, shape(dest)[dim], len(written)
    if count == 0:
        return dest
    step = written.step
    if step == 1:
        pieces = [_cut(dest, dim, 0, written.start, node)] if written.start > 0 else []
        pieces.append(src)
        if written.stop < size:
            pieces.append(_cut(dest, dim, written.stop, size, node))
        return _join(pieces, dim, node)
    dim %= len(shape(dest))
    before, after = numel(shape(dest)[:dim]), numel(shape(dest)[dim + 1:])
    flat_dest = reshape(graph, dest, [before, size, after], node)
    flat_src = reshape(graph, src, [before, count, after], node)
    start = written.start
    blocks = min(count, (size - start) // step)  # whole blocks of ``step`` values; the last write may end short
    pieces = [_cut(flat_dest, 1, 0, start, node)] if start > 0 else []
    if blocks:
        grid = _grid(flat_dest, start, blocks, step, node)
        column = reshape(graph, _cut(flat_src, 1, 0, blocks, node), [before, blocks, 1, after], node)
        woven = emit(graph, aten.cat.default, ([column, _cut(grid, 2, 1, step, node)], 2), node)
        pieces.append(reshape(graph, woven, [before, blocks * step, after], node))
    if blocks < count:
        pieces.append(_cut(flat_src, 1, blocks, count, node))
    tail = start + blocks * step + count - blocks
    if tail < size:
        pieces.append(_cut(flat_dest, 1, tail, size, node))
    return reshape(graph, _join(pieces, 1, node), shape(dest), node)


def _cut(x: Node, dim: int, start: int, end: int, like: Node) -> Node:
    """``x[start:end]`` along ``dim``, unit step (the only slice XNNPACK takes)."""
    return emit(like.graph, aten.slice.Tensor, (x, dim, start, end), like)


def _grid(flat: Node, start: int, blocks: int, step: int, like: Node) -> Node:
    """``flat[:, start:start + blocks * step]`` of a (before, size, after) view as (before, blocks, step, after)."""
    before, _, after = shape(flat)
    return reshape(like.graph, _cut(flat, 1, start, start + blocks * step, like), [before, blocks, step, after], like)


class StridedSliceToGrid(NodeRewrite):
    """``x[:, a:b:s]`` (step > 1) -> a unit-step slice viewed as (blocks, s) and its first column.

    XNNPACK's slice takes unit steps only; a strided one stays a CPU kernel between two delegate calls.
    """

    targets = frozenset({aten.slice.Tensor})
    static_only = True

    def rewrite(self, node: Node) -> Node | None:
        x, dim, start, end, step = cast(list[Any], [*node.args, *(None,) * 5][:5])
        if step in (None, 1) or not has_static_shape(x):
            return None
        dim %= len(shape(x))
        read = range(*slice(start, end, step).indices(shape(x)[dim]))
        count, before, size, after = len(read), numel(shape(x)[:dim]), shape(x)[dim], numel(shape(x)[dim + 1:])
        if count == 0:
            return None
        graph = node.graph
        flat = reshape(graph, x, [before, size, after], node)
        blocks = min(count, (size - read.start) // read.step)
        pieces = []
        if blocks:
            column = _cut(_grid(flat, read.start, blocks, read.step, node), 2, 0, 1, node)
            pieces.append(reshape(graph, column, [before, blocks, after], node))
        if blocks < count:
            last = read.start + blocks * read.step
            pieces.append(_cut(flat, 1, last, last + 1, node))
        return reshape(graph, _join(pieces, 1, node), shape(node), node)


class SplitToSlices(Rewrite):
    """``split``/``split_with_sizes`` (torch.chunk) -> one slice per piece taken out with getitem."""

    def apply(self, ep: ExportedProgram) -> int:
        count = 0
        for node in list(ep.graph.nodes):
            if node.target not in (aten.split.Tensor, aten.split_with_sizes.default) or not has_static_shape(node.args[0]):
                continue
            x, sizes = node.args[:2]
            dim = node.args[2] if len(node.args) > 2 else node.kwargs.get("dim", 0)
            total = shape(x)[dim]
            if isinstance(sizes, int):
                sizes = [min(sizes, total - i) for i in range(0, total, sizes)]
            starts = [sum(sizes[:i]) for i in range(len(sizes))]
            users = list(node.users)
            if not all(u.target is operator.getitem for u in users):
                continue
            for user in users:
                i = user.args[1]
                with ep.graph.inserting_before(user):
                    replace(user, emit(ep.graph, aten.slice.Tensor, (x, dim, starts[i], starts[i] + sizes[i]), user))
            ep.graph.erase_node(node)
            count += 1
        return count


class FullLikeToFull(NodeRewrite):
    """``zeros_like``/``ones_like``/``full_like(x, v)`` of a static shape -> ``full(shape, v)``, a constant."""

    targets = frozenset({aten.zeros_like.default, aten.ones_like.default, aten.full_like.default})
    static_only = True

    def rewrite(self, node: Node) -> Node | None:
        known = {aten.zeros_like.default: 0.0, aten.ones_like.default: 1.0}.get(cast(Any, node.target))
        fill = cast(float, node.args[1]) if known is None else known
        return emit(node.graph, aten.full.default, (shape(node), fill), node, dtype=node.meta["val"].dtype)
