"""Small FFT models that are NOT AFFNet, to show the FFT pass is generic.

GlobalFilterNet: a GFNet-style global filter layer (channels-last rfft2 over dims 1 and 2,
multiplied by a learnt complex filter stored as real (..., 2) weights, view_as_complex).
SpectralConvNet: an FNO-style spectral convolution (complex parameters, complex einsum over
the lowest modes, written into a zero spectrum by slice assignment, irfft2 back).
"""

from __future__ import annotations

import torch
from torch import nn


class GlobalFilter(nn.Module):
    """GFNet global filter on (B, H, W, C): y = irfft2(rfft2(x) * W)."""

    def __init__(self, h: int, w: int, channels: int) -> None:
        super().__init__()
        self.h, self.w = h, w
        self.complex_weight = nn.Parameter(0.02 * torch.randn(h, w // 2 + 1, channels, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft2(x, dim=(1, 2), norm="ortho")
        spectrum = spectrum * torch.view_as_complex(self.complex_weight)
        return torch.fft.irfft2(spectrum, s=(self.h, self.w), dim=(1, 2), norm="ortho")


class GlobalFilterNet(nn.Module):
    """Conv stem, one GFNet block (norm, filter, MLP), linear head."""

    def __init__(self, size: int = 14, channels: int = 16, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, padding=1)
        self.norm = nn.LayerNorm(channels)
        self.filter = GlobalFilter(size, size, channels)
        self.mlp = nn.Sequential(nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels))
        self.head = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x).permute(0, 2, 3, 1)
        x = x + self.mlp(self.filter(self.norm(x)))
        return self.head(x.mean(dim=(1, 2)))


class SpectralConv2d(nn.Module):
    """FNO spectral convolution keeping ``modes`` low frequencies in each direction."""

    def __init__(self, cin: int, cout: int, modes1: int, modes2: int) -> None:
        super().__init__()
        self.cout, self.modes1, self.modes2 = cout, modes1, modes2
        scale = 1.0 / (cin * cout)
        self.weights1 = nn.Parameter(scale * torch.randn(cin, cout, modes1, modes2, dtype=torch.cfloat))
        self.weights2 = nn.Parameter(scale * torch.randn(cin, cout, modes1, modes2, dtype=torch.cfloat))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        m1, m2 = self.modes1, self.modes2
        x_ft = torch.fft.rfft2(x)
        out_ft = torch.zeros(b, self.cout, h, w // 2 + 1, dtype=torch.cfloat)
        out_ft[:, :, :m1, :m2] = torch.einsum("bixy,ioxy->boxy", x_ft[:, :, :m1, :m2], self.weights1)
        out_ft[:, :, -m1:, :m2] = torch.einsum("bixy,ioxy->boxy", x_ft[:, :, -m1:, :m2], self.weights2)
        return torch.fft.irfft2(out_ft, s=(h, w))


class SpectralConvNet(nn.Module):
    """Lift, ``layers`` FNO layers (spectral conv + 1x1 conv, GELU), project.

    One layer by default: a second lowers to the same ops again and doubles every export's work.
    """

    def __init__(self, width: int = 8, modes: int = 4, layers: int = 1) -> None:
        super().__init__()
        self.lift = nn.Conv2d(3, width, 1)
        self.spectral = nn.ModuleList([SpectralConv2d(width, width, modes, modes) for _ in range(layers)])
        self.pointwise = nn.ModuleList([nn.Conv2d(width, width, 1) for _ in range(layers)])
        self.project = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lift(x)
        for spectral, pointwise in zip(self.spectral, self.pointwise, strict=True):
            x = nn.functional.gelu(spectral(x) + pointwise(x))
        return self.project(x)
