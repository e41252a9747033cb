"""A small user model whose artifacts' tensor names, dynamic dims and dtypes are checked (tests/test_artifact_io.py).

Two inputs sharing a dynamic dim declared as ``torch.export.Dim("batch")``, two outputs, one FFT:
what an app reads from the manifest to feed each runtime.
"""

from __future__ import annotations

import torch
from torch import nn


class CrossPower(nn.Module):
    """The difference of two signals and the magnitude of their cross spectrum."""

    def forward(self, zeta: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spectrum = torch.fft.rfft(zeta, dim=-1) * torch.fft.rfft(alpha, dim=-1).conj()
        return zeta - alpha, spectrum.abs()


def cross_power() -> tuple[nn.Module, tuple[torch.Tensor, ...], tuple[dict[int, object], ...]]:
    """A factory as a user writes one: the module, example inputs at batch 2, and the batch dim named."""
    batch = torch.export.Dim("batch", max=16)
    return CrossPower().eval(), (torch.randn(2, 8), torch.randn(2, 8)), ({0: batch}, {0: batch})


class Magnitude(nn.Module):
    """A spectrum's magnitude, taking its argument under the name nn.Linear and nn.Sequential use: ``input``."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft(input, dim=-1).abs()
