"""Opening a model in its real runtime on this machine: ONNX Runtime, ExecuTorch, PyTorch eager.

Each opener returns a :class:`Session` whose ``run`` performs one inference on a fixed input,
so the engine times every runtime the same way.

Threads:
- ONNX Runtime: per session (``intra_op_num_threads`` = N, ``inter_op_num_threads`` = 1,
  sequential execution), so sessions with different counts coexist.
- ExecuTorch (1.5.1 Python runtime): XNNPACK takes the process-wide pthreadpool of
  ``executorch.extension.threadpool`` when a method is loaded (XNNCompiler passes
  ``get_pthreadpool()`` to ``xnn_create_runtime``). The pybindings expose
  ``_unsafe_reset_threadpool(n)``, which replaces that pool; methods loaded earlier would keep a
  pointer to the destroyed pool. So the pool is sized before loading, and all ExecuTorch
  sessions alive at the same time must share one thread count (the engine groups by threads).
- PyTorch: ``torch.set_num_threads`` is process-wide, so it is applied before every timed chunk.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from affdeploy.errors import AffdeployError, UsageError
from affdeploy.etruntime import load_forward
from affdeploy.graph import example_input


@dataclass
class Session:
    """One loaded model ready to run; ``activate`` re-applies process-wide settings before timing."""

    run: Callable[[], object]
    backend: str
    activate: Callable[[], None] = lambda: None
    notes: list[str] = field(default_factory=list)


@contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Collect what native code writes to fd 2 (ExecuTorch logs every load and pool reset there).

    The lines are handed back so a failure can quote the runtime's own reason in one line.
    """
    lines: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode("utf-8", "replace").splitlines())


def _last_error_line(lines: list[str]) -> str:
    relevant = [line for line in lines if "error" in line.lower() or "missing" in line.lower()]
    return (relevant or lines or [""])[-1].strip()


def open_onnx(path: Path, threads: int, image_size: int) -> Session:
    """An ONNX Runtime CPU session with N intra-op threads, one inter-op thread, sequential."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise AffdeployError(f"ONNX Runtime cannot load {path}: {str(exc).splitlines()[0]}") from None
    feed = {session.get_inputs()[0].name: example_input(image_size).numpy()}
    return Session(run=lambda: session.run(None, feed), backend="ort-cpu")


def import_runtime(target: str) -> None:
    """Import a runtime's Python modules ahead of time, so load time measures the model, not imports."""
    with captured_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if target == "onnx":
            import onnxruntime  # noqa: F401
        elif target == "executorch":
            import executorch.runtime  # noqa: F401
            from executorch.extension.pybindings import portable_lib  # noqa: F401


def set_executorch_threads(threads: int) -> None:
    """Size ExecuTorch's process-wide threadpool (XNNPACK picks it up at method load)."""
    with captured_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from executorch.extension.pybindings import portable_lib

        portable_lib._unsafe_reset_threadpool(threads)


def open_executorch(path: Path, threads: int, image_size: int, backend: str = "xnnpack") -> Session:
    """The ``forward`` method of a .pte in the ExecuTorch runtime, with an N-thread pool."""
    set_executorch_threads(threads)
    try:
        with captured_stderr() as log:
            forward = load_forward(path)
    except AffdeployError:
        raise
    except Exception as exc:  # the pybindings raise RuntimeError/ValueError with a status code
        reason = _last_error_line(log) or str(exc).splitlines()[0]
        raise AffdeployError(f"ExecuTorch cannot load {path}: {reason}") from None
    inputs = (example_input(image_size),)
    return Session(run=lambda: forward(inputs), backend=backend)


def open_torch(model: str, fft: str, threads: int, image_size: int, weights: Path | None = None) -> Session:
    """PyTorch eager; ``fft='native'`` runs torch.fft (the baseline), ``'dft'`` the lowered graph's module."""
    from affdeploy.models import build_model

    net = build_model(model, weights=weights)
    if fft == "dft":
        try:
            from affdeploy.fft import lower_fft
        except ImportError:
            raise UsageError("--fft dft for the torch target needs the FFT-lowering pass (affdeploy.fft.lower_fft)") from None
        from affdeploy.graph import export_program

        net = lower_fft(export_program(net, image_size)).module()
    x = example_input(image_size)

    def run() -> object:
        with torch.inference_mode():
            return net(x)

    return Session(run=run, backend="eager", activate=lambda: torch.set_num_threads(threads))
