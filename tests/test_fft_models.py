"""Lowered models against unlowered ones, through ExecuTorch (XNNPACK) and Core ML conversion."""

from __future__ import annotations

import coremltools as ct
import pytest
import torch
from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
from executorch.devtools.backend_debug import get_delegation_info
from executorch.exir import to_edge_transform_and_lower
from executorch.runtime import Runtime

from affdeploy.fft import lower_fft
from affdeploy.graph import complex_value_count, fft_op_count
from affdeploy.models.affnet import Block
from fft_models import GlobalFilterNet, SpectralConvNet

# What the DFT rewrite emits; none of it may fall out of the XNNPACK delegate.
DFT_EDGE_OPS = {"aten_mm_default", "aten_linear_default", "aten_slice_copy_tensor", "aten_cat_default",
                "aten_permute_copy_default", "aten_view_copy_default", "aten_mul_tensor", "aten_add_tensor",
                "aten_sub_tensor", "aten_expand_copy_default", "aten_bmm_default"}


def _max_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """Error relative to the output scale (the pass's contract: <= 1e-5 of it)."""
    return float((got - want).abs().max()) / max(1.0, float(want.abs().max()))


def _xnnpack(ep: torch.export.ExportedProgram, x: torch.Tensor) -> tuple[torch.Tensor, set[str]]:
    """Lower to XNNPACK, run the .pte with the ExecuTorch runtime; also the ops left on CPU."""
    edge = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
    frame = get_delegation_info(edge.exported_program().graph_module).get_operator_delegation_dataframe()
    on_cpu = set(frame[frame["occurrences_in_non_delegated_graphs"] > 0]["op_type"]) - {"Total", "getitem"}
    buffer = edge.to_executorch().buffer
    program = Runtime.get().load_program(buffer)  # keep buffer and program alive while the method runs
    out = program.load_method("forward").execute([x])[0]
    return out.clone(), on_cpu


def test_lowered_aff_block_stays_in_xnnpack_delegate() -> None:
    """An AFFNet block (norms, MLP, frequency filter) through XNNPACK: same output as PyTorch
    and no op of the DFT rewrite left on the CPU. (One block keeps this fast; the whole
    network lowers the same way, see docs/fft.md.)"""
    torch.manual_seed(0)
    mixer = Block(64, 2.0).eval()
    x = torch.rand(1, 64, 8, 8)
    lowered = lower_fft(torch.export.export(mixer, (x,), strict=False).run_decompositions({}))
    out, on_cpu = _xnnpack(lowered, x)
    with torch.no_grad():
        assert _max_error(out, mixer(x)) <= 1e-5
    assert not on_cpu & DFT_EDGE_OPS


def _mil_ops(mlmodel: ct.models.MLModel) -> set[str]:
    spec = mlmodel.get_spec()
    assert spec.WhichOneof("Type") == "mlProgram"
    return {
        op.type
        for function in spec.mlProgram.functions.values()
        for block in function.block_specializations.values()
        for op in block.operations
    }


@pytest.mark.parametrize(
    ("model", "shape"),
    [(GlobalFilterNet(), (1, 3, 14, 14)), (SpectralConvNet(), (1, 3, 16, 12))],
    ids=["gfnet-global-filter", "fno-spectral-conv"],
)
def test_own_fft_models_through_executorch_and_coreml(model: torch.nn.Module, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    model = model.eval()
    x = torch.rand(shape)
    ep = torch.export.export(model, (x,), strict=False).run_decompositions({})
    lowered = lower_fft(ep)
    assert fft_op_count(lowered) == 0 and complex_value_count(lowered) == 0
    ops = _mil_ops(ct.convert(lowered, minimum_deployment_target=ct.target.iOS16))
    assert {"linear", "matmul"} & ops
    assert not any("fft" in op or "complex" in op for op in ops)
    out, on_cpu = _xnnpack(lowered, x)  # last: ExecuTorch lowering consumes the program's constants
    with torch.no_grad():
        assert _max_error(out, model(x)) <= 1e-5
    assert not on_cpu & DFT_EDGE_OPS
