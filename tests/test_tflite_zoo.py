"""The FFT zoo (tests/fft_zoo.py) through the LiteRT target: every model converts and matches eager PyTorch.

What ``export --target tflite`` does to any program: FFT lowering, delegate-friendly rewrites, then
litert-torch; the .tflite runs in ai-edge-litert's interpreter with its XNNPACK delegate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from affdeploy.export.tflite import convert, interpreter, read_op_codes
from affdeploy.fft import lower_fft
from affdeploy.passes import delegate_friendly
from fft_zoo import ZOO, build

TOLERANCE = 1e-4  # of the output scale, as in test_fft_zoo.py


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_model_converts_to_tflite_and_matches_eager(tflite_ready: None, tmp_path: Path, name: str) -> None:
    model, args, _dynamic = build(name)  # litert-torch exports at the example shapes: static
    program = delegate_friendly(lower_fft(torch.export.export(model, args)))
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(convert(program, args))
    ops, complex_values = read_op_codes(path)
    assert complex_values == 0 and not {"RFFT2D", "IRFFT2D"} & set(ops)
    runner = interpreter(path, 1).get_signature_runner()
    got = runner(**{f"args_{i}": a.numpy() for i, a in enumerate(args)})
    with torch.no_grad():
        want = model(*args)
    want = want if isinstance(want, (tuple, list)) else (want,)
    assert len(got) == len(want)
    for i, w in enumerate(want):
        g = got[f"output_{i}"]
        assert g.shape == tuple(w.shape)
        assert float(np.abs(g - w.numpy()).max()) <= TOLERANCE * max(1.0, float(w.abs().max())), name
