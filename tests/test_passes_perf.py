"""Rewrites made for XNNPACK speed (fewer ops and layout transposes), on toy graphs through the real
lowering: same outputs, one delegate call, nothing on the CPU."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_passes import check_rewrite, check_rewrite_on, export
from torch import nn

from affdeploy.graph import op_counts
from affdeploy.passes.elementwise import ChainThroughView, MergeSplitChains
from affdeploy.passes.normalization import GroupNormToMoments


class NormThenConv(nn.Module):
    """GroupNorm(1, C) then a convolution: AFFNet's norm1 -> MLP expansion and final norm -> projection."""

    def __init__(self, kernel: int, channels: int = 8) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, channels)
        self.conv = nn.Conv2d(channels, 12, kernel, padding=kernel // 2)
        nn.init.normal_(self.norm.weight)
        nn.init.normal_(self.norm.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.norm(x))


@pytest.mark.parametrize("kernel", [1, 3])
def test_layer_norm_moments_need_no_reshape_and_fold_into_a_pointwise_conv(kernel: int) -> None:
    x = 3 * torch.randn(1, 8, 6, 5) + 1
    ep = check_rewrite(NormThenConv(kernel), GroupNormToMoments(), "group_norm", x)
    ops = op_counts(ep)
    # Channel means are 1x1 convolutions of the pooled moments: no view (XNNPACK would transpose around it).
    assert "view" not in ops and "reshape" not in ops
    assert ops["mean"] == 2
    # 1x1 without padding: scale and shift live in the conv's weights and bias (no full-size add).
    # 3x3 with zero padding: the shift would change the borders, so the affine stays.
    assert ops.get("add", 0) == (0 if kernel == 1 else 1)


class SplitHalvesNet(nn.Module):
    """AFFNet's filter MLP in small: grouped conv, halves sliced apart, bias + activation each, cat, conv."""

    def __init__(self, second_act: str = "silu") -> None:
        super().__init__()
        self.first = nn.Conv2d(8, 8, 1, groups=2)
        self.second = nn.Conv2d(8, 8, 1, groups=2)
        self.bias = nn.Parameter(torch.randn(2, 2, 2, 1, 1))  # (half, group, channel in half, 1, 1)
        self.second_act = getattr(F, second_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.first(x).view(b, 2, 4, h, w)
        re = F.silu(y[:, :, :2] + self.bias[0])
        im = self.second_act(y[:, :, 2:] + self.bias[1])
        return self.second(torch.cat([re, im], 2).view(b, c, h, w))


def test_split_halves_run_one_chain_in_the_conv_layout() -> None:
    x = torch.randn(1, 8, 5, 6)
    module = SplitHalvesNet()
    ep = check_rewrite(module, MergeSplitChains(), "cat", x, whole_delegate=False)
    assert op_counts(ep)["silu"] == 1 and "slice" not in op_counts(ep)
    ep = check_rewrite_on(ep, module, ChainThroughView(), x, gone="view")
    # conv -> add (a (1, 8, 1, 1) bias) -> silu -> conv: nothing for XNNPACK to transpose.
    assert set(op_counts(ep)) == {"conv2d", "add", "silu"}


def test_halves_with_different_chains_stay_apart() -> None:
    ep = export(SplitHalvesNet(second_act="relu"), torch.randn(1, 8, 5, 6))
    assert MergeSplitChains()(ep) == 0
