"""Means in the one form XNNPACK delegates: 4-D, reduced over dims 2 and 3, keepdim.

Any static mean (a pooled head, a norm's statistics) becomes a permute that puts the reduced dims
last, a view to (1, kept, reduced, 1), the delegated mean, and a view to the original result.
"""

from __future__ import annotations

from typing import cast

from torch.fx import Node

from affdeploy.passes._graph import aten, has_static_shape, numel, permute, reshape, shape
from affdeploy.passes.layout import ActivationRewrite
from affdeploy.passes.normalization import spatial_mean


def is_global_pool(node: Node) -> bool:
    """True if XNNPACK already takes this mean as it is."""
    dims = shape(node.args[0])
    reduced = sorted(d % len(dims) for d in cast(list[int], node.args[1])) if len(node.args) > 1 and node.args[1] else None
    keepdim = len(node.args) > 2 and bool(node.args[2])
    return len(dims) == 4 and reduced == [2, 3] and keepdim


class MeanToGlobalPool(ActivationRewrite):
    """``mean(x, dims)`` -> ``view(mean(view(permute(x)), [-1, -2], keepdim))``."""

    targets = frozenset({aten.mean.dim, aten.mean.default})

    def rewrite(self, node: Node) -> Node | None:
        x = cast(Node, node.args[0])
        if not has_static_shape(x) or node.kwargs.get("dtype") is not None or (
            node.target == aten.mean.dim and is_global_pool(node)
        ):
            return None
        dims = shape(x)
        rank = len(dims)
        given = cast(list[int], node.args[1]) if node.target == aten.mean.dim and len(node.args) > 1 else None
        reduced = sorted({d % rank for d in given}) if given else list(range(rank))
        kept = [d for d in range(rank) if d not in reduced]
        moved = permute(node.graph, x, kept + reduced, node)
        planes = reshape(node.graph, moved, [1, numel([dims[d] for d in kept]), numel([dims[d] for d in reduced]), 1], node)
        return reshape(node.graph, spatial_mean(node.graph, planes, node), shape(node), node)
