"""The rest of ``torch.fft`` and the short-time transforms, on top of the DFT stages of ``ops``.

- ``hfft``/``ihfft`` (1-D, 2-D, n-D) are c2r/r2c transforms of the conjugate with the dual norm.
- ``fftshift``/``ifftshift`` are two slices and a cat per axis (a roll would become index_select,
  which no delegate takes); ``fftfreq``/``rfftfreq`` are constants.
- ``stft`` is ONE strided conv1d whose kernels are the DFT rows times the window, real and
  imaginary outputs as channels; ``istft`` is one strided conv_transpose1d (inverse DFT times
  window, overlap-added by the stride) times the constant inverse window envelope. Both are the
  layouts XNNPACK and Core ML run best, with no unfold and no per-frame matmul. They cost n_fft
  MACs per bin and frame, so from ``FRAMED_MIN_NFFT`` on (when the planner picks a factored form
  for n_fft) the frames are cut out instead (``_frames``: the signal as blocks of gcd(n_fft, hop)
  samples, one unit-step slice per block of a frame, one cat) and transformed by the factored
  network; istft overlap-adds its frames the same way (``_overlap_add``).

The kernels depend on the window's values, which are known when the program is lowered
(a buffer, ``hann_window``): they become constants of the lowered program.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol, cast

import numpy as np
import torch

from affdeploy.fft import meter
from affdeploy.fft import plan as planning
from affdeploy.fft.factored import C, Grid
from affdeploy.fft.matrices import StageKey, stage_matrix
from affdeploy.fft.ops import FFTOps, Handler, _h_conj, as_pair
from affdeploy.fft.transform import MatrixStore, c2r_step, finish, forward_step, static_size
from affdeploy.fft.values import LazyStack, Pair

_DUAL_NORM = {None: "forward", "backward": "forward", "forward": "backward", "ortho": "ortho"}


class ConstantStore(MatrixStore, Protocol):
    """A matrix store that also keeps per-node constants (the windowed STFT kernels)."""

    _current: str  # the node being lowered, whose name the constants carry

    def constant(self, tag: str, build: Callable[[], torch.Tensor]) -> torch.Tensor: ...


BY_NAME = frozenset({"stft", "istft"})

FRAMED_MIN_NFFT = 256
"""Smallest n_fft framed + factored instead of one strided conv (measured: docs/fft.md, stft)."""
FRAMED_MAX_PIECES = 32
"""At most this many slices per frame (n_fft / gcd(n_fft, hop)); beyond, the conv form stays."""


def framed_plan(n_fft: int, hop: int, bins: int, frames: Any, store: Any) -> planning.AxisPlan | None:
    """The factored plan of a framed stft/istft, or None when the strided-conv form is kept."""
    forms = getattr(store, "forms", None)
    if not isinstance(frames, int) or n_fft // math.gcd(n_fft, hop) > FRAMED_MAX_PIECES:
        return None
    if n_fft < FRAMED_MIN_NFFT and (forms is None or planning.DENSE in forms):
        return None
    model = getattr(store, "cost_model", None) or planning.COST
    plan = planning.choose(n_fft, n_fft, bins, True, max(1, frames), forms, model)
    return None if plan.form == planning.DENSE else plan


def _frames(x: torch.Tensor, n_fft: int, hop: int, frames: int) -> torch.Tensor:
    """(B, T) -> (B, frames, n_fft) by unit-step slices of gcd(n_fft, hop)-sample blocks and one cat."""
    block = math.gcd(n_fft, hop)
    pieces, stride = n_fft // block, hop // block
    used = (frames - 1) * hop + n_fft
    blocks = torch.narrow(x, -1, 0, used).reshape(x.shape[0], used // block, block)
    if stride > 1:
        blocks = torch.nn.functional.pad(blocks, (0, 0, 0, stride))
    parts = []
    for j in range(pieces):
        part = torch.narrow(blocks, 1, j, frames * stride).reshape(x.shape[0], frames, stride, block)
        parts.append(torch.narrow(part, 2, 0, 1))
    return torch.cat(parts, 2).reshape(x.shape[0], frames, n_fft)


def _overlap_add(frames: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """(B, F, n_fft) -> (B, n_fft + hop (F - 1)): each frame added in at t * hop (slices, pads, adds)."""
    batch, count = frames.shape[0], frames.shape[1]
    block = math.gcd(n_fft, hop)
    pieces, stride = n_fft // block, hop // block
    rows = (count - 1) * stride + pieces
    parts = frames.reshape(batch, count, pieces, block)
    total = None
    for j in range(pieces):
        part = torch.narrow(parts, 2, j, 1)
        if stride > 1:
            part = torch.nn.functional.pad(part, (0, 0, 0, stride - 1))
        part = part.reshape(batch, count * stride, block)
        keep = min(count * stride, rows - j)
        part = torch.nn.functional.pad(torch.narrow(part, 1, 0, keep), (0, 0, j, rows - j - keep))
        total = part if total is None else total + part
    assert total is not None  # pieces >= 1
    return total.reshape(batch, rows * block)
"""Ops whose handlers take the arguments by schema name (they have many optional ones)."""


def bind(target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The op's arguments by their schema names, defaults filled in (``self`` becomes ``self_``)."""
    bound: dict[str, Any] = {}
    for i, arg in enumerate(target._schema.arguments):
        if i < len(args):
            value = args[i]
        elif arg.name in kwargs:
            value = kwargs[arg.name]
        else:
            value = arg.default_value if arg.has_default_value() else None
        bound["self_" if arg.name == "self" else arg.name] = value
    return bound


