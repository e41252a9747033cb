"""Delegate-friendly rewrites of an exported ATen graph.

After :func:`affdeploy.fft.lower_fft` an FFT model is real arithmetic, but several of its ATen ops
still have no operator in mobile delegates (XNNPACK, Core ML's MIL), and each one splits the graph
into a CPU island. :func:`delegate_friendly` rewrites those into equivalent ops that delegates take,
so that AFFNet lowers to a single XNNPACK delegate call. Each rewrite only changes what it matches.
"""

from __future__ import annotations

from torch.export import ExportedProgram

from affdeploy.passes.activation import SoftshrinkToClamp
from affdeploy.passes.arithmetic import IntScalarToFloat
from affdeploy.passes.base import Rewrite
from affdeploy.passes.contraction import ComplexEinsumToOne, ConstantEinsumToConv, ConstantMatmulToLinear
from affdeploy.passes.convolution import Conv3dToConv2d
from affdeploy.passes.elementwise import ChainThroughView, MergeSplitChains
from affdeploy.passes.folding import FoldConstants
from affdeploy.passes.layout import DropNoOpExpand, ReshapeToView, SelectToSlice, StackToCat
from affdeploy.passes.normalization import GroupNormToMoments
from affdeploy.passes.reduction import MeanToGlobalPool
from affdeploy.passes.spectral import (
    Atan2ToPolynomial,
    EdgePadToCat,
    FullLikeToFull,
    GlobalMaxToAmax,
    IndexSelectToSlices,
    Log1pToLog,
    Log10ToLog,
    ScatterToCat,
    SplitToSlices,
    SquareToMul,
    StridedSliceToGrid,
)

PIPELINE: tuple[Rewrite, ...] = (
    Conv3dToConv2d(),
    GroupNormToMoments(),
    SoftshrinkToClamp(),
    ComplexEinsumToOne(),
    ConstantEinsumToConv(),
    MergeSplitChains(),
    ChainThroughView(),
    ConstantMatmulToLinear(),
    MeanToGlobalPool(),
    Log1pToLog(),
    Log10ToLog(),
    GlobalMaxToAmax(),
    Atan2ToPolynomial(),
    IndexSelectToSlices(),
    EdgePadToCat(),
    SquareToMul(),
    ScatterToCat(),
    StridedSliceToGrid(),
    SplitToSlices(),
    FullLikeToFull(),
    SelectToSlice(),
    StackToCat(),
    ReshapeToView(),
    DropNoOpExpand(),
    IntScalarToFloat(),
    FoldConstants(),
)
"""Order matters: the structural rewrites create weight expressions that folding then evaluates."""


def delegate_friendly(ep: ExportedProgram) -> ExportedProgram:
    """Rewrite ``ep`` in place into ops every delegate takes; returns it (same outputs)."""
    for rewrite in PIPELINE:
        rewrite(ep)
    ep.graph.lint()
    return ep


__all__ = ["PIPELINE", "Rewrite", "delegate_friendly"]
