"""Lining up a delegate's own operator events with the graph nodes it was given, when no handle links them.

XNNPACK (in ExecuTorch and in LiteRT) profiles the operators of its runtime by name (``Convolution
(NHWC, F32) IGEMM #3``) and keeps no reference to the graph node each came from. Its operators run
in the order of the nodes it was given, less the ones it folds (batch norm into a convolution, a
square into a mean) and plus the layout transposes it inserts. So the two sequences, reduced to op
families, are aligned with difflib's matching blocks: an event inside a block takes its node's module,
an event outside every block stays unmapped. Approximate by construction; the profile says so.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

_FAMILIES = (  # (family, operator name prefixes XNNPACK uses, node op names: edge dialect and LiteRT)
    ("matmul", ("Convolution", "Fully Connected", "Batch Matrix Multiply", "Deconvolution"),
     ("convolution", "linear", "mm", "bmm", "addmm", "matmul", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED",
      "BATCH_MATMUL", "TRANSPOSE_CONV")),
    ("mul", ("Multiply",), ("mul", "MUL")), ("add", ("Add",), ("add", "ADD")), ("sub", ("Subtract",), ("sub", "SUB")),
    ("div", ("Divide",), ("div", "DIV")), ("sigmoid", ("Sigmoid",), ("sigmoid", "LOGISTIC")),
    ("clamp", ("Clamp",), ("clamp", "hardtanh", "relu", "RELU", "RELU6", "RELU_N1_TO_1")),
    ("gelu", ("GELU",), ("gelu", "GELU")), ("mean", ("Mean", "Sum"), ("mean", "sum", "MEAN", "SUM")),
    ("rsqrt", ("Reciprocal Square Root",), ("rsqrt", "RSQRT")), ("sqrt", ("Square Root",), ("sqrt", "SQRT")),
    ("reshape", ("Static Reshape", "Copy"), ("view_copy", "clone", "_clone_dim_order", "squeeze_copy",
                                               "unsqueeze_copy", "RESHAPE", "SQUEEZE", "EXPAND_DIMS")),
    ("transpose", ("Transpose",), ("permute_copy", "TRANSPOSE")),
    ("slice", ("Slice",), ("slice_copy", "SLICE", "STRIDED_SLICE")), ("cat", ("Concatenate",), ("cat", "CONCATENATION")),
    ("pad", ("Constant Pad",), ("constant_pad_nd", "PAD")), ("softmax", ("Softmax",), ("_softmax", "SOFTMAX")),
    ("maxpool", ("Max Pooling",), ("max_pool2d", "MAX_POOL_2D")),
    ("avgpool", ("Average Pooling",), ("avg_pool2d", "AVERAGE_POOL_2D")),
)


@dataclass(frozen=True)
class GraphNode:
    """What a profile needs of one graph node: its op, its PyTorch module path, its MACs (0: unknown)."""

    op: str
    module: str
    macs: int = 0


def runtime_family(event: str) -> str:
    """``Convolution (NHWC, F32) IGEMM #3`` -> ``matmul``; an operator of no known family is its own."""
    for family, prefixes, _ops in _FAMILIES:
        if event.startswith(prefixes):
            return family
    return event.split(" (")[0]


def graph_family(op: str) -> str:
    for family, _prefixes, ops in _FAMILIES:
        if op in ops:
            return family
    return op


def align(events: Sequence[str], nodes: Sequence[GraphNode]) -> dict[int, GraphNode]:
    """Event index -> the node it lines up with (events outside every matching block are left out)."""
    matcher = difflib.SequenceMatcher(None, [runtime_family(e) for e in events], [graph_family(n.op) for n in nodes],
                                      autojunk=False)
    return {block.a + k: nodes[block.b + k] for block in matcher.get_matching_blocks() for k in range(block.size)}
