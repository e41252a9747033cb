"""Reduced AFFNets for tests whose cost is ExecuTorch's lowering, which grows with the node count.

Run as a script, it is the `affdeploy` command with :data:`SHARED_MODEL` registered: the background
exports and the signal tests start it in a subprocess exactly as they would start `python -m affdeploy`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from affdeploy.models import MODELS, ModelInfo
from affdeploy.models.affnet import AFFNET_CONFIGS, AFFNet, AFFNetConfig


def one_block_per_stage(name: str) -> AFFNetConfig:
    """Variant ``name`` with its stem, widths and head but one AFF block per stage instead of (2, 4, 3).

    The variants share their depths and a stage's blocks are identical repeats, so this network has
    every op, convolution kind and shape of the whole one in half the nodes: ExecuTorch's XNNPACK
    lowering time grows with the node count, not with the width or the image size.
    """
    return replace(AFFNET_CONFIGS[name], name=f"{name}-1block", depths=(1, 1, 1))


SHARED_CONFIG = one_block_per_stage("affnet-et")
"""The model of the shared exports (conftest registers it for the modules that read them)."""
SHARED_MODEL = SHARED_CONFIG.name
CLI = (sys.executable, __file__)
"""Command prefix of `affdeploy` in a subprocess that knows :data:`SHARED_MODEL`."""


def one_aff_block(name: str) -> AFFNetConfig:
    """Variant ``name`` with one AFF block in its first AFF stage, none in the other two, and MobileNet
    blocks without the 1x1 expansion (expand ratio 1; the AFF block's MLP keeps its own).

    A stage without blocks keeps its downsampling, GroupNorm, projection and fusion, so every op and
    convolution kind is still there (the frequency filter's FFTs, mask MLP and norms once, at 1/8 of the
    input side) in half of :func:`one_block_per_stage`'s nodes: for the int8 and fp16 CLI tests, whose
    time is ExecuTorch's lowering of the reduced-precision program.
    """
    return replace(AFFNET_CONFIGS[name], name=f"{name}-1aff", depths=(1, 0, 0), expand_ratio=1)


def model_info(config: AFFNetConfig) -> ModelInfo:
    """The registry entry of a reduced config, as the paper's variants have theirs."""
    params = sum(p.numel() for p in AFFNet(config).parameters())
    return ModelInfo(config.name, config, params, top1=float("nan"))


@contextmanager
def registered(config: AFFNetConfig) -> Iterator[str]:
    """``config`` in the model registry under its name while the context lasts (for a test module's fixture)."""
    import pytest

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(MODELS, config.name, model_info(config))
        yield config.name


if __name__ == "__main__":
    MODELS[SHARED_MODEL] = model_info(SHARED_CONFIG)
    from affdeploy.cli import main

    main(sys.argv[1:])
