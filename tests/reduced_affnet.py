"""Reduced AFFNets for tests whose cost is ExecuTorch's lowering, which grows with the node count."""

from __future__ import annotations

from dataclasses import replace

from affdeploy.models.affnet import AFFNET_CONFIGS, AFFNetConfig


def one_block_per_stage(name: str) -> AFFNetConfig:
    """Variant ``name`` with its stem, widths and head but one AFF block per stage instead of (2, 4, 3).

    The variants share their depths and a stage's blocks are identical repeats, so this network has
    every op, convolution kind and shape of the whole one in a third of the nodes: ExecuTorch's XNNPACK
    lowering time grows with the node count, not with the width or the image size.
    """
    return replace(AFFNET_CONFIGS[name], name=f"{name}-1block", depths=(1, 1, 1))
