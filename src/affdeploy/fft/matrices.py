"""DFT matrices: every transform stage as one real 2-D matrix, built once in float64.

A stage maps the last axis (or the flattened trailing axes) of a tensor with ``x @ M``.
Complex inputs arrive as ``[re | im]`` concatenated on that axis and complex outputs leave
the same way, so real and imaginary parts come out of ONE matmul. The matrices are made by
applying numpy's FFT (pocketfft, the same conventions, padding/truncation and Hermitian
handling as torch.fft) to the identity basis: that makes even/odd lengths, ``s=``/``n=``,
every norm and the c2r half-spectrum weights right by construction, with no formula to get
wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, cast

import numpy as np

KINDS = ("r2c", "c2c", "c2r")


@dataclass(frozen=True)
class StageKey:
    """What one matrix computes. Also the dedup key of the constant in the lowered program.

    kind: r2c (real in, complex out), c2c, c2r (complex in, real out); ``inverse`` picks the
    sign of the exponent; ``onesided`` keeps only n//2+1 bins of an r2c; ``in_sizes`` are the
    sizes of the transformed axes as they arrive, ``n`` the signal sizes after padding or
    truncation; ``axes_order`` is the order numpy applies them in (the last one is halved);
    ``norm`` is a numpy norm string.
    """

    kind: str
    inverse: bool
    onesided: bool
    in_sizes: tuple[int, ...]
    n: tuple[int, ...]
    axes_order: tuple[int, ...]
    norm: str

    @property
    def name(self) -> str:
        sizes = "x".join(map(str, self.in_sizes))
        ns = "x".join(map(str, self.n))
        order = "".join(map(str, self.axes_order))
        tag = ("i" if self.inverse else "") + self.kind + ("h" if self.onesided else "")
        return f"_dft_{tag}_{sizes}_n{ns}_a{order}_{self.norm}"


def _transform(key: StageKey, batch: np.ndarray) -> np.ndarray:
    """Apply the keyed transform to a batch of signals shaped (N, *in_sizes)."""
    axes = [1 + a for a in key.axes_order]
    s = [key.n[a] for a in key.axes_order]
    norm = cast(Literal["backward", "ortho", "forward"], key.norm)  # torch's norm names, numpy's too
    if key.kind == "c2r":
        return np.fft.irfftn(batch, s=s, axes=axes, norm=norm)
    if key.kind == "r2c" and key.onesided:
        return np.fft.rfftn(batch, s=s, axes=axes, norm=norm)
    fn = np.fft.ifftn if key.inverse else np.fft.fftn
    return fn(batch, s=s, axes=axes, norm=norm)


@lru_cache(maxsize=256)
def stage_matrix(key: StageKey) -> np.ndarray:
    """The float32 matrix M (rows: inputs, [re | im] if complex; columns likewise) of a stage."""
    if key.kind not in KINDS:
        raise ValueError(f"unknown DFT stage kind {key.kind!r}")
    size = int(np.prod(key.in_sizes))
    basis = np.eye(size, dtype=np.float64).reshape(size, *key.in_sizes)
    if key.kind != "r2c":  # complex input: rows for the real parts, then for the imaginary parts
        basis = np.concatenate([basis, 1j * basis])
    out = _transform(key, basis).reshape(basis.shape[0], -1)
    if key.kind != "c2r":
        out = np.concatenate([out.real, out.imag], axis=1)
    return np.ascontiguousarray(out, dtype=np.float32)
