"""Shape plumbing in the forms XNNPACK delegates.

XNNPACK takes ``view_copy``, ``slice_copy``, ``permute_copy`` and ``cat`` but not ``select_copy``,
``squeeze_copy``, ``unsqueeze_copy`` (except on the last dim) or ``expand_copy``. On activations
these are rewritten into the delegated forms; on weights they are left for constant folding.
"""

from __future__ import annotations

from typing import cast

from torch.fx import Node

from affdeploy.passes._graph import aten, emit, has_static_shape, reshape, shape
from affdeploy.passes.base import NodeRewrite

_RESHAPES = {
    aten.squeeze.default,
    aten.squeeze.dim,
    aten.squeeze.dims,
    aten.unsqueeze.default,
}


class ActivationRewrite(NodeRewrite):
    """Base for rewrites of statically shaped activations: constants are folded instead, whatever op made them."""

    activations_only = True
    static_only = True


class SelectToSlice(ActivationRewrite):
    """``select(x, d, i)`` -> ``view(slice(x, d, i, i + 1))``."""

    targets = frozenset({aten.select.int})

    def rewrite(self, node: Node) -> Node | None:
        x, dim, index = cast(tuple[Node, int, int], node.args)
        size = shape(x)[dim]
        index = index % size
        piece = emit(node.graph, aten.slice.Tensor, (x, dim, index, index + 1), node)
        return reshape(node.graph, piece, shape(node), node)


class ReshapeToView(ActivationRewrite):
    """squeeze / unsqueeze of a static shape -> ``view`` (they only add or drop size-1 dims)."""

    targets = frozenset(_RESHAPES)

    def rewrite(self, node: Node) -> Node | None:
        x = node.args[0]
        if not has_static_shape(x):
            return None
        return emit(node.graph, aten.view.default, (x, shape(node)), node)


class StackToCat(ActivationRewrite):
    """``stack(ts, d)`` -> ``cat([view(t) ...], d)`` (cat takes at least two inputs)."""

    targets = frozenset({aten.stack.default})

    def rewrite(self, node: Node) -> Node | None:
        tensors = cast(list[Node], node.args[0])
        if len(tensors) < 2 or not all(map(has_static_shape, tensors)):
            return None
        dim = cast(int, node.args[1]) if len(node.args) > 1 else 0
        dim = dim % len(shape(node))
        pieces = []
        for t in tensors:
            dims = shape(t)
            pieces.append(reshape(node.graph, t, dims[:dim] + [1] + dims[dim:], node))
        return emit(node.graph, aten.cat.default, (pieces, dim), node)


class DropNoOpExpand(ActivationRewrite):
    """``expand`` (or ``expand_copy``) to the shape the tensor already has -> the tensor itself."""

    targets = frozenset({aten.expand.default, aten.expand_copy.default})

    def rewrite(self, node: Node) -> Node | None:
        x = cast(Node, node.args[0])
        return x if has_static_shape(x) and shape(x) == shape(node) else None
