"""Loading official cvnets checkpoints, with errors that say what is wrong and with which keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from affdeploy.errors import CheckpointError

WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net")
SHOWN_KEYS = 5


def _preview(keys: list[str]) -> str:
    shown = ", ".join(keys[:SHOWN_KEYS])
    return shown + (f" (+{len(keys) - SHOWN_KEYS} more)" if len(keys) > SHOWN_KEYS else "")


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a flat state dict of tensors, unwrapping the usual wrappers."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    try:
        obj: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load raises anything on a damaged file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path} is not a readable torch checkpoint ({first[:160]})") from None
    for _ in range(2):  # e.g. {"model": {"state_dict": ...}}
        if isinstance(obj, dict):
            for key in WRAPPER_KEYS:
                if key in obj and isinstance(obj[key], dict):
                    obj = obj[key]
                    break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} holds no state dict of tensors (found {type(obj).__name__})")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def match_report(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> tuple[list[str], list[str], list[str]]:
    """Missing, unexpected and shape-mismatched keys of ``state`` against ``model``."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    return missing, unexpected, mismatched


def guess_variant(state: dict[str, torch.Tensor]) -> str | None:
    """Which registered variant's keys and shapes ``state`` matches exactly, if any."""
    from affdeploy.models import MODELS
    from affdeploy.models.affnet import AFFNet

    classes = state["classifier.fc.weight"].shape[0] if "classifier.fc.weight" in state else 1000
    for name, info in MODELS.items():
        if not any(match_report(AFFNet(info.config, num_classes=classes), state)):
            return name
    return None


def load_checkpoint(model: torch.nn.Module, path: str | os.PathLike[str], *, variant: str) -> None:
    """Load ``path`` into ``model`` with strict key and shape matching."""
    state = read_state_dict(path)
    missing, unexpected, mismatched = match_report(model, state)
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing: {_preview(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected: {_preview(unexpected)}")
        if mismatched:
            parts.append(f"{len(mismatched)} shape-mismatched: {_preview(mismatched)}")
        seems = guess_variant(state)
        hint = f"the file looks like {seems}; use --model {seems}" if seems and seems != variant else None
        raise CheckpointError(f"checkpoint {Path(path).name} does not match {variant}: " + "; ".join(parts), hint=hint)
    model.load_state_dict(state, strict=True)
