"""The Core ML reference interpreter on the shape arithmetic coremltools emits for a dynamic batch.

With a dynamic dim, coremltools computes shapes at run time: ``shape`` -> ``gather`` of 0-d values
-> ``concat`` into a shape vector, and a reshape's -1 as ``real_div`` of int32 values (which MIL
types as int32, the inputs' promoted type). ``export --target coreml`` of such a model must verify
with engine mil-reference.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import cli
from torch import nn

from affdeploy.coreml_reference.registry import lookup


class DynamicShapes(nn.Module):
    """rfft, then reshape/cat/expand/split/stack/view that all depend on the dynamic batch."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = x.shape[0]
        flat = torch.fft.rfft(x, dim=-1).abs().reshape(b, -1)  # (b, 27)
        z = torch.cat([flat, flat.mean(-1, keepdim=True).expand(b, 5)], dim=-1)
        first, second = torch.split(z, [16, 16], dim=-1)
        return torch.stack([first, second], dim=1).view(b * 2, 16).sum(0), torch.zeros(b, 4) + b


def dynamic_shapes() -> tuple[nn.Module, tuple[torch.Tensor, ...], tuple[dict[int, object], ...]]:
    """``--model test_coreml_reference_dynamic:dynamic_shapes``."""
    return DynamicShapes(), (torch.randn(2, 3, 16, generator=torch.Generator().manual_seed(0)),), (
        {0: torch.export.Dim("batch", min=1, max=8)},)


def test_integer_real_div_keeps_the_int_type() -> None:
    real_div = lookup("real_div")
    assert real_div is not None
    out = real_div.fn(np.array([32, 17, -7], np.int32), np.array([2], np.int32))
    assert out.dtype == np.int32 and out.tolist() == [16, 8, -3]  # truncated toward zero
    assert real_div.fn(np.array([3.0], np.float32), np.array([2], np.int32)).tolist() == [1.5]


def test_dynamic_batch_shape_arithmetic_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "export", "--model", "test_coreml_reference_dynamic:dynamic_shapes",
                         "--target", "coreml", "--precision", "fp32", "--out", str(tmp_path), "--json")
    assert code == 0, err
    (entry,) = json.loads(out)
    shape = entry["input"]["inputs"][0]["shape"]
    assert shape[1:] == [3, 16] and isinstance(shape[0], str)  # the batch stayed dynamic
    parity = entry["parity"]
    assert parity["engine"] == "mil-reference" and parity["status"] == "passed", parity
    assert parity["max_abs_err"] <= 1e-4
