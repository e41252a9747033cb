"""``--fft auto|dft|native``: the rule that picks a mode from one runtime's FFT support row.

The rows themselves (whether a runtime runs rfft2/irfft2, whether that beats the DFT matmuls,
and the source of each fact) live on the export targets (``ExportTarget.fft_support``), so a
target's capabilities are stated once, next to its exporter; ``registry.fft_support_table()``
gathers them for docs and tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from affdeploy.errors import UsageError
from affdeploy.vocab import FFTMode

CHECKED = "backend sources, checked 2026"
"""How each row's fact was established (cited in every ``source``)."""


@dataclass(frozen=True)
class FFTSupport:
    """Whether a runtime runs rfft2/irfft2 natively, and whether that beats the DFT matmuls."""

    native_runs: bool
    native_faster: bool
    source: str


def choose_fft(mode: FFTMode, support: FFTSupport, runtime: str) -> FFTMode:
    """``dft`` or ``native`` for ``mode`` on a runtime with ``support`` (``runtime`` names it in errors)."""
    if mode == FFTMode.DFT:
        return FFTMode.DFT
    if mode == FFTMode.NATIVE:
        if not support.native_runs:
            raise UsageError(f"{runtime} cannot run rfft2/irfft2 ({support.source}); use --fft dft or auto")
        return FFTMode.NATIVE
    return FFTMode.NATIVE if support.native_runs and support.native_faster else FFTMode.DFT
