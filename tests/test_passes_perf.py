"""Rewrites made for XNNPACK speed (fewer ops and layout transposes), on toy graphs through the real
lowering: same outputs, one delegate call, nothing on the CPU."""

from __future__ import annotations

import pytest
import torch
from test_passes import check_rewrite
from torch import nn

from affdeploy.graph import op_counts
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
