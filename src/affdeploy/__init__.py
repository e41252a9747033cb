"""affdeploy: AFFNet from PyTorch to ONNX, Core ML and ExecuTorch, measured on host and phones."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("affdeploy")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+source"

__all__ = ["__version__", "build_model", "list_models"]


def __getattr__(name: str) -> Any:
    """``build_model`` and ``list_models`` import torch on first use, not with the package: the CLI
    must set OpenMP's wait policy before torch loads (``affdeploy.bench.openmp``)."""
    if name in ("build_model", "list_models"):
        from affdeploy import models

        return getattr(models, name)
    raise AttributeError(f"module 'affdeploy' has no attribute {name!r}")
