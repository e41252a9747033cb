"""Delegate-friendly rewrites: each one on a small module (same outputs, target op gone, one XNNPACK
delegate), and AFFNet through lower_fft + delegate_friendly + XNNPACK + the ExecuTorch runtime."""

from __future__ import annotations

import logging
import operator

import pytest
import torch
import torch.nn.functional as F
from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
from executorch.exir import EdgeProgramManager, to_edge_transform_and_lower
from executorch.runtime import Runtime
from reduced_affnet import one_aff_block
from torch import nn
from torch.export import ExportedProgram

from affdeploy.fft import lower_fft
from affdeploy.graph import complex_value_count, example_input, export_program, fft_op_count, op_counts
from affdeploy.models.affnet import AFFNet
from affdeploy.passes import delegate_friendly
from affdeploy.passes.activation import SoftshrinkToClamp
from affdeploy.passes.arithmetic import IntScalarToFloat
from affdeploy.passes.base import Rewrite
from affdeploy.passes.contraction import ComplexEinsumToOne, ConstantEinsumToConv, ConstantMatmulToLinear
from affdeploy.passes.folding import FoldConstants
from affdeploy.passes.layout import DropNoOpExpand, ReshapeToView, SelectToSlice, StackToCat
from affdeploy.passes.normalization import GroupNormToMoments
from affdeploy.passes.reduction import MeanToGlobalPool

DELEGATE = torch.ops.higher_order.executorch_call_delegate


def export(module: nn.Module, *inputs: torch.Tensor) -> ExportedProgram:
    with torch.no_grad():
        return torch.export.export(module.eval(), inputs, strict=False).run_decompositions({})


def xnnpack(ep: ExportedProgram) -> EdgeProgramManager:
    return to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])


def delegate_calls(edge: EdgeProgramManager) -> int:
    return sum(1 for n in edge.exported_program().graph.nodes if n.target == DELEGATE)


def cpu_kernels(edge: EdgeProgramManager) -> list[str]:
    """Ops that run outside any delegate (the delegate's own output plumbing excluded)."""
    return [
        str(n.target)
        for n in edge.exported_program().graph.nodes
        if n.op == "call_function" and n.target not in (DELEGATE, operator.getitem)
    ]


def run_pte(edge: EdgeProgramManager, x: torch.Tensor) -> torch.Tensor:
    program = Runtime.get().load_program(edge.to_executorch().buffer)
    return program.load_method("forward").execute([x])[0]


def check_rewrite(
    module: nn.Module, rewrite: Rewrite, gone: str, x: torch.Tensor, *, whole_delegate: bool = True
) -> ExportedProgram:
    """The rewrite fires, the op is gone, outputs match, and XNNPACK takes the whole graph."""
    ep = export(module, x)
    assert gone in op_counts(ep), f"test module does not produce {gone}: {op_counts(ep)}"
    return check_rewrite_on(ep, module, rewrite, x, gone=gone, whole_delegate=whole_delegate)


def check_rewrite_on(ep: ExportedProgram, module: nn.Module, rewrite: Rewrite, x: torch.Tensor, *,
                     gone: str = "einsum", whole_delegate: bool = True) -> ExportedProgram:
    """:func:`check_rewrite` on a program that earlier rewrites already changed."""
    expected = module(x)
    assert rewrite(ep) >= 1
    FoldConstants()(ep)
    assert gone not in op_counts(ep)
    torch.testing.assert_close(ep.module()(x), expected, rtol=1e-5, atol=1e-5)
    if whole_delegate:
        edge = xnnpack(ep)
        assert delegate_calls(edge) == 1
        assert cpu_kernels(edge) == []
        torch.testing.assert_close(run_pte(edge, x), expected, rtol=1e-4, atol=1e-4)
    return ep


