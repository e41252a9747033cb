"""A zoo of FFT models that are not AFFNet, written the way their upstream projects write them.

Each entry builds a module and its example inputs (and, for one, dynamic shapes) like a user's
``package.module:factory`` would. They exercise what plain ``torch.export.export`` keeps in the
graph: rfftn/irfftn over (-2, -1), fftshift, stft/istft, hfft/ihfft, complex parameters,
``.to(cfloat)``, ``.mH``, ``sgn``, vector norms of complex values, several inputs and outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from fft_models import GlobalFilterNet


class FourierUnit(nn.Module):
    """LaMa FFC FourierUnit: rfftn over (-2, -1), ortho, conv over stacked real/imag channels."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2 * channels, 2 * channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(2 * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        ffted = torch.fft.rfftn(x, dim=(-2, -1), norm="ortho")
        ffted = torch.stack((ffted.real, ffted.imag), dim=-1).permute(0, 1, 4, 2, 3).contiguous()
        ffted = ffted.view(b, -1, h, w // 2 + 1)
        ffted = torch.relu(self.bn(self.conv(ffted)))
        ffted = ffted.view(b, -1, 2, h, w // 2 + 1).permute(0, 1, 3, 4, 2).contiguous()
        ffted = torch.complex(ffted[..., 0], ffted[..., 1])
        return torch.fft.irfftn(ffted, s=(h, w), dim=(-2, -1), norm="ortho")


class ShiftedSpectralConv(nn.Module):
    """neuraloperator-style SpectralConv: rfftn, fftshift of the full axis, centred modes, back."""

    def __init__(self, channels: int = 3, modes: int = 4) -> None:
        super().__init__()
        self.modes = modes
        scale = 1.0 / channels
        self.weight = nn.Parameter(scale * torch.randn(channels, channels, modes, modes // 2 + 1, dtype=torch.cfloat))
        self.bias = nn.Parameter(torch.zeros(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        spec = torch.fft.rfftn(x, dim=(-2, -1), norm="forward")
        spec = torch.fft.fftshift(spec, dim=-2)
        m, half = self.modes, self.modes // 2 + 1
        start = h // 2 - m // 2
        out = torch.zeros(b, c, h, w // 2 + 1, dtype=spec.dtype, device=x.device)
        out[:, :, start:start + m, :half] = torch.einsum("bixy,ioxy->boxy", spec[:, :, start:start + m, :half], self.weight)
        out = torch.fft.ifftshift(out, dim=-2)
        return torch.fft.irfftn(out, s=(h, w), dim=(-2, -1), norm="forward") + self.bias


class FNetLayer(nn.Module):
    """FNet encoder layer: token mixing is Re(fft2) over (sequence, hidden); then LayerNorm + FFN."""

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = torch.fft.fft(torch.fft.fft(x, dim=-1), dim=-2).real
        x = self.norm1(x + mixed)
        return self.norm2(x + self.ffn(x))


def _mel_matrix(n_freqs: int, n_mels: int, sample_rate: int) -> torch.Tensor:
    """Triangular mel filters (HTK mel scale), (n_freqs, n_mels)."""
    mel = lambda f: 2595.0 * torch.log10(1.0 + f / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    freqs = torch.linspace(0, sample_rate / 2, n_freqs)
    points = hz(torch.linspace(float(mel(torch.tensor(0.0))), float(mel(torch.tensor(sample_rate / 2))), n_mels + 2))
    lower, centre, upper = points[:-2], points[1:-1], points[2:]
    up = (freqs[:, None] - lower) / (centre - lower)
    down = (upper - freqs[:, None]) / (upper - centre)
    return torch.clamp(torch.minimum(up, down), min=0.0)


class LogMel(nn.Module):
    """torchaudio-style log-mel front end: stft(return_complex) -> power -> mel -> log1p."""

    def __init__(self, n_fft: int = 64, hop: int = 16, n_mels: int = 12) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft))
        self.register_buffer("mel", _mel_matrix(n_fft // 2 + 1, n_mels, 8000))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wave, self.n_fft, self.hop, window=self.window, center=True, pad_mode="reflect",
                          return_complex=True)
        power = spec.abs().pow(2.0)
        return torch.log1p(torch.matmul(power.transpose(-1, -2), self.mel))


class Resynthesis(nn.Module):
    """Spectral masking with istft back to a waveform: mask from magnitudes, phase kept."""

    def __init__(self, n_fft: int = 32, hop: int = 8) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.mask = nn.Conv1d(n_fft // 2 + 1, n_fft // 2 + 1, 3, padding=1)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        window = torch.hann_window(self.n_fft, device=wave.device)
        spec = torch.stft(wave, self.n_fft, self.hop, window=window, return_complex=True)
        gain = torch.sigmoid(self.mask(spec.abs()))
        return torch.istft(spec * gain, self.n_fft, self.hop, window=window, length=wave.shape[-1])


class HermitianFilter(nn.Module):
    """ihfft -> learnt complex gain -> hfft, plus their 2-D forms."""

    def __init__(self, n: int = 12) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.randn(n // 2 + 1, 2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        half = torch.fft.ihfft(x, norm="ortho") * torch.view_as_complex(self.gain)
        one = torch.fft.hfft(half, n=x.shape[-1], norm="ortho")
        two = torch.fft.hfft2(torch.fft.ihfft2(x), s=x.shape[-2:])
        return one, two


class ComplexParameter(nn.Module):
    """A complex weight, x.to(cfloat), .mH, sgn, and vector norms of complex values."""

    def __init__(self, n: int = 8) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n, n, dtype=torch.cfloat) / n)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.fft.fft(x.to(torch.cfloat), norm="ortho") @ self.weight.mH
        phase = torch.sgn(z)
        energy = torch.linalg.vector_norm(z, dim=-1, keepdim=True)
        return torch.view_as_real(phase * energy), torch.angle(z)


class CrossSpectrum(nn.Module):
    """Two inputs, two outputs: circular cross-correlation and the coherence magnitude."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fa, fb = torch.fft.rfft(a), torch.fft.rfft(b)
        cross = fa * fb.conj()
        corr = torch.fft.irfft(cross, n=a.shape[-1])
        coherence = cross.abs() / (fa.abs() * fb.abs() + 1e-6)
        return corr, coherence


class DynamicBatchFilter(nn.Module):
    """Per-channel low-pass on the last axis; exported with a dynamic batch dimension."""

    def __init__(self, channels: int = 3, n: int = 16) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.linspace(1.0, 0.0, n // 2 + 1).repeat(channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(torch.fft.rfft(x, dim=-1) * self.gain, n=x.shape[-1], dim=-1)


class OddSizes(nn.Module):
    """Prime and odd lengths, s= padding and truncation, every norm, fftfreq weighting."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.fft2(x, s=(7, 13), norm="forward")
        freq = torch.fft.fftfreq(13, d=0.5)
        spec = spec * torch.exp(-freq.abs())
        back = torch.fft.ifftn(spec, s=(5, 11), dim=(-2, -1), norm="ortho")
        half = torch.fft.rfft(x, n=11, dim=-2) * torch.fft.rfftfreq(11)[:, None]
        return torch.cat([back.real, back.imag], -1).sum(-1) + torch.fft.irfft(half, n=9, dim=-2).mean(-1)[..., :5]


class DeepRFTBlock(nn.Module):
    """DeepRFT ResFFT block: rfft2 (backward norm), convs on cat(real, imag), irfft2, + spatial conv."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.freq = nn.Sequential(nn.Conv2d(2 * channels, 2 * channels, 1), nn.ReLU(), nn.Conv2d(2 * channels, 2 * channels, 1))
        self.spatial = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        y = torch.fft.rfft2(x)
        y = self.freq(torch.cat([y.real, y.imag], dim=1))
        re, im = torch.chunk(y, 2, dim=1)
        return torch.fft.irfft2(torch.complex(re, im), s=(h, w)) + self.spatial(x) + x


class PhaseSpectrum(nn.Module):
    """Magnitude/phase features of a centred 2-D spectrum: abs, angle, fftshift of a real tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.fft2(x, norm="ortho")
        magnitude = torch.fft.fftshift(torch.log1p(spec.abs()), dim=(-2, -1))
        phase = torch.fft.ifftshift(spec.angle(), dim=(-2, -1))
        return magnitude + 0.1 * phase + torch.polar(magnitude, phase).real


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model: how to build it, its example inputs and its dynamic shapes."""

    name: str
    build: Callable[[], nn.Module]
    inputs: Callable[[], tuple[torch.Tensor, ...]]
    dynamic: Callable[[], Any] | None = None


def _rand(*shape: int) -> Callable[[], tuple[torch.Tensor, ...]]:
    return lambda: (torch.randn(*shape, generator=torch.Generator().manual_seed(1)),)


def _batch_dim() -> Any:
    return ({0: torch.export.Dim("batch", min=1, max=8)},)


ZOO: dict[str, ZooEntry] = {e.name: e for e in (
    ZooEntry("lama-fourier-unit", FourierUnit, _rand(1, 4, 12, 10)),
    ZooEntry("fno-shifted-spectral-conv", ShiftedSpectralConv, _rand(1, 3, 10, 8)),
    ZooEntry("gfnet-block", lambda: GlobalFilterNet(size=8, channels=8), _rand(1, 3, 8, 8)),
    ZooEntry("fnet-layer", FNetLayer, _rand(1, 10, 16)),
    ZooEntry("stft-log-mel", LogMel, _rand(2, 400)),
    ZooEntry("istft-resynthesis", Resynthesis, _rand(1, 256)),
    ZooEntry("hfft-ihfft", HermitianFilter, _rand(2, 6, 12)),
    ZooEntry("complex-parameter", ComplexParameter, _rand(3, 8)),
    ZooEntry("multi-input", CrossSpectrum, lambda: (_rand(2, 15)()[0], _rand(2, 15)()[0].flip(-1))),
    ZooEntry("dynamic-batch", DynamicBatchFilter, _rand(2, 3, 16), _batch_dim),
    ZooEntry("odd-prime-sizes", OddSizes, _rand(2, 5, 11)),
    ZooEntry("deeprft-block", DeepRFTBlock, _rand(1, 4, 9, 7)),
    ZooEntry("phase-spectrum", PhaseSpectrum, _rand(1, 2, 6, 7)),
)}


def build(name: str) -> tuple[nn.Module, tuple[torch.Tensor, ...], Any]:
    """(model in eval mode, example inputs, dynamic shapes or None), with a fixed seed."""
    entry = ZOO[name]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = entry.build().eval()
    return model, entry.inputs(), entry.dynamic() if entry.dynamic else None


class Bundle(nn.Module):
    """Several models side by side in one module, so one export and one conversion per target serve them all.

    ``parts`` maps a name to (model in eval mode, example inputs, dynamic shapes or None), as :func:`build`
    returns them. The bundle takes the inputs one model after the other and returns the outputs flat, in
    the same order; ``outputs[name]`` says which of them are that model's, and ``reference`` holds them
    all as eager PyTorch computes them on the example inputs.
    """

    def __init__(self, parts: dict[str, tuple[nn.Module, tuple[torch.Tensor, ...], Any]]) -> None:
        super().__init__()
        self.models = nn.ModuleList([model for model, _, _ in parts.values()])
        self.arity = [len(args) for _, args, _ in parts.values()]
        self.example = tuple(a for _, args, _ in parts.values() for a in args)
        specs = [dynamic or (None,) * len(args) for _, args, dynamic in parts.values()]
        self.dynamic = (tuple(s for spec in specs for s in spec),) if any(d for _, _, d in parts.values()) else None
        self.outputs: dict[str, slice] = {}
        self.reference: list[torch.Tensor] = []
        with torch.no_grad():
            for name, (model, args, _) in parts.items():
                outputs = _flat(model(*args))
                self.outputs[name] = slice(len(self.reference), len(self.reference) + len(outputs))
                self.reference += outputs

    @classmethod
    def of(cls, names: list[str]) -> Bundle:
        """The zoo models ``names``, built as :func:`build` builds them."""
        return cls({name: build(name) for name in names})

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs: list[torch.Tensor] = []
        for model, arity in zip(self.models, self.arity):
            outputs += _flat(model(*inputs[:arity]))
            inputs = inputs[arity:]
        return tuple(outputs)


def _flat(value: torch.Tensor | tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    return list(value) if isinstance(value, (tuple, list)) else [value]


def multi_input() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """``fft_zoo:multi_input`` for ``--model``: two inputs, two outputs."""
    model, args, _ = build("multi-input")
    return model, args


def dynamic_batch() -> tuple[nn.Module, tuple[torch.Tensor, ...], Any]:
    """``fft_zoo:dynamic_batch`` for ``--model``: with its dynamic batch dim."""
    return build("dynamic-batch")
