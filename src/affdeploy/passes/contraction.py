"""Contractions against weights as convolutions and linear layers.

An einsum such as AFFNet's group-linear ``bkihw,kio->bkohw`` decomposes to ``bmm`` with
``expand_copy`` of the weight: neither the expand nor a bmm with a broadcast operand is delegated,
and XNNPACK only packs weights for convolution and fully-connected layers whose weight is a
constant. A contraction of an activation with a constant is exactly a (grouped) 1x1 convolution
over the activation's channel dims, or a linear layer when no spatial dims follow the channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from torch.export import ExportedProgram
from torch.fx import Graph, Node

from affdeploy.passes._graph import aten, constant_nodes, emit, has_static_shape, numel, permute, replace, reshape, shape
from affdeploy.passes.base import NodeRewrite, Rewrite


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


class ConstantEinsumToConv(NodeRewrite):
    """A two-operand einsum with one constant operand -> grouped 1x1 convolution or linear."""

    targets = frozenset({aten.einsum.default})

    def rewrite(self, node: Node) -> Node | None:
        equation, operands = cast(tuple[str, list[Node]], node.args[:2])
        if len(operands) != 2 or "..." in equation:
            return None
        lhs, out = equation.replace(" ", "").split("->")
        terms = lhs.split(",")
        operands = list(operands)
        constants = self.constants
        if operands[0] in constants and operands[1] not in constants:
            terms.reverse()
            operands.reverse()
        if operands[1] not in constants or operands[0] in constants or not all(map(has_static_shape, operands)):
            return None
        contraction = Contraction.parse(terms[0], terms[1], out)
        if contraction is None:
            return None
        return lower_contraction(node.graph, contraction, operands[0], operands[1], node)


def _swap_last(rank: int) -> list[int]:
    return list(range(rank - 2)) + [rank - 1, rank - 2]


class ConstantMatmulToLinear(NodeRewrite):
    """``x @ W`` and ``W @ x`` with a 2-D constant ``W`` -> ``linear`` (a packed XNNPACK GEMM).

    A matmul of an N-D activation decomposes to ``expand_copy`` + ``bmm``; a constant on the left
    gives an ``mm`` whose weight is an activation. ``W @ x`` is computed as ``(x^T @ W^T)^T``.
    """

    targets = frozenset({aten.matmul.default, aten.mm.default})

    def rewrite(self, node: Node) -> Node | None:
        graph = node.graph
        a, b = cast(tuple[Node, Node], node.args)
        if not (has_static_shape(a) and has_static_shape(b)) or (a in self.constants) == (b in self.constants):
            return None
        weight, x = (b, a) if b in self.constants else (a, b)
        if len(shape(weight)) != 2 or len(shape(x)) < 2:
            return None
        if weight is b:
            return emit(graph, aten.linear.default, (x, permute(graph, weight, [1, 0], node)), node)
        swap = _swap_last(len(shape(x)))
        return permute(graph, emit(graph, aten.linear.default, (permute(graph, x, swap, node), weight), node), swap, node)


def _einsum_parts(node: object, constants: set[Node]) -> tuple[str, Node, Node] | None:
    """``(equation, activation, weight)`` of a two-operand einsum written activation first, weight constant."""
    if not isinstance(node, Node) or node.target != aten.einsum.default:
        return None
    equation, operands = cast(str, node.args[0]), cast(list[Node], node.args[1])
    if len(operands) != 2:
        return None
    x, w = operands
    if x in constants or w not in constants or not (has_static_shape(x) and has_static_shape(w)):
        return None
    return equation.replace(" ", ""), x, w


class ComplexEinsumToOne(Rewrite):
    """A complex product by a constant, written out in real parts, -> one einsum of twice the width.

    ``re = A@W0 - B@W1`` and ``im = B@W0 + A@W1`` (AFFNet's complex group-linear MLP) cost four
    contractions, two elementwise ops and, in XNNPACK, a layout transpose around each contraction.
    Concatenating ``[A, B]`` along the contracted letter and using the constant block weight
    ``[[W0, W1], [-W1, W0]]`` gives ``[re, im]`` from one contraction with the same MACs; the halves
    are slices of it.
    """

    def apply(self, ep: ExportedProgram) -> int:
        graph = ep.graph
        constants = constant_nodes(ep)
        count = 0
        for sub in list(graph.nodes):
            if sub.target != aten.sub.Tensor or len(sub.args) != 2:
                continue
            left, right = (_einsum_parts(a, constants) for a in sub.args)
            if left is None or right is None or left[0] != right[0]:
                continue
            equation, a, w0 = left
            _, b, w1 = right
            add = self._imaginary(sub, equation, a, b, w0, w1, constants)
            x_term, w_term = equation.split("->")[0].split(",")
            out_term = equation.split("->")[1]
            contraction = Contraction.parse(x_term, w_term, out_term)
            if add is None or contraction is None or len(contraction.contracted) != 1 or len(contraction.produced) != 1:
                continue
            i_x, i_w = x_term.index(contraction.contracted), w_term.index(contraction.contracted)
            o_w, o_out = w_term.index(contraction.produced), out_term.index(contraction.produced)
            o = shape(w0)[o_w]
            nodes = list(graph.nodes)  # the imaginary add may come first (FNO's einsums do): insert before both
            with graph.inserting_before(sub if nodes.index(sub) < nodes.index(add) else add):
                x = emit(graph, aten.cat.default, ([a, b], i_x), sub)
                top = emit(graph, aten.cat.default, ([w0, w1], o_w), sub)
                bottom = emit(graph, aten.cat.default, ([emit(graph, aten.neg.default, (w1,), sub), w0], o_w), sub)
                weight = emit(graph, aten.cat.default, ([top, bottom], i_w), sub)
                both = emit(graph, aten.einsum.default, (equation, [x, weight]), sub)
                re = emit(graph, aten.slice.Tensor, (both, o_out, 0, o), sub)
                im = emit(graph, aten.slice.Tensor, (both, o_out, o, 2 * o), add)
            replace(sub, re)
            replace(add, im)
            count += 1
        return count

    @staticmethod
    def _imaginary(sub: Node, equation: str, a: Node, b: Node, w0: Node, w1: Node, constants: set[Node]) -> Node | None:
        """The ``add`` of ``B@W0`` and ``A@W1`` (either order) that completes ``sub``'s complex product."""
        for user in b.users:
            for add in user.users:
                if add.target != aten.add.Tensor or len(add.args) != 2:
                    continue
                p, q = (_einsum_parts(arg, constants) for arg in add.args)
                if p is None or q is None or p[0] != equation or q[0] != equation:
                    continue
                for (_, x0, v0), (_, x1, v1) in ((p, q), (q, p)):
                    if x0 is b and x1 is a and _same_value(v0, w0) and _same_value(v1, w1):
                        return add
        return None


def _same_value(p: object, q: object) -> bool:
    """True when two graph arguments compute the same thing (e.g. two ``select(w, 0, 1)`` nodes)."""
    if isinstance(p, Node) and isinstance(q, Node):
        if p is q:
            return True
        return (p.op == q.op == "call_function" and p.target == q.target and len(p.args) == len(q.args)
                and all(_same_value(x, y) for x, y in zip(p.args, q.args, strict=True)) and p.kwargs == q.kwargs)
    if isinstance(p, (list, tuple)) and isinstance(q, (list, tuple)):
        return len(p) == len(q) and all(_same_value(x, y) for x, y in zip(p, q, strict=True))
    return not isinstance(p, Node) and not isinstance(q, Node) and p == q
