"""Exporters: AFFNet to ONNX, Core ML and ExecuTorch, each artifact checked against PyTorch.

``ExportRequest`` (built once, passed whole) -> ``export_artifacts`` writes and records artifacts;
``ensure_artifact`` reuses what was exported before; ``registry`` knows every target's capabilities.
"""

from __future__ import annotations

from affdeploy.export.manifest import MANIFEST_NAME, ArtifactEntry, read_manifest
from affdeploy.export.pipeline import export_artifacts
from affdeploy.export.request import ExportRequest, plan_exports
from affdeploy.export.verify import inspect_artifact, verify_artifact

__all__ = ["MANIFEST_NAME", "ArtifactEntry", "ExportRequest", "export_artifacts", "inspect_artifact", "plan_exports",
           "read_manifest", "verify_artifact"]