class GroupNormNet(nn.Module):
    def __init__(self, groups: int, channels: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        nn.init.normal_(self.norm.weight)
        nn.init.normal_(self.norm.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


@pytest.mark.parametrize(("groups", "shape"), [(1, (1, 8, 5, 7)), (4, (2, 8, 6, 6)), (2, (1, 6, 10))])
def test_group_norm_becomes_delegated_moments(groups: int, shape: tuple[int, ...]) -> None:
    x = 3 * torch.randn(shape) + 1
    ep = check_rewrite(GroupNormNet(groups, shape[1]), GroupNormToMoments(), "group_norm", x)
    # One mean per moment (one group over 4-D: a spatial pool, then a 1x1 conv over channels).
    assert op_counts(ep)["mean"] == 2


class SoftshrinkNet(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softshrink(x, 0.25) * 2.0


def test_softshrink_becomes_clamp(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="affdeploy.passes")  # each rewrite that fired says so (--verbose)
    x = torch.tensor([[-1.0, -0.25, -0.1, 0.0, 0.1, 0.25, 0.3, 2.0]])
    ep = check_rewrite(SoftshrinkNet(), SoftshrinkToClamp(), "where", x)
    assert {"sign", "gt", "abs"}.isdisjoint(op_counts(ep))
    assert op_counts(ep)["clamp"] == 1
    assert [r.getMessage() for r in caplog.records if r.name == "affdeploy.passes.base"] == [
        "SoftshrinkToClamp rewrote 1 match(es)"]


class IntScalarNet(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 + 1


def test_int_scalars_become_float() -> None:
    x = torch.randn(3, 4)
    ep = export(IntScalarNet(), x)
    edge = xnnpack(export(IntScalarNet(), x))
    assert cpu_kernels(edge), "int scalars are expected to leave a cast outside the delegate"
    assert IntScalarToFloat()(ep) == 2
    edge = xnnpack(ep)
    assert delegate_calls(edge) == 1 and cpu_kernels(edge) == []
    torch.testing.assert_close(run_pte(edge, x), x * 2 + 1)


class GroupLinearNet(nn.Module):
    """AFFNet's per-frequency group linear on a stacked (real, imaginary) weight."""

    def __init__(self, groups: int, size: int) -> None:
        super().__init__()
        self.groups, self.size = groups, size
        self.w = nn.Parameter(torch.randn(2, groups, size, size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        z = x.reshape(b, self.groups, self.size, h, w)
        out = torch.einsum("bkihw,kio->bkohw", z, self.w[0]) - torch.einsum("bkihw,kio->bkohw", z, self.w[1])
        return out.reshape(b, c, h, w)


def test_group_einsum_becomes_grouped_conv() -> None:
    ep = check_rewrite(GroupLinearNet(4, 3), ConstantEinsumToConv(), "einsum", torch.randn(2, 12, 5, 3))
    convs = [n for n in ep.graph.nodes if n.target == torch.ops.aten.convolution.default]
    assert len(convs) == 2 and all(n.args[8] == 4 for n in convs)
    assert "select" not in op_counts(ep)  # the weight halves were folded into constants


class ComplexGroupLinearNet(GroupLinearNet):
    """AFFNet's complex group-linear written out in real parts: four einsums, a sub and an add."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        half = self.groups * self.size
        a, bb = (x[:, i * half : (i + 1) * half].reshape(b, self.groups, self.size, h, w) for i in (0, 1))
        lin = lambda z, k: torch.einsum("bkihw,kio->bkohw", z, self.w[k])  # noqa: E731
        re = lin(a, 0) - lin(bb, 1)
        im = lin(bb, 0) + lin(a, 1)
        return torch.cat([F.silu(re), im], 1).reshape(b, c, h, w)


def test_complex_einsums_become_one_grouped_conv() -> None:
    module, x = ComplexGroupLinearNet(4, 3), torch.randn(1, 24, 5, 3)
    ep = export(module, x)
    assert op_counts(ep)["einsum"] == 4
    assert ComplexEinsumToOne()(ep) == 1
    assert op_counts(ep)["einsum"] == 1 and "sub" not in op_counts(ep)
    ep = check_rewrite_on(ep, module, ConstantEinsumToConv(), x)
    convs = [n for n in ep.graph.nodes if n.target == torch.ops.aten.convolution.default]
    assert len(convs) == 1 and convs[0].args[8] == 4 and list(convs[0].args[1].meta["val"].shape) == [24, 6, 1, 1]


class EinsumNet(nn.Module):
    def __init__(self, equation: str, weight_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.equation = equation
        self.w = nn.Parameter(torch.randn(weight_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum(self.equation, self.w, x)


@pytest.mark.parametrize(
    ("equation", "weight_shape", "x_shape"),
    [
        ("io,bsi->bos", (6, 5), (2, 3, 6)),  # weight first, output permuted
        ("oi,bi->bo", (4, 6), (3, 6)),  # a plain linear layer
        ("ci,bhwc->bihw", (6, 3), (1, 4, 5, 6)),  # channels-last input
    ],
)
def test_constant_einsum_any_layout(equation: str, weight_shape: tuple[int, ...], x_shape: tuple[int, ...]) -> None:
    check_rewrite(EinsumNet(equation, weight_shape), ConstantEinsumToConv(), "einsum", torch.randn(x_shape))


class TwoInputEinsum(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bij,bjk->bik", x, x)


def test_rewrites_leave_non_matching_graphs_alone() -> None:
    x = torch.randn(2, 4, 4)
    ep = export(TwoInputEinsum(), x)
    before = op_counts(ep)
    for rewrite in (ConstantEinsumToConv(), ConstantMatmulToLinear(), GroupNormToMoments(), SoftshrinkToClamp()):
        assert rewrite(ep) == 0
    assert op_counts(ep) == before


class MatmulNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.left = nn.Parameter(torch.randn(5, 4))
        self.right = nn.Parameter(torch.randn(6, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.left @ x) @ self.right


def test_matmul_with_constants_becomes_linear() -> None:
    ep = check_rewrite(MatmulNet(), ConstantMatmulToLinear(), "matmul", torch.randn(2, 3, 4, 6))
    assert op_counts(ep)["linear"] == 2


class MeanNet(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1) + x.mean(dim=(0, 2), keepdim=True).sum()


def test_means_become_global_pools() -> None:
    ep = export(MeanNet(), torch.randn(3, 4, 5))
    x = torch.randn(3, 4, 5)
    assert MeanToGlobalPool()(ep) == 2
    torch.testing.assert_close(ep.module()(x), MeanNet()(x))


class PlumbingNet(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x[:, 0], x[:, 1]
        return torch.stack([a - b, a + b], dim=1).unsqueeze(2).expand(2, 2, 1, 7) * 2


@pytest.mark.parametrize(
    ("rewrite", "gone"),
    [(SelectToSlice(), "select"), (StackToCat(), "stack"), (ReshapeToView(), "unsqueeze"), (DropNoOpExpand(), "expand")],
)
def test_plumbing_rewrites(rewrite: Rewrite, gone: str) -> None:
    check_rewrite(PlumbingNet(), rewrite, gone, torch.randn(2, 2, 7), whole_delegate=False)


def test_plumbing_net_is_one_delegate_after_all_rewrites() -> None:
    x = torch.randn(2, 2, 7)
    ep = delegate_friendly(export(PlumbingNet(), x))
    edge = xnnpack(ep)
    assert delegate_calls(edge) == 1 and cpu_kernels(edge) == []


class FilterNet(nn.Module):
    """The non-FFT half of an AFF filter: norm, group linear on weight halves, softshrink, mean."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = GroupNormNet(1, 8)
        self.mix = GroupLinearNet(2, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.softshrink(self.mix(self.norm(x)), 0.1)
        return y.mean(dim=(2, 3))


def test_rewritten_graph_converts_to_plain_core_ml_ops() -> None:
    import coremltools as ct

    x = torch.randn(1, 8, 6, 5)
    ep = delegate_friendly(export(FilterNet(), x))
    mlmodel = ct.convert(ep, minimum_deployment_target=ct.target.iOS16, skip_model_load=True)
    ops = {op.op_type for f in mlmodel._mil_program.functions.values() for op in f.operations}
    assert "conv" in ops and "reduce_mean" in ops and "clip" in ops
    plain = {"const", "cast", "reshape", "conv", "sub", "mul", "add", "rsqrt", "reduce_mean", "clip", "batch_norm"}
    assert ops <= plain


# The FFT pass, then the delegate-friendly rewrites and XNNPACK, on AFFNets. AFFNet-ET's stages at 64 px go
# through the same lowering in the shared export (one delegate call asserted in tests/test_export.py); the
# widths of the base variant here, with one AFF block (in the first AFF stage: the largest spectrum) and every
# other op kind, in the fewest nodes for XNNPACK to lower. 256 px changes no form (every AFFNet axis, up to 64
# values, is one dense matrix: ALWAYS_DENSE), only sizes; every variant goes through the whole export at 256 px
# with parity in benchmarks/bench_parity.py.
@pytest.mark.parametrize(("name", "size"), [("affnet", 64)])
def test_affnet_lowers_to_one_xnnpack_delegate(name: str, size: int) -> None:
    torch.manual_seed(0)
    model = AFFNet(one_aff_block(name)).eval()
    x = example_input(size)
    with torch.no_grad():
        expected = model(x)
    ep = export_program(model, size)
    assert fft_op_count(ep) > 0 and complex_value_count(ep) > 0
    lowered = lower_fft(ep)  # the FFT pass alone: no FFT or complex value left, same outputs within 1e-5
    assert fft_op_count(lowered) == 0 and complex_value_count(lowered) == 0
    scale = expected.abs().max().item()
    with torch.no_grad():
        assert (lowered.module()(x) - expected).abs().max().item() <= 1e-5 * max(scale, 1.0)
    edge = xnnpack(delegate_friendly(lowered))
    assert delegate_calls(edge) == 1
    assert cpu_kernels(edge) == []
    assert (run_pte(edge, x) - expected).abs().max().item() <= 1e-4 * max(scale, 1.0)
