"""LiteRT exports of user models: a dynamic dim is fixed at its example size, with a warning that says so.

litert-torch 0.10 cannot lower the DFT-lowered program with a symbolic dim (its JAX lowering needs
concrete shapes), so the .tflite takes the example shapes; the warning names each fixed dim. Several
inputs and outputs are checked in tests/test_user_models_android.py (one export of the two-input
model to every target, shared with the phone runners).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import fft_zoo
from affdeploy.export.registry import get_target
from affdeploy.export.request import ExportRequest
from cli_helpers import cli


def test_dynamic_batch_is_converted_at_its_example_size_with_a_warning(
        tflite_ready: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "export", "--model", "fft_zoo:dynamic_batch", "--target", "tflite",
                         "--out", str(tmp_path), "--json")
    assert code == 0, err
    (entry,) = json.loads(out)
    warning = ("LiteRT takes static shapes: converted at the example size, dynamic dim 0 of input 0 (x) fixed at 2; "
               "other sizes need an export at another example size")
    assert err.strip() == f"warning: {entry['path']}: {warning}"
    assert entry["op_counts"]["warnings"] == [warning]
    assert entry["parity"]["status"] == "passed" and entry["parity"]["max_abs_err"] <= 1e-4

    artifact = tmp_path / entry["path"]
    request = ExportRequest.create("fft_zoo:dynamic_batch", "tflite")
    session = get_target("tflite").open(artifact, request, threads=1)
    model, (example,), _ = fft_zoo.build("dynamic-batch")
    (out_tensor,) = session.infer(session.prepare(example.numpy()))
    assert out_tensor.shape == (2, 3, 16)
    np.testing.assert_allclose(out_tensor, model(example).detach().numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="cannot reshape|dimension|shape|size"):
        session.infer(session.prepare(torch.zeros(3, 3, 16).numpy()))  # the static .tflite takes batch 2 only
