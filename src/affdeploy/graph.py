"""Exporting a model to an ATen graph and counting what is in it (FFT and complex ops)."""

from __future__ import annotations

from collections import Counter

import torch
from torch.export import ExportedProgram

from affdeploy.errors import UsageError
from affdeploy.limits import check_image_fits

FFT_OP_PREFIXES = ("_fft_", "fft_")
SHORT_TIME_FFT_OPS = frozenset({"stft", "istft"})


def check_image_size(image_size: int) -> int:
    """AFFNet downsamples by 32: height and width must be positive multiples of 32, and fit in memory."""
    if image_size <= 0 or image_size % 32:
        raise UsageError(f"--image-size must be a positive multiple of 32, got {image_size}")
    check_image_fits(image_size)
    return image_size


def example_input(image_size: int, *, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """A deterministic input in [0, 1], the range AFFNet is trained on."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, image_size, image_size, generator=generator)


def export_program(model: torch.nn.Module, image_size: int = 256) -> ExportedProgram:
    """torch.export the model at a fixed input size, decomposed to core ATen."""
    with torch.no_grad():
        ep = torch.export.export(model.eval(), (example_input(image_size),), strict=False)
    return ep.run_decompositions({})


def op_name(target: object) -> str:
    """Short ATen name of a call target, e.g. ``_fft_r2c`` for ``aten._fft_r2c.default``."""
    name = getattr(target, "__name__", str(target))
    return name.split(".")[0]


def op_counts(ep: ExportedProgram) -> Counter[str]:
    """How many times each op is called in the graph."""
    return Counter(op_name(n.target) for n in ep.graph.nodes if n.op == "call_function")


def is_fft_op(name: str) -> bool:
    return name.startswith(FFT_OP_PREFIXES) or name in SHORT_TIME_FFT_OPS


def fft_op_count(ep: ExportedProgram) -> int:
    """Number of FFT calls in the graph."""
    return sum(c for name, c in op_counts(ep).items() if is_fft_op(name))


def complex_value_count(ep: ExportedProgram) -> int:
    """Number of graph values (nodes) that carry a complex tensor."""
    count = 0
    for node in ep.graph.nodes:
        val = node.meta.get("val")
        if isinstance(val, torch.Tensor) and val.is_complex():
            count += 1
    return count
