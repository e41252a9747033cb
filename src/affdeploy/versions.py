"""Versions of the tools that shape artifacts and results: one source for manifests, results and the cache key."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

TOOL_PACKAGES = ("affdeploy", "torch", "executorch", "coremltools", "onnx", "onnxruntime", "onnxscript", "numpy",
                 "litert-torch", "ai-edge-litert")  # "missing" without the tflite extra


def installed_version(package: str) -> str:
    """Version of an installed distribution, ``"missing"`` when it is not installed."""
    try:
        return version(package)
    except PackageNotFoundError:
        return "missing"


def tool_versions(packages: tuple[str, ...] = TOOL_PACKAGES) -> dict[str, str]:
    """Python's version and each package's, as recorded with every artifact and result."""
    return {"python": platform.python_version(), **{name: installed_version(name) for name in packages}}