def _roll(x: Any, shift: int, dim: int) -> Any:
    """torch.roll on one axis as narrow + cat (for a real tensor or a Pair)."""
    if isinstance(x, Pair):
        return Pair(_roll(x.re, shift, dim), _roll(x.im, shift, dim))
    size = static_size(x.shape, dim, "fftshift")
    shift %= size
    if shift == 0:
        return x
    return torch.cat([torch.narrow(x, dim, size - shift, shift), torch.narrow(x, dim, 0, size - shift)], dim)


def _window(window: torch.Tensor | None, win_length: int, n_fft: int) -> np.ndarray:
    """The window zero-padded to n_fft and centred, as torch.stft/istft do (rectangular if None)."""
    values = np.ones(win_length) if window is None else window.detach().double().numpy()
    if np.iscomplexobj(values) or values.shape != (win_length,):
        raise ValueError("the window must be a real 1-D tensor of win_length values")
    full = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    full[left:left + win_length] = values
    return full


class SpectralOps(FFTOps):
    """Handlers of every remaining torch.fft function and of stft/istft."""

    store: ConstantStore

    def handlers(self) -> dict[str, Handler]:
        out = super().handlers()
        for suffix, ndims in (("", 1), ("2", 2), ("n", None)):
            out[f"fft_hfft{suffix}"] = self._hfft(ndims)
            out[f"fft_ihfft{suffix}"] = self._ihfft(ndims)
        out.update(fft_fftshift=self._shift(+1), fft_ifftshift=self._shift(-1), fft_fftfreq=_fftfreq,
                   fft_rfftfreq=_rfftfreq, stft=self._stft, istft=self._istft)
        return out

    def _hfft(self, ndims: int | None) -> Handler:
        c2r = self._composite("c2r", True, ndims)

        def handler(x: Any, s: Any = None, dim: Any = None, norm: str | None = None) -> torch.Tensor:
            return c2r(_h_conj(as_pair(x)), s, dim, _DUAL_NORM[norm])

        return handler

    def _ihfft(self, ndims: int | None) -> Handler:
        r2c = self._composite("r2c", False, ndims)

        def handler(x: torch.Tensor, s: Any = None, dim: Any = None, norm: str | None = None) -> Pair:
            return _h_conj(r2c(x, s, dim, _DUAL_NORM[norm]))

        return handler

    @staticmethod
    def _shift(sign: int) -> Handler:
        def handler(x: Any, dim: Any = None) -> Any:
            ndim = (x.re if isinstance(x, Pair) else x).dim()
            dims = range(ndim) if dim is None else [dim] if isinstance(dim, int) else dim
            for d in dims:
                size = static_size((x.re if isinstance(x, Pair) else x).shape, d, "fftshift")
                x = _roll(x, sign * (size // 2), d)
            return x

        return handler

    def _stft(self, self_: torch.Tensor, n_fft: int, hop_length: int | None, win_length: int | None,
              window: torch.Tensor | None, normalized: bool, onesided: bool | None, return_complex: bool | None,
              center: bool = False, pad_mode: str = "reflect", align_to_window: bool | None = None) -> Any:
        if isinstance(self_, Pair) or align_to_window:
            raise ValueError("stft of a complex signal or with align_to_window is not supported")
        hop = hop_length or n_fft // 4
        onesided = True if onesided is None else onesided
        x = self_.unsqueeze(0) if self_.dim() == 1 else self_
        x = x.unsqueeze(1)
        if center:
            x = torch.nn.functional.pad(x, (n_fft // 2, n_fft // 2), mode=pad_mode)

        def kernel() -> torch.Tensor:
            key = StageKey("r2c", False, onesided, (n_fft,), (n_fft,), (0,), "ortho" if normalized else "backward")
            weights = stage_matrix(key) * _window(window, win_length or n_fft, n_fft)[:, None]
            return torch.from_numpy(np.ascontiguousarray(weights.T[:, None, :], dtype=np.float32))

        bins = n_fft // 2 + 1 if onesided else n_fft
        count = 1 + (x.shape[-1] - n_fft) // hop
        plan = framed_plan(n_fft, hop, bins, count, self.store)
        if plan is not None:
            re, im = self._framed_stft(x.squeeze(1), n_fft, hop, count, window, win_length, normalized, bins, plan)
        else:
            meter.note_form("strided conv1d")
            weight = self.store.constant("stft", kernel).to(x.dtype)
            meter.add_constant(f"_stft_{self.store._current}", weight.numel() * weight.element_size())
            meter.add_macs(weight.numel() * count * x.shape[0])
            y = torch.nn.functional.conv1d(x, weight, stride=hop)  # (B, 2F, frames)
            re, im = y[:, :bins], y[:, bins:]
        if self_.dim() == 1:
            re, im = re.squeeze(0), im.squeeze(0)
        return Pair(re, im) if return_complex else LazyStack([re, im], -1)

    def _framed_stft(self, x: torch.Tensor, n_fft: int, hop: int, count: int, window: torch.Tensor | None,
                     win_length: int | None, normalized: bool, bins: int,
                     plan: planning.AxisPlan) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames cut out of the signal, windowed, then the factored r2c; bins before frames."""
        meter.note_form(f"framed {plan.describe(n_fft)}")
        frames = _frames(x, n_fft, hop, count)
        full = self.store.constant("stft_window", lambda: torch.from_numpy(_window(window, win_length or n_fft, n_fft)))
        frames = frames * full.to(frames.dtype)
        names = ["b", "f", "x"]
        scale = 1.0 / math.sqrt(n_fft) if normalized else 1.0
        g, state = forward_step(Grid(frames, names), "x", n_fft, plan, -1, scale, bins, None, self.store)
        out = cast(Pair, finish(g, ["b", "x", "f"], {"x": state}, {}))  # a spectrum: complex
        return out.re, out.im

    def _istft(self, self_: Any, n_fft: int, hop_length: int | None, win_length: int | None,
               window: torch.Tensor | None, center: bool, normalized: bool, onesided: bool | None,
               length: int | None, return_complex: bool) -> torch.Tensor:
        z = as_pair(self_)
        bins = n_fft // 2 + 1
        if return_complex or onesided is False or z.shape[-2] != bins:
            raise ValueError(f"istft is lowered for one-sided spectra ({bins} bins) with a real output only")
        frames = static_size(z.shape, -1, "istft (its window envelope)")
        hop = hop_length or n_fft // 4
        total = n_fft + hop * (frames - 1)
        start = n_fft // 2 if center else 0
        end = min(total, start + length if length is not None else total - start)

        def kernel() -> torch.Tensor:
            key = StageKey("c2r", True, False, (bins,), (n_fft,), (0,), "ortho" if normalized else "backward")
            weights = stage_matrix(key) * _window(window, win_length or n_fft, n_fft)[None, :]
            return torch.from_numpy(np.ascontiguousarray(weights[:, None, :], dtype=np.float32))

        def inverse_envelope() -> torch.Tensor:
            envelope = np.zeros(total)
            full = _window(window, win_length or n_fft, n_fft)
            for t in range(frames):
                envelope[t * hop:t * hop + n_fft] += full * full
            kept = envelope[start:end]
            if (np.abs(kept) < 1e-11).any():
                raise ValueError("istft window overlap-add is zero somewhere (NOLA condition fails)")
            return torch.from_numpy((1.0 / kept).astype(np.float32))

        scale = self.store.constant("istft_envelope", inverse_envelope).to(z.re.dtype)
        plan = framed_plan(n_fft, hop, bins, frames, self.store)
        if plan is not None:
            meter.note_form(f"framed {plan.describe(n_fft)}")
            stacked = z.stacked()
            batched = stacked.unsqueeze(1) if stacked.dim() == 3 else stacked
            norm = 1.0 / math.sqrt(n_fft) if normalized else 1.0 / n_fft
            g, state = c2r_step(Grid(batched, [C, "b", "x", "f"]), "x", n_fft, plan, norm, self.store)
            per_frame = cast(torch.Tensor, finish(g, ["b", "f", "x"], {"x": state}, {}))  # c2r: real
            full = self.store.constant("istft_window",
                                       lambda: torch.from_numpy(_window(window, win_length or n_fft, n_fft)))
            y = _overlap_add(per_frame * full.to(per_frame.dtype), n_fft, hop)
        else:
            meter.note_form("strided conv_transpose1d")
            weight = self.store.constant("istft", kernel).to(z.re.dtype)
            meter.add_constant(f"_istft_{self.store._current}", weight.numel() * weight.element_size())
            spectrum = torch.cat([z.re, z.im], dim=-2)
            batched = spectrum.unsqueeze(0) if spectrum.dim() == 2 else spectrum
            meter.add_macs(weight.numel() * frames * batched.shape[0])
            y = torch.nn.functional.conv_transpose1d(batched, weight, stride=hop).squeeze(1)
        y = y[..., start:end] * scale
        if length is not None and end - start < length:
            y = torch.nn.functional.pad(y, (0, length - (end - start)))
        return y.squeeze(0) if z.re.dim() == 2 else y


def _dtype(dtype: torch.dtype | None) -> torch.dtype:
    return dtype or torch.get_default_dtype()


def _fftfreq(n: int, d: float = 1.0, dtype: torch.dtype | None = None, **_: Any) -> torch.Tensor:
    values = [i / (d * n) for i in range((n - 1) // 2 + 1)] + [i / (d * n) for i in range(-(n // 2), 0)]
    return torch.tensor(values, dtype=_dtype(dtype))


def _rfftfreq(n: int, d: float = 1.0, dtype: torch.dtype | None = None, **_: Any) -> torch.Tensor:
    return torch.tensor([i / (d * n) for i in range(n // 2 + 1)], dtype=_dtype(dtype))
