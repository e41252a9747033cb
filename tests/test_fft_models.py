"""Lowered models against unlowered ones, through ExecuTorch (XNNPACK) and Core ML conversion.

An AFFNet block and the two non-AFFNet models of fft_models.py go side by side as one program
(fft_zoo.Bundle), exported and lowered once per target; each model is judged on its own outputs.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass

import pytest
import torch
from fft_models import GlobalFilterNet, SpectralConvNet
from fft_targets import XnnpackRun, mil_ops, run_xnnpack
from fft_zoo import Bundle

from affdeploy.fft import lower_fft
from affdeploy.graph import complex_value_count, fft_op_count, op_counts
from affdeploy.models.affnet import Block

# What the DFT rewrite emits; none of it may fall out of the XNNPACK delegate.
DFT_EDGE_OPS = {"aten.mm.default", "aten.linear.default", "aten.slice_copy.Tensor", "aten.cat.default",
                "aten.permute_copy.default", "aten.view_copy.default", "aten.mul.Tensor", "aten.add.Tensor",
                "aten.sub.Tensor", "aten.expand_copy.default", "aten.bmm.default"}
AFF_BLOCK = "aff-block"
"""An AFFNet block (norms, MLP, frequency filter); one block keeps this fast, the whole network
lowers the same way (docs/fft.md)."""
OWN_MODELS = ["gfnet-global-filter", "fno-spectral-conv"]
MATRIX_PRODUCTS = ("mm", "bmm", "matmul", "linear", "einsum")


def _max_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """Error relative to the output scale (the pass's contract: <= 1e-5 of it)."""
    return float((got - want).abs().max()) / max(1.0, float(want.abs().max()))


def _part(model: torch.nn.Module, shape: tuple[int, ...]) -> tuple[torch.nn.Module, tuple[torch.Tensor], None]:
    return model.eval(), (torch.rand(shape),), None


@dataclass
class Lowered:
    """The bundle lowered once: its program, the .pte's run and the ML Program's ops."""

    bundle: Bundle
    program: torch.export.ExportedProgram
    xnnpack: XnnpackRun
    mil_ops: Counter[str]


@pytest.fixture(scope="module")
def lowered() -> Lowered:
    torch.manual_seed(0)
    bundle = Bundle({AFF_BLOCK: _part(Block(64, 2.0), (1, 64, 8, 8)),
                     "gfnet-global-filter": _part(GlobalFilterNet(), (1, 3, 14, 14)),
                     "fno-spectral-conv": _part(SpectralConvNet(), (1, 3, 16, 12))})
    args = bundle.example
    program = lower_fft(torch.export.export(bundle, args, strict=False).run_decompositions({}))
    return Lowered(bundle, program, run_xnnpack(copy.deepcopy(program), args), mil_ops(program))


def _check_xnnpack(lowered: Lowered, name: str) -> None:
    """Same output as PyTorch, and no op of the DFT rewrite left on the CPU."""
    part = lowered.bundle.outputs[name]
    outputs, _, on_cpu = lowered.xnnpack.of(part)
    for got, want in zip(outputs, lowered.bundle.reference[part], strict=True):
        assert _max_error(got, want) <= 1e-5
    assert not on_cpu & DFT_EDGE_OPS


def test_lowered_aff_block_stays_in_xnnpack_delegate(lowered: Lowered) -> None:
    _check_xnnpack(lowered, AFF_BLOCK)


@pytest.mark.parametrize("name", OWN_MODELS)
def test_own_fft_models_through_executorch_and_coreml(lowered: Lowered, name: str) -> None:
    assert fft_op_count(lowered.program) == 0 and complex_value_count(lowered.program) == 0
    products = op_counts(lowered.program)  # the DFTs' matmuls (and the models' own): each one stays one in Core ML
    assert lowered.mil_ops["linear"] + lowered.mil_ops["matmul"] >= sum(products[op] for op in MATRIX_PRODUCTS)
    assert not any("fft" in op or "complex" in op for op in lowered.mil_ops)
    _check_xnnpack(lowered, name)
