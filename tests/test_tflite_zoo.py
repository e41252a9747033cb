"""The FFT zoo (tests/fft_zoo.py) through the LiteRT target: every model converts and matches eager PyTorch.

What ``export --target tflite`` does to any program: FFT lowering, delegate-friendly rewrites, then
litert-torch; the .tflite runs in ai-edge-litert's interpreter with its XNNPACK delegate. The models
go side by side as one program (fft_zoo.Bundle): one conversion for all, each model checked on its
own outputs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from fft_zoo import ZOO, Bundle

from affdeploy.export.tflite import convert, interpreter, read_op_codes
from affdeploy.fft import lower_fft
from affdeploy.passes import delegate_friendly

TOLERANCE = 1e-4  # of the output scale, as in test_fft_zoo.py


@dataclass
class Converted:
    """The bundle's .tflite: its op codes, complex tensors and outputs."""

    bundle: Bundle
    ops: Counter[str]
    complex_values: int
    got: list[np.ndarray]


@pytest.fixture(scope="module")
def converted(tflite_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Converted:
    bundle = Bundle.of(list(ZOO)).eval()
    args = bundle.example  # litert-torch exports at the example shapes: static
    program = delegate_friendly(lower_fft(torch.export.export(bundle, args)))
    path = tmp_path_factory.mktemp("zoo_tflite") / "zoo.tflite"
    path.write_bytes(convert(program, args))
    ops, complex_values = read_op_codes(path)
    runner = interpreter(path, 1).get_signature_runner()
    got = runner(**{f"args_{i}": a.numpy() for i, a in enumerate(args)})
    return Converted(bundle, ops, complex_values, [got[f"output_{i}"] for i in range(len(got))])


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_model_converts_to_tflite_and_matches_eager(converted: Converted, name: str) -> None:
    assert converted.complex_values == 0 and not {"RFFT2D", "IRFFT2D"} & set(converted.ops)
    part = converted.bundle.outputs[name]
    got, want = converted.got[part], converted.bundle.reference[part]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == tuple(w.shape)
        assert float(np.abs(g - w.numpy()).max()) <= TOLERANCE * max(1.0, float(w.abs().max())), name
