"""Opening what ``bench`` times on this machine: an exported artifact through its target, or eager PyTorch.

Artifacts open through ``ExportTarget.open`` (the same :class:`Session` parity uses), so the
runtime is set up in one place. Threads:
- ONNX Runtime: per session (``intra_op_num_threads`` = N, ``inter_op_num_threads`` = 1,
  sequential execution), so sessions with different counts coexist.
- ExecuTorch: XNNPACK takes the process-wide threadpool at method load (``etruntime.set_threads``),
  so all ExecuTorch sessions alive at the same time must share one count (the engine groups by threads).
- PyTorch: ``torch.set_num_threads`` is process-wide, so it is applied before every timed chunk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from affdeploy.errors import AffdeployError
from affdeploy.export.base import Session, first_line
from affdeploy.export.registry import get_target
from affdeploy.export.request import ExportRequest
from affdeploy.vocab import Backend, FFTMode


def open_artifact(path: Path, request: ExportRequest, threads: int) -> Session:
    """``path`` loaded in its target's runtime with ``threads`` threads; a load failure is one clear line."""
    target = get_target(request.target)
    try:
        return target.open(path, request, threads)
    except AffdeployError:
        raise
    except Exception as exc:  # runtimes raise their own exception types for bad files
        raise AffdeployError(f"{target.display} cannot load {path}: {first_line(exc)}") from None


def open_torch(model: str, fft: FFTMode, threads: int, image_size: int, weights: Path | None = None) -> Session:
    """PyTorch eager; ``fft='native'`` runs torch.fft (the baseline), ``'dft'`` the lowered graph's module."""
    from affdeploy.models import build_model
    from affdeploy.models.source import as_arrays, flat_outputs, is_user_model, resolve_model

    source = resolve_model(model) if is_user_model(model) else None
    net = source.module if source is not None else build_model(model, weights=weights)
    if fft == FFTMode.DFT:
        from affdeploy.fft import lower_fft
        from affdeploy.graph import export_program

        program = source.program() if source is not None else export_program(net, image_size)
        net = lower_fft(program, cost="eager").module()  # forms costed for the runtime that runs them

    def infer(x: tuple[torch.Tensor, ...]) -> Any:
        with torch.inference_mode():
            return net(*x)

    def prepare(x: Any) -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(a) for a in as_arrays(x))

    return Session(infer=infer, prepare=prepare, scores=flat_outputs,
                   backend=Backend.EAGER, activate=lambda: torch.set_num_threads(threads))
