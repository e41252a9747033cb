"""FFT compatibility: FFTs and complex math become real DFT-matrix products (docs/fft.md)."""

from affdeploy.fft.lower import UnsupportedOpError, lower_fft
from affdeploy.fft.policy import FFTSupport, choose_fft

__all__ = ["FFTSupport", "UnsupportedOpError", "choose_fft", "lower_fft"]
