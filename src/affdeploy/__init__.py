"""affdeploy: AFFNet from PyTorch to ONNX, Core ML and ExecuTorch, measured on host and phones."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("affdeploy")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+source"

from affdeploy.models import build_model, list_models  # noqa: E402

__all__ = ["__version__", "build_model", "list_models"]
