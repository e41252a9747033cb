"""A zoo of FFT models that are not AFFNet, written the way their upstream projects write them.

Each entry builds a module and its example inputs (and, for one, dynamic shapes) like a user's
``package.module:factory`` would. They exercise what plain ``torch.export.export`` keeps in the
graph: rfftn/irfftn over (-2, -1), fftshift, stft/istft, hfft/ihfft, complex parameters,
``.to(cfloat)``, ``.mH``, ``sgn``, vector norms of complex values, several inputs and outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from fft_models import GlobalFilterNet
from torch import nn


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
        self.freq = nn.Sequential(nn.Conv2d(2 * channels, 2 * channels, 1), nn.ReLU(),
                                  nn.Conv2d(2 * channels, 2 * channels, 1))
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
        for model, arity in zip(self.models, self.arity, strict=True):
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


# ---------------------------------------------------------------- long sequences and large images (issue 22)
# What the factored transforms are for: the sequence or image SIZE is the point, the widths are kept small so
# that exporting them stays cheap. Each model is re-typed from its public description (source in its docstring).


class HyenaFilter(nn.Module):
    """Hyena's implicit long filter: an MLP with sine activations over a positional embedding (time and
    complex-exponential bands), modulated by an exponential decay per channel. Re-typed from the description in
    Poli et al. 2023, "Hyena Hierarchy" (arXiv 2302.10866, sec. 3.3) and HazyResearch/safari
    src/models/sequence/hyena.py (PositionalEmbedding, Sin, ExponentialModulation, HyenaFilter)."""

    def __init__(self, channels: int, seq_len: int, emb_dim: int = 3, width: int = 16, freq: float = 1.0) -> None:
        super().__init__()
        t = torch.linspace(0, 1, seq_len)[:, None]
        bands = (emb_dim - 1) // 2
        w = 2 * math.pi * torch.arange(seq_len, dtype=torch.float32)[:, None] / seq_len
        f = torch.linspace(1e-4, bands - 1, bands)[None]
        self.register_buffer("z", torch.cat([t, torch.cos(f * w), -torch.sin(f * w)], dim=-1))  # exp(-i f w)
        self.register_buffer("t", t)
        self.freq = nn.Parameter(freq * torch.ones(1, width))
        self.mlp = nn.ModuleList([nn.Linear(emb_dim, width), nn.Linear(width, width),
                                  nn.Linear(width, channels, bias=False)])
        fast, slow, target = 0.3, 1.5, 1e-2
        self.register_buffer("deltas", torch.linspace(math.log(target) / slow, math.log(target) / fast, channels)[None])
        self.bias = nn.Parameter(torch.randn(channels))

    def forward(self) -> torch.Tensor:
        h = self.z
        for i, layer in enumerate(self.mlp):
            h = layer(h)
            if i < len(self.mlp) - 1:
                h = torch.sin(self.freq * h)
        h = h * torch.exp(-self.t * self.deltas.abs())
        return h.transpose(0, 1)  # (channels, L)


def fftconv(u: torch.Tensor, k: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Hyena's long convolution (safari's fftconv_ref): zero-padded to 2L so that it is causal, not circular."""
    seqlen = u.shape[-1]
    size = 2 * seqlen
    k_f = torch.fft.rfft(k, n=size) / size
    u_f = torch.fft.rfft(u, n=size)
    y = torch.fft.irfft(u_f * k_f, n=size, norm="forward")[..., :seqlen]
    return y + u * bias.unsqueeze(-1)


class HyenaOperator(nn.Module):
    """An order-2 Hyena operator (Poli et al. 2023, Algorithm 3; safari's HyenaOperator): input projection to
    three streams, a short depthwise causal conv, then v <- fftconv(v * x1, h) and y = out_proj(v * x0)."""

    def __init__(self, d_model: int = 8, seq_len: int = 8192) -> None:
        super().__init__()
        self.d_model = d_model
        self.in_proj = nn.Linear(d_model, 3 * d_model)
        self.short = nn.Conv1d(3 * d_model, 3 * d_model, 3, groups=3 * d_model, padding=2)
        self.filter = HyenaFilter(d_model, seq_len)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        length = u.shape[-2]
        z = self.in_proj(u).transpose(1, 2)
        z = self.short(z)[..., :length]
        x0, x1, v = z.split(self.d_model, dim=1)
        v = fftconv(v * x1, self.filter(), self.filter.bias)
        return self.out_proj((v * x0).transpose(1, 2))


class FNetEncoderLayer(nn.Module):
    """FNet encoder layer at long sequence length (Lee-Thorp et al. 2021, arXiv 2105.03824; HF transformers
    FNetBasicFourierTransform: the real part of fftn over (sequence, hidden)), then LayerNorm and a feed-forward."""

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.mix_norm = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, hidden))
        self.out_norm = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mix_norm(x + torch.fft.fftn(x, dim=(1, 2)).real)
        return self.out_norm(x + self.ffn(x))


