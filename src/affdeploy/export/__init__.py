"""Exporters: AFFNet to ONNX, Core ML and ExecuTorch, each artifact checked against PyTorch.

``export_model`` is the Python API the CLI, the benchmarks and the Android/iOS helpers share;
``TARGETS`` names the export targets; ``ArtifactEntry`` is one manifest record.
"""

from __future__ import annotations

from affdeploy.export.base import TARGET_NAMES as TARGETS
from affdeploy.export.manifest import MANIFEST_NAME, ArtifactEntry, read_manifest
from affdeploy.export.pipeline import export_model, inspect_artifact, verify_artifact

__all__ = ["MANIFEST_NAME", "TARGETS", "ArtifactEntry", "export_model", "inspect_artifact", "read_manifest",
           "verify_artifact"]
