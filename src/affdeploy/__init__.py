"""affdeploy: AFFNet from PyTorch to ONNX, Core ML and ExecuTorch, measured on host and phones."""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself is not imported: the CLI's Ctrl-C handling starts after this package loads
if TYPE_CHECKING:
    from typing import Any

__all__ = ["__version__", "build_model", "list_models"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("affdeploy")
    except PackageNotFoundError:  # running from a source tree without install
        return "0.0.0+source"


def __getattr__(name: str) -> Any:
    """``build_model`` and ``list_models`` import torch on first use, not with the package: the CLI
    must set OpenMP's wait policy before torch loads (``affdeploy.bench.openmp``). ``__version__`` is
    looked up on first use too, where the CLI already turns a Ctrl-C into an interrupted run."""
    if name == "__version__":
        return _version()
    if name in ("build_model", "list_models"):
        from affdeploy import models

        return getattr(models, name)
    raise AttributeError(f"module 'affdeploy' has no attribute {name!r}")
