"""``--fft auto|dft|native``: where a native FFT may stay, as data with the source of each fact."""

from __future__ import annotations

from dataclasses import dataclass

from affdeploy.errors import UsageError

FFT_MODES = ("auto", "dft", "native")
DEFAULT_BACKEND = {"onnx": "cpu", "coreml": "mlprogram", "executorch": "xnnpack"}


@dataclass(frozen=True)
class FFTSupport:
    """Whether a runtime runs rfft2/irfft2 natively, and whether that beats the DFT matmuls."""

    native_runs: bool
    native_faster: bool
    source: str


_ET = "ExecuTorch 1.5.1 sources: _fft_r2c/_fft_c2r exist only as optimized (pocketfft) CPU kernels, "
FFT_SUPPORT: dict[tuple[str, str], FFTSupport] = {
    ("onnx", "cpu"): FFTSupport(
        True, False,
        "torch.onnx (dynamo) emits ONNX DFT (opset 17+) which the ORT CPU EP runs (backend sources, checked 2026); measured "
        "(benchmarks/results/fft_onnx.md): AFFNet-ET 256, ORT 1.32, 1 thread: native DFT 26.9 ms, lowered matmuls 14.5 ms",
    ),
    ("onnx", "nnapi"): FFTSupport(False, False, "ORT NNAPI EP has no DFT kernel: the graph splits back to CPU (backend sources, checked 2026)"),
    ("onnx", "coreml"): FFTSupport(False, False, "ORT Core ML EP has no DFT kernel: the graph splits back to CPU (backend sources, checked 2026)"),
    ("coreml", "mlprogram"): FFTSupport(
        False, False, "coremltools 9 has no converter for fft_rfft2/fft_irfft2 and no complex I/O (backend sources, checked 2026)"
    ),
    ("executorch", "portable"): FFTSupport(
        False, False, _ET + "a portable-only runtime fails at load with OperatorMissing (backend sources, checked 2026)"
    ),
    **{
        ("executorch", delegate): FFTSupport(
            False, False, _ET + f"the {delegate} delegate takes no FFT and complex dtypes break edge IR checks (backend sources, checked 2026)"
        )
        for delegate in ("xnnpack", "coreml", "vulkan", "qnn", "mps")
    },
}


def resolve_fft(mode: str, target: str, backend: str | None = None) -> str:
    """``dft`` or ``native`` for an export of ``target`` run by ``backend``."""
    if mode not in FFT_MODES:
        raise UsageError(f"--fft must be one of {', '.join(FFT_MODES)}, got {mode!r}")
    if mode == "dft":
        return "dft"
    if target not in DEFAULT_BACKEND:
        raise UsageError(f"unknown target {target!r} for --fft (known: {', '.join(DEFAULT_BACKEND)})")
    backend = backend or DEFAULT_BACKEND[target]
    support = FFT_SUPPORT.get((target, backend))
    if support is None:
        known = ", ".join(b for t, b in FFT_SUPPORT if t == target)
        raise UsageError(f"unknown {target} backend {backend!r} for --fft (known: {known})")
    if mode == "native":
        if not support.native_runs:
            raise UsageError(
                f"{_runtime_name(target, backend)} cannot run rfft2/irfft2 ({support.source}); use --fft dft or auto"
            )
        return "native"
    return "native" if support.native_runs and support.native_faster else "dft"


def _runtime_name(target: str, backend: str) -> str:
    if target == "coreml":
        return "Core ML"
    return f"{'ExecuTorch' if target == 'executorch' else 'ONNX Runtime'} with the {backend} backend"
