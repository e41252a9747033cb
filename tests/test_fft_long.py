"""Long sequences and large images through the CLI: Hyena's FFT convolution at L=8192, FNet at 2048
tokens, LaMa's FFC at 512 px and Whisper's log-mel of 30 s at 16 kHz (tests/fft_zoo.py LONG).

The four models go side by side as one factory (``fft_zoo:long_models``) through ONE ``affdeploy export --target
onnx,executorch`` that runs in the background while other tests run (tests/background_exports.py). The export
itself checks parity of all outputs; here each model is also checked on its own outputs in ONNX Runtime and
ExecuTorch, and the manifest is read for the forms the transforms took and the DFT constants they cost. Core ML
and LiteRT (the two slowest conversions of these sizes) get the same export with parity in
benchmarks/bench_fft_long.py, whose committed result tests/test_benchmark_results.py keeps current.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fft_zoo import LONG, long_models

from affdeploy.export.manifest import read_manifest
from affdeploy.export.registry import get_target
from affdeploy.export.request import ExportRequest

TOLERANCE = 1e-4  # of each output's scale, as for the zoo


@pytest.fixture(scope="module")
def exported(fft_long_export: tuple) -> dict:
    folder, _ = fft_long_export
    entries = {entry.target: entry for entry in read_manifest(folder)}
    bundle, inputs = long_models()
    return {"folder": folder, "entries": entries, "bundle": bundle, "inputs": inputs}


def test_every_target_exported_with_parity(exported: dict) -> None:
    entries = exported["entries"]
    assert set(entries) == {"onnx", "executorch"}
    for target, entry in entries.items():
        assert entry.parity.status == "passed", (target, entry.parity.reason)
        assert entry.op_counts.fft_ops_left == 0 and entry.op_counts.complex_values == 0, target


def test_long_transforms_are_factored_with_small_constants(exported: dict) -> None:
    entry = exported["entries"]["executorch"]
    forms = {}
    for transform in entry.fft_transforms:
        for axis in transform["axes"]:
            forms[axis["n"]] = axis["form"]
        if transform["op"] == "stft":
            forms["stft"] = transform["forms"][0]
    assert forms[16384].startswith("factored") and forms[2048].startswith("factored")  # Hyena, FNet
    assert forms[512].startswith("factored") and forms["stft"].startswith("framed factored")  # LaMa, Whisper
    assert forms[32] == "dense"  # FNet's hidden axis: short axes stay dense
    assert 0 < entry.fft_constant_bytes < 16e6  # dense matrices for these sizes would take gigabytes
    assert all(e.fft_constant_bytes for e in exported["entries"].values())


def test_the_fft_lowering_stays_inside_the_xnnpack_delegate(exported: dict) -> None:
    """What the pass emits is delegated; what stays outside is each model's own (LayerNorm, reflect padding of
    LaMa's convs, Whisper's global max)."""
    delegation = exported["entries"]["executorch"].op_counts.delegation
    for op in ("bmm", "mm", "permute_copy", "view_copy", "slice_copy", "cat", "mul", "sub", "add",
               "constant_pad_nd", "convolution"):
        assert delegation.get(f"aten.{op}.default", delegation.get(f"aten.{op}.Tensor")) is None or \
            (delegation.get(f"aten.{op}.default") or delegation.get(f"aten.{op}.Tensor")).non_delegated == 0, op


def _flat_outputs(target: str, exported: dict) -> np.ndarray:
    """Every output of the artifact, flattened and concatenated in order (what each target's session scores)."""
    entry = exported["entries"][target]
    request = ExportRequest.create("fft_zoo:long_models", target, fft=entry.fft)
    session = get_target(target).open(exported["folder"] / entry.path, request, threads=1)
    inputs = tuple(t.numpy() for t in exported["inputs"])
    return session.scores(session.infer(session.prepare(inputs)))


@pytest.mark.parametrize("target", ["onnx", "executorch"])
def test_each_long_model_matches_eager_on_its_own_outputs(exported: dict, target: str) -> None:
    bundle = exported["bundle"]
    flat = _flat_outputs(target, exported)
    sizes = [t.numel() for t in bundle.reference]
    assert flat.size == sum(sizes)
    got = np.split(flat, np.cumsum(sizes)[:-1])
    for name in LONG:
        for g, want in zip(got[bundle.outputs[name]], bundle.reference[bundle.outputs[name]], strict=True):
            want = want.detach().double()
            error = float((torch.as_tensor(g).reshape(want.shape) - want).abs().max())
            assert error <= TOLERANCE * max(1.0, float(want.abs().max())), (target, name, error)
