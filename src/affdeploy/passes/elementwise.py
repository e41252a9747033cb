"""Elementwise chains run once on a convolution's output, in its own layout.

AFFNet's filter MLP gives, between its two grouped 1x1 convolutions: ``view`` to (b, k, 2o, h, w),
the real and imaginary halves sliced apart, the same bias add and SiLU on each half (with different
biases), ``cat`` of the halves, and a ``view`` back to the convolution layout. Elementwise ops
commute with slicing and with views, so the same result is the chain applied once to the whole
convolution output with the constants concatenated and reshaped to match. XNNPACK then keeps the
tensor in its NHWC layout from one convolution to the next: no layout transposes (view_copy needs
NCHW), no slices, no cat, and half as many elementwise operators.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch.export import ExportedProgram
from torch.fx import Graph, Node

from affdeploy.passes._graph import aten, constant_nodes, constant_value, emit, has_static_shape, replace, shape
from affdeploy.passes.base import Rewrite

ELEMENTWISE = frozenset({
    aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor, aten.silu.default, aten.sigmoid.default,
    aten.tanh.default, aten.relu.default, aten.clamp.default, aten.neg.default, aten.abs.default,
})
_VIEWS = frozenset({aten.view.default, aten.reshape.default})


def chain(end: Node, constants: set[Node]) -> tuple[list[Node], Node] | None:
    """The elementwise nodes that compute ``end`` from ONE non-constant input (in graph order), and that input.

    None unless every node is elementwise with static shapes and only ``end`` is used outside the chain.
    """
    body: list[Node] = []
    leaves: set[Node] = set()
    stack = [end]
    while stack:
        node = stack.pop()
        if node in body:
            continue
        if node.target not in ELEMENTWISE or not has_static_shape(node):
            leaves.add(node)
            continue
        body.append(node)
        stack.extend(n for n in node.all_input_nodes if n not in constants)
    if len(leaves) != 1 or not body or any(u not in body for n in body if n is not end for u in n.users):
        return None
    order = {n: i for i, n in enumerate(end.graph.nodes)}
    return sorted(body, key=order.__getitem__), leaves.pop()


def _same(u: Any, v: Any, leaves: tuple[Node, Node], constants: set[Node], pairs: list[tuple[Node, Node]]) -> bool:
    """True when ``u`` (from one half's chain) and ``v`` (the other's) compute alike; constants paired up."""
    if isinstance(u, Node) and isinstance(v, Node):
        if (u, v) == leaves:
            return True
        if u in constants and v in constants:
            pairs.append((u, v))
            return shape(u) == shape(v)
        return (u.target == v.target and u.target in ELEMENTWISE and u.kwargs == v.kwargs and len(u.args) == len(v.args)
                and all(_same(a, b, leaves, constants, pairs) for a, b in zip(u.args, v.args, strict=True)))
    return not isinstance(u, Node) and not isinstance(v, Node) and u == v


def _rebuild(graph: Graph, body: list[Node], leaf: Node, start: Node, constant: dict[Node, Node], like: Node) -> Node:
    """``body`` (computing from ``leaf``) emitted again from ``start``, constants swapped by ``constant``."""
    new: dict[Node, Node] = {leaf: start, **constant}
    for node in body:
        args = torch.fx.node.map_arg(node.args, lambda n: new.get(n, n))
        new[node] = emit(graph, node.target, args, like, **node.kwargs)
    return new[body[-1]]


def _halves(node: Node) -> tuple[Node, int, int] | None:
    """``(source, dim, start)`` of a step-1 slice with a non-negative start."""
    if node.target != aten.slice.Tensor or (len(node.args) > 4 and node.args[4] not in (None, 1)):
        return None
    x, dim, start = (list(node.args) + [0, 0])[:3]
    if not isinstance(x, Node) or not has_static_shape(x) or not isinstance(start, int) or start < 0:
        return None
    return x, cast(int, dim) % len(shape(x)), start


class MergeSplitChains(Rewrite):
    """``cat([f(x[.., :o]), f'(x[.., o:])], d)`` with f, f' the same elementwise chain -> ``f''(x)``.

    f'' is f with each constant replaced by the concatenation of f's and f''s (broadcast to the half
    size along d first), so both halves see exactly the values they saw before.
    """

    def apply(self, ep: ExportedProgram) -> int:
        graph = ep.graph
        constants = constant_nodes(ep)
        count = 0
        for cat in list(graph.nodes):
            if cat.target != aten.cat.default or len(cat.args[0]) != 2 or not has_static_shape(cat):
                continue
            dim = (cat.args[1] if len(cat.args) > 1 else 0) % len(shape(cat))
            found_a, found_b = (chain(part, constants) for part in cat.args[0])
            if found_a is None or found_b is None:
                continue
            (body_a, leaf_a), (_, leaf_b) = found_a, found_b
            cut_a, cut_b = _halves(leaf_a), _halves(leaf_b)
            if cut_a is None or cut_b is None or cut_a[0] is not cut_b[0] or {cut_a[1], cut_b[1]} != {dim}:
                continue
            source = cut_a[0]
            half = shape(leaf_a)[dim]
            if cut_a[2] != 0 or cut_b[2] != half or shape(source) != shape(cat):
                continue
            pairs: list[tuple[Node, Node]] = []
            if not _same(cat.args[0][0], cat.args[0][1], (leaf_a, leaf_b), constants, pairs):
                continue
            partner: dict[Node, Node] = {}
            if any(partner.setdefault(a, b) is not b for a, b in pairs):  # one constant, two partners
                continue
            with graph.inserting_before(cat):
                joined = {a: self._join(graph, a, b, dim, shape(leaf_a), cat) for a, b in partner.items()}
                out = _rebuild(graph, body_a, leaf_a, source, joined, cat)
            replace(cat, out)
            count += 1
        return count

    @staticmethod
    def _join(graph: Graph, a: Node, b: Node, dim: int, half: list[int], like: Node) -> Node:
        """Constants ``a`` and ``b`` (broadcastable to ``half``) side by side along ``dim`` at full rank."""
        pieces = []
        for c in (a, b):
            full = [1] * (len(half) - len(shape(c))) + shape(c)
            c = emit(graph, aten.view.default, (c, full), like) if full != shape(c) else c
            if full[dim] != half[dim]:
                full[dim] = half[dim]
                c = emit(graph, aten.expand.default, (c, full), like)
            pieces.append(c)
        return emit(graph, aten.cat.default, (pieces, dim), like)


class ChainThroughView(Rewrite):
    """``view(f(view(x, s)), shape(x))`` with f elementwise -> ``f'(x)``, constants reshaped to x's layout.

    Each constant is broadcast to ``s``, reshaped to ``x``'s shape, and cut back to size 1 along every
    dim where it does not vary (a per-channel bias stays a (1, C, 1, 1) constant).
    """

    def apply(self, ep: ExportedProgram) -> int:
        graph = ep.graph
        constants = constant_nodes(ep)
        cache: dict[Node, Any] = {}
        count = 0
        for outer in list(graph.nodes):
            if outer.target not in _VIEWS or not has_static_shape(outer) or outer.args[0] in constants:
                continue
            found = chain(outer.args[0], constants)
            if found is None:
                continue
            body, inner = found
            if (inner.target not in _VIEWS or len(outer.args[0].users) != 1 or not has_static_shape(inner.args[0])
                    or shape(inner.args[0]) != shape(outer)):
                continue
            used = {n for node in body for n in node.all_input_nodes if n in constants}
            cuts = {c: self._cuts(constant_value(ep, c, cache), shape(inner), shape(outer)) for c in used}
            found_cuts = {c: cut for c, cut in cuts.items() if cut is not None}
            if len(found_cuts) != len(cuts):
                continue
            with graph.inserting_before(outer):
                moved = {c: self._moved(graph, c, shape(inner), shape(outer), found_cuts[c], outer) for c in used}
                out = _rebuild(graph, body, inner, cast(Node, inner.args[0]), moved, outer)
            replace(outer, out)
            count += 1
        return count

    @staticmethod
    def _cuts(value: torch.Tensor, viewed: list[int], target: list[int]) -> list[int] | None:
        """Dims along which ``value`` moved to ``target``'s layout does not vary; None if it would still grow."""
        moved = value.expand(viewed).reshape(target)
        dims = []
        for dim, size in enumerate(target):
            if size > 1 and torch.equal(moved, moved.narrow(dim, 0, 1).expand_as(moved)):
                moved = moved.narrow(dim, 0, 1)
                dims.append(dim)
        return dims if moved.numel() <= value.numel() else None

    @staticmethod
    def _moved(graph: Graph, c: Node, viewed: list[int], target: list[int], cuts: list[int], like: Node) -> Node:
        node = emit(graph, aten.reshape.default, (emit(graph, aten.expand.default, (c, viewed), like), target), like)
        for dim in cuts:
            node = emit(graph, aten.slice.Tensor, (node, dim, 0, 1), like)
        return node
