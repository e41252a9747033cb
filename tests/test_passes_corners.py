"""Corners of published FFT models, each through the real lowering: torch.export -> (FFT pass) -> delegate-friendly rewrites
-> ExecuTorch XNNPACK, judged on parity with eager PyTorch, one delegate call and no CPU kernel outside it."""

from __future__ import annotations

import copy
import re

import pytest
import torch
import torch.nn.functional as F
from fft_targets import mil_ops
from test_passes import cpu_kernels, delegate_calls, export, run_pte, xnnpack
from torch import nn
from torch.export import ExportedProgram

from affdeploy.errors import ExportError
from affdeploy.export.executorch import refuse_cpu_conv3d
from affdeploy.fft import lower_fft
from affdeploy.graph import op_counts
from affdeploy.passes import delegate_friendly


def check_one_delegate(module: nn.Module, x: torch.Tensor, gone: set[str], *,
                       lowered: ExportedProgram | None = None) -> None:
    """``gone`` ops are rewritten away, and the .pte is one XNNPACK call with eager PyTorch's outputs.

    ``lowered``: the program after the FFT pass (whose input has ``gone``), else ``module`` is exported here.
    """
    module = module.eval()
    with torch.no_grad():
        expected = module(x)
    ep = lowered if lowered is not None else export(module, x)
    if lowered is None:
        assert gone <= set(op_counts(ep)), op_counts(ep)
    ep = delegate_friendly(ep)
    assert not gone & set(op_counts(ep)), op_counts(ep)
    edge = xnnpack(ep)
    assert delegate_calls(edge) == 1
    assert cpu_kernels(edge) == []
    torch.testing.assert_close(run_pte(edge, x), expected, rtol=1e-4, atol=1e-4)


class PaddedSpectra(nn.Module):
    """A spectrogram padded before the inverse STFT (constant fill), and 2-D spectra padded by reflection and
    replication (every mode F.pad exports as ``aten.pad``)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("window", torch.hann_window(16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x.flatten(1), 16, 4, window=self.window, return_complex=True)
        wave = torch.istft(F.pad(spec, (1, 2), value=0.5), 16, 4, window=self.window)
        images = [torch.fft.irfft2(F.pad(torch.fft.rfft2(x), (1, 2, 2, 1), mode=mode)) for mode in ("reflect", "replicate")]
        return torch.cat([wave.flatten(), *(image.flatten() for image in images)])


@pytest.fixture(scope="module")
def padded_spectra() -> tuple[nn.Module, torch.Tensor, ExportedProgram]:
    module, x = PaddedSpectra().eval(), torch.randn(1, 8, 8)
    ep = torch.export.export(module, (x,))
    assert op_counts(ep)["pad"] == 4  # stft's own centring, and the three pads of complex values
    return module, x, lower_fft(ep)


def test_complex_pads_lower_to_real_pads_in_one_delegate(
    padded_spectra: tuple[nn.Module, torch.Tensor, ExportedProgram],
) -> None:
    module, x, lowered = padded_spectra
    check_one_delegate(module, x, {"pad"}, lowered=copy.deepcopy(lowered))


def test_complex_pads_convert_to_core_ml(padded_spectra: tuple[nn.Module, torch.Tensor, ExportedProgram]) -> None:
    ops = mil_ops(delegate_friendly(copy.deepcopy(padded_spectra[2])))
    assert ops["pad"] and not any("fft" in op or "complex" in op for op in ops)


class EdgePaddedConvs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.reflect = nn.Conv2d(3, 4, 3, padding=(2, 1), padding_mode="reflect")
        self.replicate = nn.Conv2d(4, 2, 3, padding=1, padding_mode="replicate")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.replicate(self.reflect(x))


def test_2d_reflect_and_replicate_pads_stay_in_one_delegate() -> None:
    check_one_delegate(EdgePaddedConvs(), torch.randn(1, 3, 6, 7), {"pad"})


class StridedWrites(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * 1.0
        y[:, ::2] += x[:, :4]  # 7 rows: the last write is a block of one
        y[:, 1:6:3] *= 2.0
        y[:, 0] /= 4.0
        y[:, :, -1] -= 1.0
        return y


def test_strided_and_select_scatters_stay_in_one_delegate() -> None:
    check_one_delegate(StridedWrites(), torch.randn(2, 7, 5), {"slice_scatter", "select_scatter"})


class Convs3d(nn.Module):
    """A 3-D neural operator's pointwise channel mixing, and general 3-D convolutions (strides, dilation, groups)."""

    def __init__(self) -> None:
        super().__init__()
        self.pointwise = nn.Conv3d(4, 6, 1)
        self.general = nn.Conv3d(6, 4, (3, 3, 2), stride=(2, 1, 2), padding=(1, 1, 0), dilation=(1, 2, 1), groups=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.general(torch.relu(self.pointwise(x))).flatten(2)


def test_conv3d_becomes_2d_convolutions_in_one_delegate() -> None:
    check_one_delegate(Convs3d(), torch.randn(2, 4, 5, 6, 6), {"conv3d"})


class DynamicConv3d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(2, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * 2.0


def test_conv3d_left_outside_the_delegate_is_refused_naming_the_line() -> None:
    batch = torch.export.Dim("batch", min=1, max=4)
    ep = torch.export.export(DynamicConv3d().eval(), (torch.randn(2, 2, 3, 4, 4),), dynamic_shapes=({0: batch},))
    edge = xnnpack(delegate_friendly(ep.run_decompositions({})))  # a dynamic batch: not rewritten
    with pytest.raises(ExportError, match=r"aten\.convolution\.default \(a 3-D convolution\) outside the delegate") as info:
        refuse_cpu_conv3d(edge)
    assert re.search(r"test_passes_corners\.py:\d+ \(return self\.conv\(x\) \* 2\.0\)", str(info.value))


class FiveDimSpectrum(nn.Module):
    """A 5-D batch through a factored rfft (n = 2048), a pad, and a Bluestein irfft (n = 2062 = 2 x 1031)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(F.pad(torch.fft.rfft(x), (0, 7)))


def test_5d_complex_values_stay_within_core_mls_rank_5() -> None:
    module, x = FiveDimSpectrum(), torch.randn(1, 2, 1, 2, 2048)
    lowered = lower_fft(torch.export.export(module, (x,)))
    assert max(n.meta["val"].dim() for n in lowered.graph.nodes if isinstance(n.meta.get("val"), torch.Tensor)) <= 5
    torch.testing.assert_close(lowered.module()(x), module(x), rtol=1e-4, atol=1e-4)
    assert mil_ops(delegate_friendly(lowered))["matmul"]  # converts: coremltools refuses any rank-6 tensor
