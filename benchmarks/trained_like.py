"""Checkpoints with trained-like weights in the official AFFNet key layout, made without a download.

The seeded initialisation is a poor judge of a deployment: its logits are small and nearly flat, so
reduced precision never flips a top-1 and int8 observers see unrealistic ranges. A trained network
has normalised activations, varied per-channel gains, frequency masks well above softshrink's
threshold and confident logits (|logit| up to ~15-20 on photographs). This module gives a network
those properties deterministically, in a second:

1. per-channel gains and shifts on every BatchNorm/GroupNorm affine, in the ranges trained CNNs have
   (:data:`GAMMA`: the network is then in the ordered regime, not chaotic like a random init);
2. smooth 3x3 kernels (:data:`SMOOTH_BASIS`) and frequency-filter weights at a scale where the
   complex MLP's mask is O(0.1), above lambda;
3. BatchNorm running statistics measured on random crops of every bundled photograph (what training
   on a varied data set leaves behind: each layer normalised on real images of many kinds);
4. a classifier over the main directions in which the photographs' features differ, whitened and
   centred on their mean, whose largest logit over the bundled photographs is a chosen value (16).

The state dict is saved exactly as cvnets saves one (plain, optionally under ``state_dict`` with
``module.`` prefixes), so ``--weights`` takes the same path as an official file. Used by
benchmarks/bench_parity.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from affdeploy.data.photos import bundled, center_crop, random_crops, read_rgb
from affdeploy.export.quantize import recalibrate_batchnorm
from affdeploy.models import build_model

DEFAULT_MAX_LOGIT = 16.0
CLASSIFIER_DIRECTIONS = 8
"""The classifier reads the photographs' 8 main feature directions, each scaled to unit spread: every
photograph then gets logits of one scale (a trained head's are of one scale on its data), not a few
outliers 5x the rest."""
GAMMA = (0.3, 0.8)
RESIDUAL_GAMMA = (0.1, 0.3)
RESIDUAL_NORMS = ("red_1x1.block.norm", "conv_proj.block.norm")
BETA_STD = 0.1
"""Norm affines as trained CNNs have them: gains mostly well below 1, residual branches smaller still.
With gains near 1 a randomly weighted network is chaotic (a perturbation of the first layer grows
layer by layer until the logits are unrelated: int8 of the stem alone then costs a cosine of 0.8);
trained networks are not, which is why they survive fp16 and int8 at all."""
_Y, _X = torch.meshgrid(torch.linspace(-1, 1, 3), torch.linspace(-1, 1, 3), indexing="ij")
SMOOTH_BASIS = torch.stack([torch.ones(3, 3) / 3, _X / 2, _Y / 2, (_X**2 + _Y**2 - 4 / 3) / 2])
"""3x3 kernels (stem, depthwise) as trained ones are: colour blobs, oriented edges, centre-surround. Random
kernels are high-pass: they amplify pixel noise, and on a noise image the logits grew 5-10x beyond the
photographs' (measured: max |logit| 76-134 on noise against 17-26 on photos; 10 against 16-20 with these)."""
FILTER_GAIN = 0.3
"""Filter MLP weights ~ N(0, (gain / sqrt(group size))^2) on ortho-normalised spectra (unit-variance
coefficients): the mask's entries are O(0.1), most above softshrink's lambda (0.01)."""


def trained_like(model: str, image_size: int = 256, *, seed: int = 0,
                 max_logit: float = DEFAULT_MAX_LOGIT) -> nn.Module:
    """AFFNet ``model`` in eval mode with trained-like weights (see the module docstring)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = build_model(model)
    with torch.no_grad():
        for name, module in net.named_modules():
            if isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
                low, high = RESIDUAL_GAMMA if name.endswith(RESIDUAL_NORMS) else GAMMA
                module.weight.copy_(torch.empty_like(module.weight).uniform_(low, high, generator=gen))
                module.bias.copy_(BETA_STD * torch.randn(module.bias.shape, generator=gen))
            elif isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3):
                coef = torch.randn(*module.weight.shape[:2], len(SMOOTH_BASIS), generator=gen)
                module.weight.copy_(torch.einsum("oik,kyx->oiyx", coef, SMOOTH_BASIS))
            elif hasattr(module, "w1") and hasattr(module, "b2"):  # the AFF frequency filter
                size = module.w1.shape[-1]
                for param in (module.w1, module.w2):
                    param.copy_(FILTER_GAIN / size**0.5 * torch.randn(param.shape, generator=gen))
                for param in (module.b1, module.b2):
                    param.copy_(0.05 * torch.randn(param.shape, generator=gen))
    photos = [read_rgb(path) for _, path in bundled()]
    crops = random_crops(photos, 2 * len(photos), image_size, seed=seed + 100)
    recalibrate_batchnorm(net, crops)
    fc: nn.Linear = net.classifier.fc
    with torch.no_grad():
        views = [center_crop(read_rgb(path), image_size) for _, path in bundled()]
        features = torch.cat([net.classifier[:-1](net.forward_features(torch.from_numpy(x))) for x in views])
        # a classifier reads the directions in which images differ, centred on the typical image, as training
        # leaves one: random weights over the photographs' principal feature directions, not over all features
        centre = features.mean(0)
        _, spread, directions = torch.linalg.svd(features - centre, full_matrices=False)
        whiten = directions[:CLASSIFIER_DIRECTIONS] / spread[:CLASSIFIER_DIRECTIONS, None]
        fc.weight.copy_(torch.randn(fc.weight.shape[0], whiten.shape[0], generator=gen) @ whiten)
        fc.bias.copy_(-fc.weight @ centre + 0.5 * torch.randn(fc.bias.shape, generator=gen))
        scale = max_logit / float(fc(features).abs().amax())
        fc.weight.mul_(scale)
        fc.bias.mul_(scale)
    return net.eval()


def save_checkpoint(net: nn.Module, path: Path, *, wrapped: bool = False) -> Path:
    """Save as cvnets does: a plain state dict, or (``wrapped``) under ``state_dict`` with ``module.`` prefixes."""
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    if wrapped:
        state = {"state_dict": {f"module.{k}": v for k, v in state.items()}}
    torch.save(state, path)
    return path


def logit_profile(net: nn.Module, inputs: list[np.ndarray]) -> dict[str, float]:
    """How trained-like the logits look: max |logit|, median top-1 margin, distinct top-1 classes."""
    with torch.no_grad():
        logits = [net(torch.from_numpy(x)).reshape(-1) for x in inputs]
    margins = [float(v.topk(2).values[0] - v.topk(2).values[1]) for v in logits]
    return {"max_abs_logit": max(float(v.abs().max()) for v in logits),
            "median_top1_margin": float(np.median(margins)),
            "distinct_top1": float(len({int(v.argmax()) for v in logits}))}
