"""Constant folding: every pure function of weights becomes one new constant at pass time.

Selecting the real/imaginary half of a stacked weight, transposing it into a conv kernel or
reshaping an affine into (1, C, 1, 1) would otherwise run on the CPU at every inference, outside
the delegate, and GEMM delegates only pack weights that are constants of the program.

The fold is our own rather than ExecuTorch's ``constant_prop_pass``: ONNX, Core ML and LiteRT
exports run the delegate-friendly rewrites too, and importing ExecuTorch's compiler costs them
about 3 s of start-up for nothing.
"""

from __future__ import annotations

import torch
from torch._guards import detect_fake_mode
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind, InputSpec, TensorArgument
from torch.fx import Node

from affdeploy.passes._graph import constant_nodes, constant_placeholders, constant_value, weight_targets
from affdeploy.passes.base import Rewrite

FOLDED_PREFIX = "_folded_constant"


class FoldConstants(Rewrite):
    """Evaluate the constant subgraphs once and store the results as lifted constants."""

    def apply(self, ep: ExportedProgram) -> int:
        known = constant_nodes(ep)
        computed = [n for n in ep.graph.nodes if n in known and n.op == "call_function"]
        # The constant values the rest of the program reads (a returned constant stays computed: an
        # output may not be an input of the program).
        roots = [n for n in computed if any(u not in known for u in n.users)
                 and all(u.op != "output" for u in n.users)]
        if not roots:
            return 0
        cache: dict[Node, object] = {}
        specs = {spec.arg.name: spec for spec in ep.graph_signature.input_specs}
        placeholders = list(ep.graph.find_nodes(op="placeholder"))
        first_user_input = next(
            (n for n in placeholders if specs[n.name].kind == InputKind.USER_INPUT), None)
        fake_mode = detect_fake_mode(tuple(n.meta["val"] for n in placeholders))
        for root in roots:
            value = constant_value(ep, root, cache)
            assert isinstance(value, torch.Tensor), root
            # A folded permute/select is a view of a parameter: store an owning copy, or the program
            # cannot be deep-copied (to_edge does) and keeps the whole parameter alive.
            value = value.detach().clone(memory_format=torch.contiguous_format)
            target = self._free_name(ep)
            ep.constants[target] = value
            inserting = (ep.graph.inserting_before(first_user_input) if first_user_input is not None
                         else ep.graph.inserting_after(placeholders[-1]))
            with inserting:
                node = ep.graph.placeholder(target)
            node.meta.update(root.meta)
            node.meta["val"] = fake_mode.from_tensor(value, static_shapes=True) if fake_mode else value
            root.replace_all_uses_with(node)
            specs[node.name] = InputSpec(InputKind.CONSTANT_TENSOR, TensorArgument(node.name), target)
        ep.graph.eliminate_dead_code()
        self._drop_unused_weights(ep)
        ep.graph_signature.input_specs = [specs[n.name] for n in ep.graph.find_nodes(op="placeholder")]
        return len(computed)

    @staticmethod
    def _free_name(ep: ExportedProgram) -> str:
        index = len(ep.constants)
        while f"{FOLDED_PREFIX}{index}" in ep.constants or f"{FOLDED_PREFIX}{index}" in ep.state_dict:
            index += 1
        return f"{FOLDED_PREFIX}{index}"

    @staticmethod
    def _drop_unused_weights(ep: ExportedProgram) -> None:
        """Weights only the folded subgraphs read leave the program (and its state dict)."""
        fqns = weight_targets(ep)
        weights = constant_placeholders(ep)
        for node in list(ep.graph.find_nodes(op="placeholder")):
            if node.users or node.name not in weights:
                continue
            fqn = fqns[node.name]
            ep.state_dict.pop(fqn, None)
            ep.constants.pop(fqn, None)
            ep.graph.erase_node(node)
