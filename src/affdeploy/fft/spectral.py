"""The rest of ``torch.fft`` and the short-time transforms, on top of the DFT stages of ``ops``.

- ``hfft``/``ihfft`` (1-D, 2-D, n-D) are c2r/r2c transforms of the conjugate with the dual norm.
- ``fftshift``/``ifftshift`` are two slices and a cat per axis (a roll would become index_select,
  which no delegate takes); ``fftfreq``/``rfftfreq`` are constants.
- ``stft`` is ONE strided conv1d whose kernels are the DFT rows times the window, real and
  imaginary outputs as channels; ``istft`` is one strided conv_transpose1d (inverse DFT times
  window, overlap-added by the stride) times the constant inverse window envelope. Both are the
  layouts XNNPACK and Core ML run best, with no unfold and no per-frame matmul.

The kernels depend on the window's values, which are known when the program is lowered
(a buffer, ``hann_window``): they become constants of the lowered program.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch

from affdeploy.fft.matrices import StageKey, stage_matrix
from affdeploy.fft.ops import FFTOps, Handler, _h_conj, as_pair
from affdeploy.fft.transform import MatrixStore, static_size
from affdeploy.fft.values import LazyStack, Pair

_DUAL_NORM = {None: "forward", "backward": "forward", "forward": "backward", "ortho": "ortho"}


class ConstantStore(MatrixStore, Protocol):
    """A matrix store that also keeps per-node constants (the windowed STFT kernels)."""

    def constant(self, tag: str, build: Callable[[], torch.Tensor]) -> torch.Tensor: ...


BY_NAME = frozenset({"stft", "istft"})
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

        weight = self.store.constant("stft", kernel).to(x.dtype)
        y = torch.nn.functional.conv1d(x, weight, stride=hop)  # (B, 2F, frames)
        bins = weight.shape[0] // 2
        re, im = y[:, :bins], y[:, bins:]
        if self_.dim() == 1:
            re, im = re.squeeze(0), im.squeeze(0)
        return Pair(re, im) if return_complex else LazyStack([re, im], -1)

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

        weight = self.store.constant("istft", kernel).to(z.re.dtype)
        scale = self.store.constant("istft_envelope", inverse_envelope).to(z.re.dtype)
        spectrum = torch.cat([z.re, z.im], dim=-2)
        batched = spectrum.unsqueeze(0) if spectrum.dim() == 2 else spectrum
        y = torch.nn.functional.conv_transpose1d(batched, weight, stride=hop).squeeze(1)
        y = y[..., start:end] * scale
        if length is not None and end - start < length:
            y = torch.nn.functional.pad(y, (0, length - (end - start)))
        return y.squeeze(0) if spectrum.dim() == 2 else y


def _dtype(dtype: torch.dtype | None) -> torch.dtype:
    return dtype or torch.get_default_dtype()


def _fftfreq(n: int, d: float = 1.0, dtype: torch.dtype | None = None, **_: Any) -> torch.Tensor:
    values = [i / (d * n) for i in range((n - 1) // 2 + 1)] + [i / (d * n) for i in range(-(n // 2), 0)]
    return torch.tensor(values, dtype=_dtype(dtype))


def _rfftfreq(n: int, d: float = 1.0, dtype: torch.dtype | None = None, **_: Any) -> torch.Tensor:
    return torch.tensor([i / (d * n) for i in range(n // 2 + 1)], dtype=_dtype(dtype))
