"""Parameter and MAC counts measured from the real module shapes of one forward pass.

Convolutions and linear layers count output elements x fan-in. The AFF filter counts its
eight group-linear einsums and the complex mask product; its FFTs are counted apart with the
usual radix-2 estimate (a complex N-point FFT: N/2*log2(N) complex multiply-adds of 4 real MACs
each; a real-input or real-output transform half that), since their cost depends on how a
backend runs them (native FFT vs DFT matrix products).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import nn

from affdeploy.models.affnet import AdaptiveFrequencyFilter


@dataclass(frozen=True)
class Profile:
    """MACs of one forward pass at batch 1."""

    params: int
    macs: int  # everything, FFTs included
    fft_macs: int  # the share of rfft2 + irfft2 (estimate)
    filter_macs: int  # AFF filter MLP and mask product (without FFTs)

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9


def _fft_macs(channels: int, h: int, w: int) -> int:
    n = h * w
    return int(channels * n * math.log2(n)) if n > 1 else 0  # one real 2-D transform per channel


def profile_model(model: nn.Module, image_size: int = 256) -> Profile:
    """Count parameters and MACs by running one batch-1 forward pass with hooks."""
    totals = {"dense": 0, "fft": 0, "filter": 0}

    def conv_hook(mod: nn.Conv2d, _inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        k = mod.kernel_size[0] * mod.kernel_size[1]
        totals["dense"] += out.numel() * (mod.in_channels // mod.groups) * k

    def linear_hook(mod: nn.Linear, _inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        totals["dense"] += out.numel() * mod.in_features

    def filter_hook(mod: AdaptiveFrequencyFilter, inp: tuple[torch.Tensor], _out: torch.Tensor) -> None:
        b, c, h, w = inp[0].shape
        freq = b * c * h * (w // 2 + 1)
        totals["filter"] += 8 * freq * mod.group_size + 4 * freq  # 8 einsums + complex mask product
        totals["fft"] += 2 * b * _fft_macs(c, h, w)  # rfft2 + irfft2

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
        elif isinstance(module, AdaptiveFrequencyFilter):
            handles.append(module.register_forward_hook(filter_hook))
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size))
    finally:
        for handle in handles:
            handle.remove()
    params = sum(p.numel() for p in model.parameters())
    macs = totals["dense"] + totals["filter"] + totals["fft"]
    return Profile(params=params, macs=macs, fft_macs=totals["fft"], filter_macs=totals["filter"])


@functools.cache
def model_macs(name: str, image_size: int) -> int:
    """MACs of one batch-1 forward pass of the registered model ``name``: the one count every record uses."""
    from affdeploy.models import build_model

    return profile_model(build_model(name), image_size).macs


def gmacs_per_s(macs: int | None, p50_ms: float) -> float | None:
    """Throughput at the median latency (GMAC/s), None when either is unknown: the one formula for every record."""
    if not macs or p50_ms <= 0:
        return None
    return macs / (p50_ms / 1e3) / 1e9
