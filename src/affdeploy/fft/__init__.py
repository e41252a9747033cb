"""FFT compatibility: FFTs and complex math become real DFT-matrix products (docs/fft.md)."""

from affdeploy.fft.lower import UnsupportedOpError, lower_fft
from affdeploy.fft.policy import FFT_MODES, FFT_SUPPORT, FFTSupport, resolve_fft

__all__ = ["FFT_MODES", "FFT_SUPPORT", "FFTSupport", "UnsupportedOpError", "lower_fft", "resolve_fft"]
