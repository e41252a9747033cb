"""Model registry: a name maps to a constructor and the facts users ask about (timm-style)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from affdeploy.errors import UsageError
from affdeploy.models.affnet import AFFNET_CONFIGS, AFFNet, AFFNetConfig


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows of a variant without building it."""

    name: str
    config: AFFNetConfig
    params: int  # with the 1000-class head
    top1: float  # ImageNet-1k top-1 at 256x256 (paper / official README)


MODELS: dict[str, ModelInfo] = {
    "affnet-et": ModelInfo("affnet-et", AFFNET_CONFIGS["affnet-et"], 1_436_264, 73.0),
    "affnet-t": ModelInfo("affnet-t", AFFNET_CONFIGS["affnet-t"], 2_654_232, 77.0),
    "affnet": ModelInfo("affnet", AFFNET_CONFIGS["affnet"], 5_568_696, 79.8),
}


def list_models() -> list[str]:
    """Names accepted by :func:`build_model`."""
    return list(MODELS)


def model_info(name: str) -> ModelInfo:
    """Registry entry for ``name``; a clear usage error for an unknown name."""
    try:
        return MODELS[name]
    except KeyError:
        raise UsageError(f"unknown model '{name}'; choose one of: {', '.join(MODELS)}") from None


def build_model(
    name: str, *, weights: str | os.PathLike[str] | None = None, num_classes: int = 1000
) -> torch.nn.Module:
    """Build AFFNet variant ``name`` in eval mode, optionally loading an official checkpoint.

    ``weights`` accepts a cvnets state dict (plain, or under ``state_dict``/``model``, with or
    without a ``module.`` prefix); keys and shapes must match exactly.
    """
    info = model_info(name)
    model = AFFNet(info.config, num_classes=num_classes)
    if weights is not None:
        from affdeploy.models.checkpoint import load_checkpoint

        load_checkpoint(model, weights, variant=name)
    return model.eval()


__all__ = ["MODELS", "ModelInfo", "build_model", "list_models", "model_info"]
