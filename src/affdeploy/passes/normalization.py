"""GroupNorm as moments that XNNPACK delegates.

XNNPACK has no group-norm operator; ``group_norm`` stays on the CPU and splits the graph at every
AFF block. Its only reduction, global average pooling, takes a 4-D tensor reduced over its last
two dims with ``keepdim`` — so the statistics are computed on a (N, G, C/G * H * W, 1) view.

AFFNet's norm has one group over a 4-D tensor (LayerNorm over channels). There the statistics are
means of per-channel spatial means instead: a global average pool over H and W is what XNNPACK runs
natively in its NHWC layout and splits across threads by channel, whereas the flat view forced a
layout transpose of the whole activation before and after every norm and reduced 10^5 elements on
one thread. The affine scale is multiplied into the (N, C, 1, 1) ``rstd`` so that the full-size
tensor sees one multiply and one add.
"""

from __future__ import annotations

import operator

import torch
from torch.export import ExportedProgram
from torch.fx import Node
from torch.fx.operator_schemas import normalize_function

from affdeploy.passes._graph import aten, emit, has_static_shape, numel, replace, reshape, shape
from affdeploy.passes.base import Rewrite


def spatial_mean(graph: torch.fx.Graph, x: Node, like: Node) -> Node:
    """Mean over dims 2 and 3 of a 4-D tensor, keepdim: exactly XNNPACK's global average pool."""
    return emit(graph, aten.mean.dim, (x, [-1, -2], True), like)


def channel_mean(graph: torch.fx.Graph, x: Node, like: Node) -> Node:
    """Mean over channels, then H and W, of a 4-D tensor: (N, 1, 1, 1), two global pools."""
    n, c = shape(x)[:2]
    pooled = spatial_mean(graph, x, like)
    return spatial_mean(graph, reshape(graph, pooled, [n, 1, c, 1], like), like)


def layer_norm_2d(graph: torch.fx.Graph, x: Node, weight: Node | None, bias: Node | None, eps: float, like: Node) -> Node:
    """One-group GroupNorm of a 4-D tensor from per-channel pools, with the scale folded into rstd."""
    c = shape(x)[1]
    centred = emit(graph, aten.sub.Tensor, (x, channel_mean(graph, x, like)), like)
    variance = channel_mean(graph, emit(graph, aten.mul.Tensor, (centred, centred), like), like)
    scale = emit(graph, aten.rsqrt.default, (emit(graph, aten.add.Tensor, (variance, eps), like),), like)
    if weight is not None:
        scale = emit(graph, aten.mul.Tensor, (scale, reshape(graph, weight, [1, c, 1, 1], like)), like)
    out = emit(graph, aten.mul.Tensor, (centred, scale), like)
    if bias is not None:
        out = emit(graph, aten.add.Tensor, (out, reshape(graph, bias, [1, c, 1, 1], like)), like)
    return out


def group_norm(graph: torch.fx.Graph, x: Node, groups: int, weight: Node | None, bias: Node | None, eps: float, like: Node) -> Node:
    """Emit GroupNorm from means, a subtraction, rsqrt and a (1, C, 1, 1) affine."""
    dims = shape(x)
    if groups == 1 and len(dims) == 4:
        return layer_norm_2d(graph, x, weight, bias, eps, like)
    n, c = dims[0], dims[1]
    grouped = reshape(graph, x, [n, groups, numel(dims) // (n * groups), 1], like)
    centred = emit(graph, aten.sub.Tensor, (grouped, spatial_mean(graph, grouped, like)), like)
    variance = spatial_mean(graph, emit(graph, aten.mul.Tensor, (centred, centred), like), like)
    rstd = emit(graph, aten.rsqrt.default, (emit(graph, aten.add.Tensor, (variance, eps), like),), like)
    out = reshape(graph, emit(graph, aten.mul.Tensor, (centred, rstd), like), dims, like)
    channel_shape = [1, c] + [1] * (len(dims) - 2)
    if weight is not None:
        out = emit(graph, aten.mul.Tensor, (out, reshape(graph, weight, channel_shape, like)), like)
    if bias is not None:
        out = emit(graph, aten.add.Tensor, (out, reshape(graph, bias, channel_shape, like)), like)
    return out


class GroupNormToMoments(Rewrite):
    """``group_norm`` / ``native_group_norm`` -> mean, centred mean of squares, rsqrt, affine."""

    def apply(self, ep: ExportedProgram) -> int:
        graph = ep.graph
        count = 0
        for node in list(graph.nodes):
            if node.target not in (aten.group_norm.default, aten.native_group_norm.default):
                continue
            if not has_static_shape(node.args[0]):
                continue
            args = normalize_function(node.target, node.args, node.kwargs, normalize_to_only_use_kwargs=True).kwargs
            groups = args["num_groups"] if node.target == aten.group_norm.default else args["group"]
            users = list(node.users) if node.target == aten.native_group_norm.default else []
            # native_group_norm's mean and rstd outputs are only used in training graphs.
            if not all(u.target == operator.getitem and u.args[1] == 0 for u in users):
                continue
            with graph.inserting_before(node):
                out = group_norm(graph, args["input"], groups, args["weight"], args["bias"], args["eps"], node)
            for user in users:
                replace(user, out)
            replace(node, out)
            count += 1
        return count
