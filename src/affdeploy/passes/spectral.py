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
  as slices times a constant anti-identity (a linear) and a cat, instead of gather indices.
- ``slice_scatter`` (``out[..., a:b] = y`` into a zero spectrum, FNO) -> slices + cat; a functional
  ``copy`` of a same-shaped source -> the source; ``split``/``chunk`` -> slices.
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

from affdeploy.passes._graph import aten, constant_nodes, constant_value, emit, has_static_shape, replace, shape
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


class ReflectPadToLinear(NodeRewrite):
    """``pad(x, [l, r], mode="reflect")`` on the last axis -> cat(edge @ J, x, edge @ J)."""

    targets = frozenset({aten.pad.default, aten.reflection_pad1d.default})

    def rewrite(self, node: Node) -> Node | None:
        pads = _reflect_pads(node)
        if pads is None or not has_static_shape(node.args[0]):
            return None
        x, (left, right) = cast(Node, node.args[0]), pads
        size = shape(x)[-1]
        pieces = [self._mirror(node.graph, node, x, 1, left)] if left else []
        pieces.append(x)
        if right:
            pieces.append(self._mirror(node.graph, node, x, size - 1 - right, right))
        return emit(node.graph, aten.cat.default, (pieces, -1), node)

    @staticmethod
    def _mirror(graph: Any, like: Node, x: Node, start: int, width: int) -> Node:
        """x[..., start:start + width] reversed, as a linear against a folded anti-identity."""
        edge = emit(graph, aten.slice.Tensor, (x, -1, start, start + width), like)
        eye = emit(graph, aten.eye.default, (width,), like, dtype=x.meta["val"].dtype)
        flipped = emit(graph, aten.flip.default, (eye, [0]), like)
        return emit(graph, aten.linear.default, (edge, flipped), like)


def _reflect_pads(node: Node) -> tuple[int, int] | None:
    if node.target == aten.pad.default:
        mode = node.args[2] if len(node.args) > 2 else node.kwargs.get("mode", "constant")
        pads = cast(list[int], node.args[1])
        return (pads[0], pads[1]) if mode == "reflect" and len(pads) == 2 else None
    if node.target == aten.reflection_pad1d.default:
        pads = cast(list[int], node.args[1])
        return pads[0], pads[1]
    return None


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
    """``slice_scatter(dest, src, dim, a, b)`` (step 1) -> cat(dest[a0:a], src, dest[b:]); ``copy(d, s)`` -> s."""

    targets = frozenset({aten.copy.default, aten.slice_scatter.default})

    def rewrite(self, node: Node) -> Node | None:
        if node.target == aten.copy.default:
            dest, src = cast(tuple[Node, Node], node.args[:2])
            same = isinstance(src, Node) and has_static_shape(src) and has_static_shape(dest)
            return src if same and shape(src) == shape(dest) and src.meta["val"].dtype == dest.meta["val"].dtype else None
        dest, src, dim, start, end, step = cast(list[Any], [*node.args, *(None,) * 6][:6])
        if step not in (None, 1) or not has_static_shape(dest):
            return None
        size = shape(dest)[dim]
        start, end = slice(start, end).indices(size)[:2]
        pieces = [emit(node.graph, aten.slice.Tensor, (dest, dim, 0, start), node)] if start > 0 else []
        pieces.append(src)
        if end < size:
            pieces.append(emit(node.graph, aten.slice.Tensor, (dest, dim, end, size), node))
        return _join(pieces, dim, node)


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
