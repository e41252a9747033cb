"""The FFT pass on a zoo of non-AFFNet FFT models (tests/fft_zoo.py), from a plain torch.export.

Per model: the lowered program has no FFT op and no complex value and matches eager PyTorch on the
example inputs and on fresh random inputs; through the delegate-friendly rewrites it goes to ONNX
(ONNX Runtime parity), to an ExecuTorch XNNPACK .pte (runtime parity, delegate calls and CPU
kernels outside them counted) and converts to a Core ML ML Program with no FFT or complex op.
The target runs take the models side by side as one program (fft_zoo.Bundle): each target's fixed
cost is paid once, and each model is still checked on its own outputs.
"""

from __future__ import annotations

import copy
import io
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from fft_targets import XnnpackRun, mil_ops, run_xnnpack
from fft_zoo import ZOO, Bundle, build

from affdeploy.export.onnx import session_options
from affdeploy.fft import UnsupportedOpError, lower_fft
from affdeploy.graph import complex_value_count, fft_op_count, op_counts
from affdeploy.passes import delegate_friendly

TOLERANCE = 1e-4  # of the output scale
VIA_CLI = {"stft-log-mel", "multi-input"}
"""Exported to all three targets through ``affdeploy export`` in test_user_models.py (.pt2 and factory)."""
ON_TARGETS = [name for name in ZOO if name not in VIA_CLI]


def _outputs(value: Any) -> list[torch.Tensor]:
    return [t.detach() for t in (value if isinstance(value, (tuple, list)) else (value,))]


def _assert_close(got: list[Any], want: list[torch.Tensor]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        g = torch.as_tensor(np.asarray(g)) if not isinstance(g, torch.Tensor) else g
        assert tuple(g.shape) == tuple(w.shape)
        scale = max(1.0, float(w.abs().max()))
        assert float((g - w).abs().max()) <= TOLERANCE * scale


def _fresh(args: tuple[torch.Tensor, ...], seed: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(a.shape, generator=gen) for a in args)


class Zoo:
    """Session cache: each model exported and lowered once, shared by the tests below."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[torch.nn.Module, tuple[torch.Tensor, ...], torch.export.ExportedProgram]] = {}

    def get(self, name: str) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...], torch.export.ExportedProgram]:
        if name not in self._cache:
            model, args, dynamic = build(name)
            lowered = lower_fft(torch.export.export(model, args, dynamic_shapes=dynamic))
            self._cache[name] = (model, args, lowered)
        return self._cache[name]


@pytest.fixture(scope="session")
def zoo() -> Zoo:
    return Zoo()


def test_zoo_is_large_and_starts_with_ffts() -> None:
    assert len(ZOO) >= 12
    for name in ZOO:
        model, args, dynamic = build(name)
        assert fft_op_count(torch.export.export(model, args, dynamic_shapes=dynamic)) > 0, name


@pytest.mark.parametrize("name", list(ZOO))
def test_lowered_zoo_model_matches_eager(zoo: Zoo, name: str) -> None:
    model, args, lowered = zoo.get(name)
    assert fft_op_count(lowered) == 0 and complex_value_count(lowered) == 0
    assert not any(t.is_complex() for t in [*lowered.state_dict.values(), *lowered.constants.values()])
    for inputs in (args, _fresh(args, 7)):
        with torch.no_grad():
            _assert_close(_outputs(lowered.module()(*inputs)), _outputs(model(*inputs)))


def test_stft_is_one_strided_conv_with_the_window_folded(zoo: Zoo) -> None:
    _, _, lowered = zoo.get("stft-log-mel")
    ops = op_counts(lowered)
    assert ops["conv1d"] == 1 and not {"unfold", "hann_window", "mm", "matmul"} & set(ops) - {"matmul"}
    assert ops["matmul"] == 1  # the mel filterbank, not a DFT
    _, _, resynth = zoo.get("istft-resynthesis")
    assert op_counts(resynth)["conv_transpose1d"] == 1  # istft: one transposed conv (overlap-add)


def test_dynamic_batch_runs_lowered_at_every_batch(zoo: Zoo) -> None:
    model, args, lowered = zoo.get("dynamic-batch")
    (symbol, bounds), = lowered.range_constraints.items()
    assert (int(bounds.lower), int(bounds.upper)) == (1, 8)
    for batch in range(1, 9):
        x = torch.randn(batch, *args[0].shape[1:])
        with torch.no_grad():
            _assert_close(_outputs(lowered.module()(x)), _outputs(model(x)))


class DynamicAxisFFT(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.fft(x, dim=0).real


def test_transform_along_a_dynamic_dim_is_an_error_naming_it() -> None:
    ep = torch.export.export(DynamicAxisFFT(), (torch.randn(4, 3),),
                             dynamic_shapes=({0: torch.export.Dim("n", min=4, max=16)},))
    with pytest.raises(UnsupportedOpError, match=r"fft_fft.*along dim 0 of .* which is dynamic.*pass that dim as static"):
        lower_fft(ep, target="executorch")


def _onnx_outputs(ep: torch.export.ExportedProgram, inputs: tuple[torch.Tensor, ...]) -> list[np.ndarray]:
    program = torch.onnx.export(ep, inputs, dynamo=True, verbose=False)
    buffer = io.BytesIO()
    onnx.save(program.model_proto, buffer)
    proto = onnx.load_from_string(buffer.getvalue())
    assert not {n.op_type for n in proto.graph.node} & {"DFT", "STFT"}
    session = ort.InferenceSession(buffer.getvalue(), session_options(threads=1), providers=["CPUExecutionProvider"])
    feed = {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs, strict=True)}
    return session.run(None, feed)


@dataclass
class OnTargets:
    """What each target made of the bundle of zoo models (its eager outputs are the reference)."""

    bundle: Bundle
    onnx: list[np.ndarray]
    mil_ops: Counter[str]
    xnnpack: XnnpackRun


@pytest.fixture(scope="module")
def on_targets() -> OnTargets:
    """The ON_TARGETS models as ONE program, lowered and converted once per target.

    Each target's fixed cost (its retraces, optimizer, session) is paid once for all models instead
    of once per model; the models stay independent parts of the graph, each with its own outputs.
    """
    bundle = Bundle.of(ON_TARGETS).eval()
    args = bundle.example
    lowered = lower_fft(torch.export.export(bundle, args, dynamic_shapes=bundle.dynamic))
    friendly = delegate_friendly(lowered)
    return OnTargets(bundle, _onnx_outputs(friendly, args), mil_ops(friendly), run_xnnpack(copy.deepcopy(friendly), args))


@pytest.mark.parametrize("name", ON_TARGETS)
def test_zoo_model_through_onnx_executorch_and_coreml(on_targets: OnTargets, name: str) -> None:
    part = on_targets.bundle.outputs[name]
    want = on_targets.bundle.reference[part]
    _assert_close(on_targets.onnx[part], want)
    assert not any("fft" in op or "complex" in op for op in on_targets.mil_ops)
    outputs, delegate_calls, outside = on_targets.xnnpack.of(part)
    _assert_close(outputs, want)
    assert delegate_calls, "no XNNPACK delegate call computes this model"
    assert not {op for op in outside if "mm" in op or "linear" in op or "convolution" in op}, outside
