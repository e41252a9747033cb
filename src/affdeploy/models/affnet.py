"""AFFNet: Adaptive Frequency Filters as efficient global token mixers (arXiv 2307.14008).

Built exactly as the official implementation (microsoft/TokenMixers, on Apple's ml-cvnets)
builds it, so that official checkpoints load with strict key matching: module names follow
cvnets (``conv_1``, ``layer_k``, ``block.conv``, ``global_rep.j.filter.w1`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

SOFTSHRINK_LAMBDA = 0.01
NUM_FILTER_GROUPS = 8


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """cvnets/MobileNetV2 channel rounding: nearest multiple of ``divisor``, never below 90%."""
    min_value = min_value or divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return new_value


class ConvLayer(nn.Module):
    """cvnets ConvLayer: Conv2d (no bias) -> BatchNorm2d -> optional SiLU, under ``block``."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> None:
        super().__init__()
        self.block = nn.Sequential()
        self.block.add_module(
            "conv", nn.Conv2d(cin, cout, kernel, stride, padding=(kernel - 1) // 2, groups=groups, bias=False)
        )
        self.block.add_module("norm", nn.BatchNorm2d(cout))
        if act:
            self.block.add_module("act", nn.SiLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: optional 1x1 expansion, depthwise 3x3 (carries the stride), 1x1 reduction."""

    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: float) -> None:
        super().__init__()
        hidden = make_divisible(int(round(cin * expand_ratio)), 8)
        self.block = nn.Sequential()
        if expand_ratio != 1:
            self.block.add_module("exp_1x1", ConvLayer(cin, hidden, 1))
        self.block.add_module("conv_3x3", ConvLayer(hidden, hidden, 3, stride=stride, groups=hidden))
        self.block.add_module("red_1x1", ConvLayer(hidden, cout, 1, act=False))
        self.use_res_connect = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.use_res_connect else y


def layer_norm_2d(channels: int) -> nn.GroupNorm:
    """cvnets' ``layer_norm_2d``: GroupNorm with a single group over (C, H, W)."""
    return nn.GroupNorm(1, channels, eps=1e-5, affine=True)


class AdaptiveFrequencyFilter(nn.Module):
    """The AFF token mixer: a per-frequency complex group-linear MLP builds a mask in the
    Fourier domain (rfft2, ortho) that multiplies the spectrum; irfft2 brings it back.

    Official class name: ``AFNO2D_channelfirst``. Always computed in float32.
    """

    def __init__(self, channels: int, num_groups: int = NUM_FILTER_GROUPS, lambd: float = SOFTSHRINK_LAMBDA) -> None:
        super().__init__()
        if channels % num_groups:
            raise ValueError(f"channels ({channels}) must be divisible by num_groups ({num_groups})")
        self.channels = channels
        self.num_groups = num_groups
        self.group_size = channels // num_groups
        self.lambd = lambd
        g, s = num_groups, self.group_size
        self.w1 = nn.Parameter(0.02 * torch.randn(2, g, s, s))
        self.b1 = nn.Parameter(0.02 * torch.randn(2, g, s))
        self.w2 = nn.Parameter(0.02 * torch.randn(2, g, s, s))
        self.b2 = nn.Parameter(0.02 * torch.randn(2, g, s))
        self.act = nn.SiLU()
        self.act2 = nn.SiLU()

    @staticmethod
    def _group_linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bkihw,kio->bkohw", x, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = x
        dtype = x.dtype
        x = x.float()
        b, c, h, w = x.shape
        spectrum = torch.fft.rfft2(x, dim=(2, 3), norm="ortho")
        z = spectrum.reshape(b, self.num_groups, self.group_size, spectrum.shape[2], spectrum.shape[3])
        lin = self._group_linear
        b1 = self.b1[:, :, :, None, None]
        b2 = self.b2[:, :, :, None, None]
        o1_real = self.act(lin(z.real, self.w1[0]) - lin(z.imag, self.w1[1]) + b1[0])
        o1_imag = self.act2(lin(z.imag, self.w1[0]) + lin(z.real, self.w1[1]) + b1[1])
        o2_real = lin(o1_real, self.w2[0]) - lin(o1_imag, self.w2[1]) + b2[0]
        o2_imag = lin(o1_imag, self.w2[0]) + lin(o1_real, self.w2[1]) + b2[1]
        mask = F.softshrink(torch.stack([o2_real, o2_imag], dim=-1), lambd=self.lambd)
        mask = torch.view_as_complex(mask).reshape(b, c, spectrum.shape[2], spectrum.shape[3])
        y = torch.fft.irfft2(mask * spectrum, s=(h, w), dim=(2, 3), norm="ortho")
        return y.type(dtype) + bias


class Block(nn.Module):
    """AFF block: norm1 -> inverted-residual MLP -> norm2 -> frequency filter, plus a skip."""

    def __init__(self, dim: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = layer_norm_2d(dim)
        self.filter = AdaptiveFrequencyFilter(dim)
        self.norm2 = layer_norm_2d(dim)
        self.mlp = InvertedResidual(dim, dim, stride=1, expand_ratio=mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.mlp(self.norm1(x))
        return self.filter(self.norm2(u)) + x


class AFFBlock(nn.Module):
    """AFF stage: N Blocks and a final norm (``global_rep``), a 1x1 projection, and a 1x1
    fusion of the stage input with the projection."""

    def __init__(self, dim: int, ffn_dim: int, depth: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = [Block(dim, ffn_dim / dim) for _ in range(depth)]
        blocks.append(layer_norm_2d(dim))
        self.global_rep = nn.Sequential(*blocks)
        self.conv_proj = ConvLayer(dim, dim, 1, act=False)
        self.fusion = ConvLayer(2 * dim, dim, 1, act=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fm = self.conv_proj(self.global_rep(x))
        return self.fusion(torch.cat((x, fm), dim=1))


@dataclass(frozen=True)
class AFFNetConfig:
    """Hyperparameters of one AFFNet variant (cvnets ``model.classification.affnet.mode``)."""

    name: str
    cvnets_mode: str
    expand_ratio: float
    layer2_width: int
    widths: tuple[int, int, int]  # layer_3 / layer_4 / layer_5
    depths: tuple[int, int, int] = (2, 4, 3)
    ffn_multiplier: int = 2
    stem_width: int = 16
    layer1_width: int = 32
    head_max_width: int = 960
    dropout: float = 0.1

    @property
    def head_width(self) -> int:
        return min(4 * self.widths[2], self.head_max_width)


class AFFNet(nn.Module):
    """AFFNet image classifier. Input (B, 3, H, W) with H, W multiples of 32, pixels in [0, 1]."""

    # registered by name in __init__ (the checkpoints' keys); declared for the type checker
    layer_3: nn.Sequential
    layer_4: nn.Sequential
    layer_5: nn.Sequential

    def __init__(self, cfg: AFFNetConfig, num_classes: int = 1000) -> None:
        super().__init__()
        self.cfg = cfg
        e = cfg.expand_ratio
        self.conv_1 = ConvLayer(3, cfg.stem_width, 3, stride=2)
        self.layer_1 = nn.Sequential(InvertedResidual(cfg.stem_width, cfg.layer1_width, 1, e))
        self.layer_2 = nn.Sequential(
            InvertedResidual(cfg.layer1_width, cfg.layer2_width, 2, e),
            InvertedResidual(cfg.layer2_width, cfg.layer2_width, 1, e),
            InvertedResidual(cfg.layer2_width, cfg.layer2_width, 1, e),
        )
        cin = cfg.layer2_width
        for index, (width, depth) in enumerate(zip(cfg.widths, cfg.depths, strict=True), start=3):
            stage = nn.Sequential(
                InvertedResidual(cin, width, 2, e),
                AFFBlock(width, cfg.ffn_multiplier * width, depth),
            )
            self.add_module(f"layer_{index}", stage)
            cin = width
        self.conv_1x1_exp = ConvLayer(cin, cfg.head_width, 1)
        self.classifier = nn.Sequential()
        self.classifier.add_module("global_pool", nn.AdaptiveAvgPool2d(1))
        self.classifier.add_module("flatten", nn.Flatten(1))
        self.classifier.add_module("dropout", nn.Dropout(cfg.dropout))
        self.classifier.add_module("fc", nn.Linear(cfg.head_width, num_classes))
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        """cvnets-like init so an untrained model still gives well-scaled, non-degenerate logits."""
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out")
        elif isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_1(x)
        for stage in (self.layer_1, self.layer_2, self.layer_3, self.layer_4, self.layer_5):
            x = stage(x)
        return self.conv_1x1_exp(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


AFFNET_CONFIGS: dict[str, AFFNetConfig] = {
    "affnet-et": AFFNetConfig("affnet-et", "xx_small", 2, 48, (64, 104, 144)),
    "affnet-t": AFFNetConfig("affnet-t", "x_small", 4, 48, (96, 160, 192)),
    "affnet": AFFNetConfig("affnet", "small", 4, 64, (128, 256, 320)),
}
