"""``--fft auto|dft|native``: the rule that picks a mode from one runtime's FFT support row.

The rows themselves (whether a runtime runs FFTs natively, how its costs are modelled, and the
source of each fact) live on the export targets (``ExportTarget.fft_support``), so a target's
capabilities are stated once, next to its exporter; ``registry.fft_support_table()`` gathers them
for docs and tests.

``auto`` is decided per transform, not per runtime: the FFT pass runs, and each transform takes the
form its runtime's cost model (``affdeploy.fft.plan.MODELS``) finds cheapest - a dense matrix, a
factored network, Bluestein, or, where the runtime has a native FFT with a cost model
(``native_cost``), the native op itself (ONNX Runtime's DFT). ``dft`` lowers every transform;
``native`` keeps every FFT where the runtime runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from affdeploy.errors import UsageError
from affdeploy.vocab import FFTMode

CHECKED = "backend sources, checked 2026"
"""How each row's fact was established (cited in every ``source``)."""


@dataclass(frozen=True)
class FFTSupport:
    """Whether a runtime runs FFTs natively, and how the pass costs the forms of a transform there.

    ``cost`` names the cost model of the lowered forms on this runtime; ``native_cost`` the cost
    model of its native FFT op, when ``--fft auto`` may keep a transform native (None: never).
    """

    native_runs: bool
    source: str
    cost: str = "xnnpack"
    native_cost: str | None = None


def choose_fft(mode: FFTMode, support: FFTSupport, runtime: str) -> FFTMode:
    """``dft`` or ``native`` for ``mode`` on a runtime with ``support`` (``runtime`` names it in errors).

    ``auto`` resolves to ``dft`` (the FFT pass runs); which transforms it keeps native, if any, is
    decided per transform by the pass (``native_cost``).
    """
    if mode == FFTMode.NATIVE:
        if not support.native_runs:
            raise UsageError(f"{runtime} cannot run rfft2/irfft2 ({support.source}); use --fft dft or auto")
        return FFTMode.NATIVE
    return FFTMode.DFT
