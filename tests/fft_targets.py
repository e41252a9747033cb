"""The FFT tests' target runs: an ExecuTorch XNNPACK .pte executed by the runtime, and Core ML's MIL ops.

Shared by test_fft_zoo.py and test_fft_models.py, which lower several models as one program
(fft_zoo.Bundle): what the .pte did is reported per output, so each model is judged on its own.
"""

from __future__ import annotations

import copy
import operator
from collections import Counter
from dataclasses import dataclass

import coremltools as ct
import torch
from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
from executorch.exir import to_edge_transform_and_lower
from executorch.runtime import Runtime

DELEGATE_CALL = "executorch_call_delegate"


@dataclass
class XnnpackRun:
    """The .pte's outputs; per output, the delegate calls and the CPU kernels (edge op names) upstream of it.

    A delegate call can take several models' nodes, and its inputs then bring their CPU kernels into
    each of those models' sets: a kernel left outside fails the model it belongs to, and maybe others.
    A model none of whose nodes were delegated has no delegate call upstream (the models share no node).
    """

    outputs: list[torch.Tensor]
    delegate_calls: list[set[str]]
    outside: list[set[str]]

    def of(self, part: slice) -> tuple[list[torch.Tensor], set[str], set[str]]:
        """Outputs, delegate calls and CPU kernels of one model's outputs ``part``."""
        return self.outputs[part], set().union(*self.delegate_calls[part]), set().union(*self.outside[part])


def run_xnnpack(ep: torch.export.ExportedProgram, inputs: tuple[torch.Tensor, ...]) -> XnnpackRun:
    """Lower ``ep`` to XNNPACK (this consumes its constants: pass a copy) and run the .pte on ``inputs``."""
    edge = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
    graph = edge.exported_program().graph_module.graph
    delegate_calls, outside = [], []
    for out in next(n for n in graph.nodes if n.op == "output").args[0]:
        seen, stack = set(), [out]
        while stack:  # everything this output is computed from
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(node.all_input_nodes)
        calls = {n for n in seen if n.op == "call_function" and n.target is not operator.getitem}
        delegate_calls.append({n.name for n in calls if n.target.__name__ == DELEGATE_CALL})
        outside.append({n.target.__name__ for n in calls if n.target.__name__ != DELEGATE_CALL})
    buffer = edge.to_executorch().buffer
    program = Runtime.get().load_program(buffer)  # keep buffer and program alive while the method runs
    outputs = [o.clone() for o in program.load_method("forward").execute(list(inputs))]
    return XnnpackRun(outputs, delegate_calls, outside)


def mil_ops(ep: torch.export.ExportedProgram) -> Counter[str]:
    """The op types (with counts) of the ML Program Core ML converts ``ep`` to (iOS 16 floor, as --target coreml)."""
    mlmodel = ct.convert(copy.deepcopy(ep).run_decompositions({}), minimum_deployment_target=ct.target.iOS16,
                         convert_to="mlprogram", skip_model_load=True)
    spec = mlmodel.get_spec()
    assert spec.WhichOneof("Type") == "mlProgram"
    return Counter(op.type for f in spec.mlProgram.functions.values() for b in f.block_specializations.values()
                   for op in b.operations)