class SpectralTransform(nn.Module):
    """LaMa's global branch (Suvorov et al. 2022, arXiv 2109.07161; saic-mdal/lama
    saicinpainting/training/modules/ffc.py SpectralTransform without LFU): 1x1 conv to half the channels,
    a FourierUnit (rfftn ortho over the image, 1x1 conv + BN + ReLU on stacked real/imaginary channels, irfftn),
    a residual and a 1x1 conv back."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        half = channels // 2
        self.conv1 = nn.Sequential(nn.Conv2d(channels, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU())
        self.fu = FourierUnit(half)
        self.conv2 = nn.Conv2d(half, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(x + self.fu(x))


class FFC(nn.Module):
    """LaMa's Fast Fourier Convolution (ffc.py FFC, ratio_gin = ratio_gout = 0.5) on one tensor: local and global
    halves of the channels, local->local, local->global and global->local 3x3 convs, global->global spectral."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        half = channels // 2
        self.half = half
        self.l2l = nn.Conv2d(half, half, 3, padding=1, padding_mode="reflect", bias=False)
        self.l2g = nn.Conv2d(half, half, 3, padding=1, padding_mode="reflect", bias=False)
        self.g2l = nn.Conv2d(half, half, 3, padding=1, padding_mode="reflect", bias=False)
        self.g2g = SpectralTransform(half)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local, glob = x[:, :self.half], x[:, self.half:]
        out_local = self.l2l(local) + self.g2l(glob)
        out_global = self.l2g(local) + self.g2g(glob)
        return torch.relu(self.bn(torch.cat([out_local, out_global], dim=1)))


def _slaney_mel(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters on the Slaney mel scale with Slaney area normalisation:
    what librosa.filters.mel(sr, n_fft, n_mels) computes by default (its documented algorithm)."""
    import numpy as np

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        linear = f / (200.0 / 3)
        log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(f >= 1000.0, log, linear)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        linear = m * (200.0 / 3)
        log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
        return np.where(m >= 15.0, log, linear)

    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper)) * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return torch.from_numpy(weights.astype(np.float32))


class WhisperLogMel(nn.Module):
    """Whisper's log-mel front end over 30 s of 16 kHz audio (openai/whisper whisper/audio.py
    log_mel_spectrogram: stft(n_fft=400, hop=160, hann), |.|^2 without the last frame, 80 Slaney mel filters,
    log10 clamped at 1e-10, floored at max - 8, scaled (x + 4) / 4)."""

    def __init__(self, n_fft: int = 400, hop: int = 160, n_mels: int = 80) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft))
        self.register_buffer("filters", _slaney_mel(16000, n_fft, n_mels))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        stft = torch.stft(audio, self.n_fft, self.hop, window=self.window, return_complex=True)
        magnitudes = stft[..., :-1].abs() ** 2
        mel_spec = self.filters @ magnitudes
        log_spec = torch.clamp(mel_spec, min=1e-10).log10()
        log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
        return (log_spec + 4.0) / 4.0


def _audio(seconds: float, rate: int = 16000) -> Callable[[], tuple[torch.Tensor, ...]]:
    """A waveform at audio scale: a chirp plus noise, in [-1, 1]."""
    def make() -> tuple[torch.Tensor, ...]:
        gen = torch.Generator().manual_seed(1)
        t = torch.arange(int(seconds * rate), dtype=torch.float32) / rate
        wave = 0.5 * torch.sin(2 * math.pi * (200 + 300 * t) * t) + 0.05 * torch.randn(t.shape, generator=gen)
        return (wave[None],)
    return make


LONG: dict[str, ZooEntry] = {e.name: e for e in (
    ZooEntry("hyena-8192", HyenaOperator, _rand(1, 8192, 8)),
    ZooEntry("fnet-2048", FNetEncoderLayer, _rand(1, 2048, 32)),
    ZooEntry("lama-ffc-512", FFC, _rand(1, 8, 512, 512)),
    ZooEntry("whisper-log-mel-30s", WhisperLogMel, _audio(30.0)),
)}
"""Long-sequence and large-image models, exported through the CLI to every target (tests/test_fft_long.py)."""


def build_long(name: str) -> tuple[nn.Module, tuple[torch.Tensor, ...], Any]:
    """Like :func:`build`, for the LONG models."""
    entry = LONG[name]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = entry.build().eval()
    return model, entry.inputs(), None


def long_models() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """``fft_zoo:long_models`` for ``--model``: the LONG models side by side (one export for all four)."""
    bundle = Bundle({name: build_long(name) for name in LONG}).eval()
    return bundle, bundle.example


def hyena() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model, args, _ = build_long("hyena-8192")
    return model, args


def fnet() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model, args, _ = build_long("fnet-2048")
    return model, args


def lama_ffc() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model, args, _ = build_long("lama-ffc-512")
    return model, args


def whisper_log_mel() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    model, args, _ = build_long("whisper-log-mel-30s")
    return model, args
