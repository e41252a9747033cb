"""MACs a lowered program really executes, counted from its graph.

:func:`affdeploy.models.profile.profile_model` counts the model as written (FFTs at their radix-2
estimate). An artifact runs something else: the DFT lowering replaces every FFT by dense matrix
products, which cost more MACs than an FFT, so GMAC/s quoted against the nominal count flatter the
artifact. Throughput against the GEMM yardstick is therefore reported with both counts.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import cast

import torch
from torch.export import ExportedProgram
from torch.fx import Node

aten = torch.ops.aten

_CONVS = frozenset({aten.convolution.default, aten.conv2d.default, aten.conv1d.default})
_LINEARS = frozenset({aten.linear.default, aten.addmm.default})
_MATMULS = frozenset({aten.mm.default, aten.bmm.default, aten.matmul.default})


def _numel(node: Node) -> int:
    return math.prod(int(d) for d in node.meta["val"].shape)


def _tensor(arg: object) -> torch.Tensor:
    """The (fake) value of a tensor argument: fx types ``node.args`` loosely, ATen's schemas pass nodes here."""
    return cast(Node, arg).meta["val"]


def node_macs(node: Node) -> int:
    """Multiply-accumulates of one contraction node (output elements x reduction length); 0 otherwise."""
    if node.op != "call_function" or not isinstance(node.meta.get("val"), torch.Tensor):
        return 0
    target = node.target
    if not isinstance(target, torch._ops.OpOverload):  # an edge-dialect op (ETRecord's graph) wraps its ATen op
        target = getattr(target, "_op", target)
    if target in _CONVS:
        weight = _tensor(node.args[1])
        return _numel(node) * math.prod(int(d) for d in weight.shape[1:])  # (Cin / groups) x kernel
    if target in _LINEARS:
        weight = _tensor(node.args[2 if target == aten.addmm.default else 1])
        reduced = weight.shape[0] if target == aten.addmm.default else weight.shape[-1]
        return _numel(node) * int(reduced)
    if target in _MATMULS:
        return _numel(node) * int(_tensor(node.args[0]).shape[-1])
    return 0


def executed_macs(ep: ExportedProgram) -> Counter[str]:
    """MACs per contraction op name (``convolution``, ``linear``, ...) of one forward of ``ep``."""
    counts: Counter[str] = Counter()
    for node in ep.graph.nodes:
        macs = node_macs(node)
        if macs:
            counts[str(node.target).split(".")[1]] += macs
    return counts
