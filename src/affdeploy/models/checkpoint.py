"""Loading official cvnets checkpoints, with errors that say what is wrong and with which keys."""

from __future__ import annotations

import os
import pickletools
import zipfile
from pathlib import Path
from typing import Any

import torch

from affdeploy.errors import CheckpointError

WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net")
SHOWN_KEYS = 5
EXPECTED = "expected a state dict saved with torch.save, e.g. an official AFFNet .pt"
_TORCH_LEGACY_MAGIC = bytes.fromhex("80028a0a6cfc9c46f9206aa85019")  # pickled magic number of pre-1.6 torch.save
_MAGIC = {b"\x89HDF": "is an HDF5 file (Keras?)", b"\x1f\x8b": "is gzip-compressed", b"\x89PNG": "is a PNG image",
          b"\xff\xd8\xff": "is a JPEG image"}
# An ONNX ModelProto opens with ir_version (field 1, a small varint), then the next field by number: producer_name,
# producer_version, domain, model_version, doc_string, graph or opset_import.
_ONNX_SECOND_TAGS = frozenset(b"\x12\x1a\x22\x28\x32\x3a\x42")


def _pickle_imports(data: bytes) -> list[str]:
    """Python objects a pickle would import, read with pickletools (which never executes it)."""
    strings: list[str] = []
    found: list[str] = []
    try:
        for op, arg, _pos in pickletools.genops(data):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                strings.append(str(arg))
            elif op.name == "GLOBAL":
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
    except Exception:  # noqa: BLE001 - a damaged pickle ends the scan, what was found so far stands
        pass
    return list(dict.fromkeys(found))


def _zip_description(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
            if not pickles:
                return "is a zip archive without the data.pkl of a torch.save checkpoint"
            risky = [g for g in _pickle_imports(archive.read(pickles[0])) if not g.startswith(("torch.", "collections."))]
    except (OSError, zipfile.BadZipFile):
        return "is a damaged or truncated zip archive (torch.save writes zip archives)"
    if risky:
        return f"holds Python objects ({', '.join(risky[:3])}) that a weights-only load refuses to run"
    return "is a torch.save archive whose contents could not be read (damaged or truncated)"


def describe_file(path: Path) -> str:
    """What a file that torch.load refused actually is, for the error line (never executes it)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not head:
        return "is empty"
    if head.startswith(b"PK\x03\x04"):
        return _zip_description(path)
    if head.startswith(b"\x80") and len(head) > 1 and 2 <= head[1] <= 5:
        if head.startswith(_TORCH_LEGACY_MAGIC):
            return "is a damaged legacy (pre-1.6) torch.save file"
        imports = [g for g in _pickle_imports(path.read_bytes()) if not g.startswith("torch.")]
        if imports:
            return f"is a plain Python pickle that would run code on loading ({', '.join(imports[:3])}); refused"
        return "is a plain Python pickle, not a torch.save checkpoint"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 1 << 30:
        return "is a safetensors file (convert it with safetensors.torch.load_file and torch.save)"
    if head[4:8] == b"ET12":
        return "is an ExecuTorch program (.pte), not a checkpoint"
    if len(head) >= 3 and head[0] == 0x08 and 1 <= head[1] < 0x80 and head[2] in _ONNX_SECOND_TAGS:
        return "is an ONNX model, not a checkpoint (export from the PyTorch weights instead)"
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            return what
    if b"\0" not in head:
        try:
            head.decode("utf-8")
            return "is a text file"
        except UnicodeDecodeError:
            pass
    return "is binary data in no format torch.load reads"


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
    except Exception:  # noqa: BLE001 - torch.load raises anything on a damaged file
        raise CheckpointError(f"{path} is not a readable torch checkpoint: it {describe_file(path)}",
                              hint=EXPECTED) from None
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
