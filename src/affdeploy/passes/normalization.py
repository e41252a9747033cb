"""GroupNorm as moments that XNNPACK delegates.

XNNPACK has no group-norm operator; ``group_norm`` stays on the CPU and splits the graph at every
AFF block. Its only reduction, global average pooling, takes a 4-D tensor reduced over its last
two dims with ``keepdim`` — so the statistics are computed on a (N, G, C/G * H * W, 1) view.

AFFNet's norm has one group over a 4-D tensor (LayerNorm over channels). There the statistics are
means of per-channel spatial means instead: a global average pool over H and W is what XNNPACK runs
natively in its NHWC layout and splits across threads by channel, whereas the flat view forced a
layout transpose of the whole activation before and after every norm and reduced 10^5 elements on
one thread. The mean over channels of the pooled (N, C, 1, 1) tensor is a 1x1 convolution with
weights 1/C (a view to (N, 1, C, 1) and a second pool would cost XNNPACK two layout transposes per
moment); the variance's convolution adds ``eps`` as its bias. The affine scale is multiplied into
the (N, C, 1, 1) ``rstd`` so that the full-size tensor sees one multiply and one add, and when the
norm's only user is a 1x1 convolution without padding (AFFNet's MLP expansion and stage
projection) the affine folds into that convolution's weights and bias instead.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, cast

import torch
from torch.fx import Node
from torch.fx.operator_schemas import normalize_function

from affdeploy.passes._graph import aten, emit, has_static_shape, numel, replace, reshape, shape
from affdeploy.passes.base import NodeRewrite


def spatial_mean(graph: torch.fx.Graph, x: Node, like: Node) -> Node:
    """Mean over dims 2 and 3 of a 4-D tensor, keepdim: exactly XNNPACK's global average pool."""
    return emit(graph, aten.mean.dim, (x, [-1, -2], True), like)


def channel_mean(graph: torch.fx.Graph, x: Node, like: Node, shift: float = 0.0) -> Node:
    """Mean over H and W (a global pool), then over channels (a 1x1 conv), plus ``shift``: (N, 1, 1, 1)."""
    c = shape(x)[1]
    ones = emit(graph, aten.full.default, ([1, c, 1, 1], 1.0 / c), like, dtype=x.meta["val"].dtype)
    offset = emit(graph, aten.full.default, ([1], shift), like, dtype=x.meta["val"].dtype)
    conv_args = (spatial_mean(graph, x, like), ones, offset, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
    return emit(graph, aten.convolution.default, conv_args, like)


def pointwise_conv(value: Node, constants: set[Node]) -> Node | None:
    """The 1x1, unpadded, ungrouped convolution with constant weights that is ``value``'s only user.

    A per-channel affine of its input folds into it exactly (no padding: no border sees a zero
    instead of the shifted value).
    """
    users = list(value.users)
    if len(users) != 1 or users[0].target not in _CONVS:
        return None
    conv = users[0]
    args = _schema_args(conv)
    x, weight, bias, padding = args["input"], args["weight"], args["bias"], args["padding"]
    if x is not value or args.get("transposed") or args["groups"] != 1 or shape(weight)[2:] != [1, 1]:
        return None
    if padding == "same" or (not isinstance(padding, str) and any(padding)):
        return None
    return conv if weight in constants and (bias is None or bias in constants) else None


_CONVS = (aten.convolution.default, aten.conv2d.default)


def _schema_args(node: Node) -> dict[str, Any]:
    """Every argument of an ATen call, by its schema's names."""
    target = cast(Callable[..., Any], node.target)  # a call_function's
    normalized = normalize_function(target, node.args, node.kwargs, normalize_to_only_use_kwargs=True)
    assert normalized is not None  # ATen overloads always have a schema
    return normalized.kwargs


def fold_affine(graph: torch.fx.Graph, conv: Node, scale: Node | None, shift: Node | None, like: Node) -> None:
    """``conv(x * scale + shift)`` -> ``conv'(x)``: weights times ``scale``, ``W @ shift`` added to the bias."""
    args = _schema_args(conv)
    weight, bias = args["weight"], args["bias"]
    c = shape(weight)[1]
    new_weight = weight
    if scale is not None:
        new_weight = emit(graph, aten.mul.Tensor, (weight, reshape(graph, scale, [1, c, 1, 1], like)), like)
    new_bias = bias
    if shift is not None:
        moved = emit(graph, aten.mul.Tensor, (weight, reshape(graph, shift, [1, c, 1, 1], like)), like)
        moved = emit(graph, aten.sum.dim_IntList, (moved, [1, 2, 3]), like)
        new_bias = moved if bias is None else emit(graph, aten.add.Tensor, (bias, moved), like)
    conv.args, conv.kwargs = tuple({**args, "weight": new_weight, "bias": new_bias}.values()), {}


def layer_norm_2d(graph: torch.fx.Graph, x: Node, weight: Node | None, bias: Node | None, eps: float, like: Node,
                  into: Node | None = None) -> Node:
    """One-group GroupNorm of a 4-D tensor from per-channel pools; the affine goes into ``into`` (a conv) if given."""
    c = shape(x)[1]
    centred = emit(graph, aten.sub.Tensor, (x, channel_mean(graph, x, like)), like)
    variance = channel_mean(graph, emit(graph, aten.mul.Tensor, (centred, centred), like), like, shift=eps)
    scale = emit(graph, aten.rsqrt.default, (variance,), like)
    if into is not None:
        fold_affine(graph, into, weight, bias, like)
        return emit(graph, aten.mul.Tensor, (centred, scale), like)
    if weight is not None:
        scale = emit(graph, aten.mul.Tensor, (scale, reshape(graph, weight, [1, c, 1, 1], like)), like)
    out = emit(graph, aten.mul.Tensor, (centred, scale), like)
    if bias is not None:
        out = emit(graph, aten.add.Tensor, (out, reshape(graph, bias, [1, c, 1, 1], like)), like)
    return out


def group_norm(graph: torch.fx.Graph, x: Node, groups: int, weight: Node | None, bias: Node | None, eps: float, like: Node,
               into: Node | None = None) -> Node:
    """Emit GroupNorm from means, a subtraction, rsqrt and a (1, C, 1, 1) affine (folded into ``into`` for one group)."""
    dims = shape(x)
    if groups == 1 and len(dims) == 4:
        return layer_norm_2d(graph, x, weight, bias, eps, like, into)
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


class GroupNormToMoments(NodeRewrite):
    """``group_norm`` / ``native_group_norm`` -> mean, centred mean of squares, rsqrt, affine."""

    targets = frozenset({aten.group_norm.default, aten.native_group_norm.default})

    def rewrite(self, node: Node) -> Node | None:
        if not has_static_shape(node.args[0]):
            return None
        args = _schema_args(node)
        groups = args["num_groups"] if node.target == aten.group_norm.default else args["group"]
        users = list(node.users) if node.target == aten.native_group_norm.default else []
        # native_group_norm's mean and rstd outputs are only used in training graphs.
        if not all(u.target == operator.getitem and u.args[1] == 0 for u in users):
            return None
        into = pointwise_conv(users[0] if len(users) == 1 else node, self.constants)
        out = group_norm(node.graph, args["input"], groups, args["weight"], args["bias"], args["eps"], node, into)
        for user in users:
            replace(user, out)
        return out
