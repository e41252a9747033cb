"""Contractions against weights as convolutions and linear layers.

An einsum such as AFFNet's group-linear ``bkihw,kio->bkohw`` decomposes to ``bmm`` with
``expand_copy`` of the weight: neither the expand nor a bmm with a broadcast operand is delegated,
and XNNPACK only packs weights for convolution and fully-connected layers whose weight is a
constant. A contraction of an activation with a constant is exactly a (grouped) 1x1 convolution
over the activation's channel dims, or a linear layer when no spatial dims follow the channels.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch.export import ExportedProgram
from torch.fx import Graph, Node

from affdeploy.passes._graph import aten, constant_nodes, emit, has_static_shape, numel, permute, replace, reshape, shape
from affdeploy.passes.base import Rewrite


@dataclass(frozen=True)
class Contraction:
    """How the letters of ``x,w->out`` split: groups (k), contracted (i), x-only (lead/trail), w-only (o)."""

    x: str
    w: str
    out: str
    groups: str
    contracted: str
    lead: str
    trail: str
    produced: str

    @classmethod
    def parse(cls, x: str, w: str, out: str) -> Contraction | None:
        """None unless every letter is used once per operand and nothing is summed over one side only."""
        if any(len(set(term)) != len(term) for term in (x, w, out)) or not set(out) <= set(x) | set(w):
            return None
        groups = "".join(ch for ch in x if ch in w and ch in out)
        contracted = "".join(ch for ch in x if ch in w and ch not in out)
        free_x = [ch for ch in x if ch not in w]
        produced = "".join(ch for ch in w if ch not in x)
        if any(ch not in out for ch in free_x + list(produced)) or not contracted:
            return None
        first_channel = min(x.index(ch) for ch in groups + contracted)
        lead = "".join(ch for ch in free_x if x.index(ch) < first_channel)
        trail = "".join(ch for ch in free_x if x.index(ch) > first_channel)
        return cls(x, w, out, groups, contracted, lead, trail, produced)


def _sizes(letters: str, term: str, dims: list[int]) -> list[int]:
    return [dims[term.index(ch)] for ch in letters]


def _order(letters: str, term: str) -> list[int]:
    return [term.index(ch) for ch in letters]


def lower_contraction(graph: Graph, c: Contraction, x: Node, w: Node, like: Node) -> Node:
    """Emit the conv/linear form of ``einsum(c.x + ',' + c.w + '->' + c.out, x, w)``."""
    xd, wd = shape(x), shape(w)
    g, i, o = (numel(_sizes(s, t, d)) for s, t, d in ((c.groups, c.x, xd), (c.contracted, c.x, xd), (c.produced, c.w, wd)))
    lead, trail = _sizes(c.lead, c.x, xd), _sizes(c.trail, c.x, xd)
    if g == 1 and not trail:
        # Linear layer: x as (rows, i), weight as (o, i).
        rows = permute(graph, x, _order(c.lead + c.contracted, c.x), like)
        rows = reshape(graph, rows, [numel(lead), i], like)
        weight = reshape(graph, permute(graph, w, _order(c.produced + c.contracted, c.w), like), [o, i], like)
        y = emit(graph, aten.linear.default, (rows, weight), like)
    else:
        # Grouped 1x1 convolution: x as (lead, groups*i, trail, 1), weight as (groups*o, i, 1, 1).
        planes = permute(graph, x, _order(c.lead + c.groups + c.contracted + c.trail, c.x), like)
        planes = reshape(graph, planes, [numel(lead), g * i, numel(trail), 1], like)
        weight = permute(graph, w, _order(c.groups + c.produced + c.contracted, c.w), like)
        weight = reshape(graph, weight, [g * o, i, 1, 1], like)
        conv_args = (planes, weight, None, [1, 1], [0, 0], [1, 1], False, [0, 0], g)
        y = emit(graph, aten.convolution.default, conv_args, like)
    layout = c.lead + c.groups + c.produced + c.trail
    sizes = lead + _sizes(c.groups, c.x, xd) + _sizes(c.produced, c.w, wd) + trail
    y = reshape(graph, y, sizes, like)
    return permute(graph, y, _order(c.out, layout), like)


class ConstantEinsumToConv(Rewrite):
    """A two-operand einsum with one constant operand -> grouped 1x1 convolution or linear."""

    def apply(self, ep: ExportedProgram) -> int:
        graph = ep.graph
        constants = constant_nodes(ep)
        count = 0
        for node in list(graph.nodes):
            if node.target != aten.einsum.default or len(node.args[1]) != 2 or "..." in node.args[0]:
                continue
            lhs, out = node.args[0].replace(" ", "").split("->")
            terms = lhs.split(",")
            operands = list(node.args[1])
            if operands[0] in constants and operands[1] not in constants:
                terms.reverse()
                operands.reverse()
            if operands[1] not in constants or operands[0] in constants or not all(map(has_static_shape, operands)):
                continue
            contraction = Contraction.parse(terms[0], terms[1], out)
            if contraction is None:
                continue
            with graph.inserting_before(node):
                y = lower_contraction(graph, contraction, operands[0], operands[1], node)
            replace(node, y)
            count += 1
        return count


def _swap_last(rank: int) -> list[int]:
    return list(range(rank - 2)) + [rank - 1, rank - 2]


class ConstantMatmulToLinear(Rewrite):
    """``x @ W`` and ``W @ x`` with a 2-D constant ``W`` -> ``linear`` (a packed XNNPACK GEMM).

    A matmul of an N-D activation decomposes to ``expand_copy`` + ``bmm``; a constant on the left
    gives an ``mm`` whose weight is an activation. ``W @ x`` is computed as ``(x^T @ W^T)^T``.
    """

    def apply(self, ep: ExportedProgram) -> int:
        graph = ep.graph
        constants = constant_nodes(ep)
        count = 0
        for node in list(graph.nodes):
            if node.target not in (aten.matmul.default, aten.mm.default):
                continue
            a, b = node.args
            if not (has_static_shape(a) and has_static_shape(b)) or (a in constants) == (b in constants):
                continue
            weight, x = (b, a) if b in constants else (a, b)
            if len(shape(weight)) != 2 or len(shape(x)) < 2:
                continue
            rank = len(shape(x))
            with graph.inserting_before(node):
                if weight is b:
                    y = emit(graph, aten.linear.default, (x, permute(graph, weight, [1, 0], node)), node)
                else:
                    rows = permute(graph, x, _swap_last(rank), node)
                    y = permute(graph, emit(graph, aten.linear.default, (rows, weight), node), _swap_last(rank), node)
            replace(node, y)
            count += 1
        return count
