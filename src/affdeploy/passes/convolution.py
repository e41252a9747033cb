"""3-D convolutions as 2-D ones, which XNNPACK takes.

XNNPACK has no 3-D convolution, and ExecuTorch's CPU convolution kernel handles only 1-D and 2-D
(a ``conv3d`` left outside the delegate fails at run time with error 0x12). A pointwise ``Conv3d``
(3-D neural operators' channel mixing) is a 1x1 ``conv2d`` on the same memory viewed as (N, C, D, H*W);
any other is, per depth tap ``j`` of the kernel, a ``conv2d`` of the depth slices that tap reads, folded
into the batch, summed over the taps.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch.fx import Node

from affdeploy.passes._graph import aten, emit, permute, reshape, shape
from affdeploy.passes.base import NodeRewrite

_DEPTH_FIRST = [0, 2, 1, 3, 4]
"""(N, C, D, H, W) <-> (N, D, C, H, W): its own inverse."""


def _triple(value: Any) -> list[int]:
    return [int(value)] * 3 if isinstance(value, int) else [int(v) for v in value] * (3 // len(value))


class Conv3dToConv2d(NodeRewrite):
    """``conv3d`` with a constant weight on a static input -> 2-D convolutions (see module docstring)."""

    targets = frozenset({aten.conv3d.default})
    static_only = True

    def rewrite(self, node: Node) -> Node | None:
        args: list[Any] = [*node.args, *(None, 1, 0, 1, 1)[len(node.args) - 2:]]  # conv3d's defaults
        x, weight, bias, stride, padding, dilation, groups = args
        if weight not in self.constants:
            return None
        stride, padding, dilation = _triple(stride), _triple(padding), _triple(dilation)
        n, c, depth, height, width = shape(x)
        out, kd = shape(weight)[0], shape(weight)[2]
        graph = node.graph
        if shape(weight)[2:] == [1, 1, 1] and stride == [1, 1, 1] and padding == [0, 0, 0]:
            flat = reshape(graph, x, [n, c, depth, height * width], node)
            kernel = reshape(graph, weight, [out, shape(weight)[1], 1, 1], node)
            y = emit(graph, aten.conv2d.default, (flat, kernel, bias, [1, 1], [0, 0], [1, 1], groups), node)
            return reshape(graph, y, shape(node), node)
        if padding[0]:
            x = emit(graph, aten.constant_pad_nd.default, (x, [0, 0, 0, 0, padding[0], padding[0]], 0.0), node)
        slices = permute(graph, x, _DEPTH_FIRST, node)
        depth_out = shape(node)[2]
        total: Node | None = None
        for tap in range(kd):
            first = tap * dilation[0]
            last = first + (depth_out - 1) * stride[0] + 1
            taken = slices if (first, last, stride[0]) == (0, shape(slices)[1], 1) else \
                emit(graph, aten.slice.Tensor, (slices, 1, first, last, stride[0]), node)
            batch = reshape(graph, taken, [n * depth_out, c, height, width], node)
            kernel = emit(graph, aten.select.int, (weight, 2, tap), node)
            y = emit(graph, aten.conv2d.default, (batch, kernel, bias if tap == 0 else None, stride[1:],
                                                  padding[1:], dilation[1:], groups), node)
            total = y if total is None else emit(graph, aten.add.Tensor, (total, y), node)
        folded = reshape(graph, cast(Node, total), [n, depth_out, *shape(total)[1:]], node)
        # Readers of a conv's output may view it, which needs the contiguous layout the permute lost.
        channels_first = permute(graph, folded, _DEPTH_FIRST, node)
        return emit(graph, aten.clone.default, (channels_first,), node, memory_format=torch.contiguous_format)
