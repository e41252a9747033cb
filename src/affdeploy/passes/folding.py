"""Constant folding: every pure function of weights becomes one new constant at pass time.

Selecting the real/imaginary half of a stacked weight, transposing it into a conv kernel or
reshaping an affine into (1, C, 1, 1) would otherwise run on the CPU at every inference, outside
the delegate, and GEMM delegates only pack weights that are constants of the program.
"""

from __future__ import annotations

import torch
from executorch.exir.passes.constant_prop_pass import constant_prop_pass
from torch.export import ExportedProgram

from affdeploy.passes._graph import constant_nodes
from affdeploy.passes.base import Rewrite


class FoldConstants(Rewrite):
    """Evaluate the constant subgraphs once and store the results as lifted constants."""

    def apply(self, ep: ExportedProgram) -> int:
        folded = sum(1 for node in constant_nodes(ep) if node.op == "call_function")
        if folded:
            constant_prop_pass(ep)
            # A folded permute/select is a view of a parameter: store an owning copy, or the
            # program cannot be deep-copied (to_edge does) and keeps the whole parameter alive.
            for name, value in ep.constants.items():
                if isinstance(value, torch.Tensor) and (value._base is not None or value.requires_grad):
                    ep.constants[name] = value.detach().clone(memory_format=torch.contiguous_format)
        return folded
