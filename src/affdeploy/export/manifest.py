"""``DIR/manifest.json``: one entry per artifact, the contract between the exporter and its consumers.

The benchmark runners and the Android/iOS apps find artifacts, their input spec and their parity
status here instead of guessing from file names. Entries are keyed by their ``path`` (which encodes
model, image size, target, backend, precision, FFT mode and input kind), so exporting again replaces
exactly one entry and keeps the others. Every write is an atomic whole-file replace.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from affdeploy.errors import AffdeployError, UsageError
from affdeploy.export.artifactio import ArtifactIO
from affdeploy.export.opreport import OpReport
from affdeploy.export.parity import ParityResult
from affdeploy.fsutil import atomic_write_text, locked_dir
from affdeploy.models.source import PT2, model_kind

MANIFEST_NAME = "manifest.json"
SCHEMA_ID = "affdeploy.manifest/v1"


@dataclass
class Companion:
    """Another file the same export wrote next to the artifact (the ``.ort`` beside an ``.onnx``)."""

    path: str
    sha256: str
    size_bytes: int
    parity: ParityResult

    def __post_init__(self) -> None:
        if isinstance(self.parity, dict):
            self.parity = ParityResult.from_dict(self.parity)


@dataclass
class ArtifactEntry:
    """Everything a consumer needs to know about one exported artifact."""

    model: str
    target: str  # onnx | coreml | executorch
    backend: str  # onnxruntime | coreml | xnnpack | portable
    path: str  # relative to the manifest's folder
    fft: str  # dft | native
    precision: str  # fp32 | fp16 | int8
    sha256: str
    size_bytes: int
    image_size: int | None  # AFFNet's input height and width; None for a user model (``input`` has its shapes)
    input: dict[str, Any]
    tool_versions: dict[str, str]
    op_counts: OpReport
    parity: ParityResult
    export_seconds: float
    created: str  # ISO 8601, UTC
    input_kind: str = "tensor"  # tensor | image (Core ML image input + classifier)
    weights: str | None = None  # absolute path of the checkpoint, None for random init
    weights_sha256: str | None = None
    companions: list[Companion] = field(default_factory=list)  # e.g. the .ort file beside an .onnx
    code_sha256: str | None = None  # affdeploy's export code that wrote it (see export.cache.code_fingerprint)
    quantization: dict[str, Any] | None = None  # int8: calibration images, BatchNorm, ops kept fp32, floor
    parity_inputs: dict[str, Any] | None = None  # what parity ran on: source (bundled/seeded/a path), sha256, names
    fft_native: str | None = None  # --fft auto: the native FFT the pass could keep per transform (ONNX Runtime's DFT)
    fft_constant_bytes: int | None = None  # bytes of the DFT constants the FFT pass added (None: no pass)
    fft_transforms: list[dict[str, Any]] | None = None  # per FFT call: op, source line, form per axis, MACs, bytes
    io: ArtifactIO | None = None  # what the file takes and returns (names, shapes, dtypes), read back from it

    def __post_init__(self) -> None:
        """Typed fields from their JSON form (a manifest read back, or a test's literal)."""
        if isinstance(self.op_counts, dict):
            self.op_counts = OpReport.from_dict(self.op_counts)
        if isinstance(self.parity, dict):
            self.parity = ParityResult.from_dict(self.parity)
        self.companions = [Companion(**c) if isinstance(c, dict) else c for c in self.companions]
        if isinstance(self.io, dict):
            self.io = ArtifactIO.from_dict(self.io)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArtifactEntry:
        """Build from JSON, ignoring keys this version does not know (forward compatible)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def resolve(self, manifest_dir: Path) -> Path:
        """Absolute location of the artifact given the folder that holds the manifest (checked to stay inside it)."""
        return contained(manifest_dir, self.path, self.path)

    def companion_paths(self, manifest_dir: Path) -> list[Path]:
        """Absolute locations of the companions, each checked like the artifact's."""
        return [contained(manifest_dir, c.path, self.path) for c in self.companions]


class NoEntryError(AffdeployError):
    """The manifest beside a file has no entry for it (or there is no manifest): the file is a bare artifact."""


def contained(folder: Path, relative: str, entry: str) -> Path:
    """``folder/relative`` resolved, refused unless it stays inside ``folder``.

    A manifest is data from wherever the folder came from: a path in it must not name an absolute
    location, climb out with ``..`` or pass through a symlink (itself or inside an .mlpackage) that
    leads elsewhere, or its consumers would copy, bench or hash a file outside the folder.
    """
    root = Path(folder).resolve()
    path = (root / relative).resolve()
    escaped = Path(relative).is_absolute() or path == root or not path.is_relative_to(root)
    if not escaped and path.is_dir():
        escaped = any(not (Path(top) / name).resolve().is_relative_to(root)
                      for top, dirs, files in os.walk(path) for name in (*dirs, *files)
                      if (Path(top) / name).is_symlink())
    if escaped:
        raise AffdeployError(f"{manifest_path(folder)}: entry {entry} names {relative!r}, which leads outside {root}",
                             hint="a manifest may only name files in its own folder; export the model again")
    return path


def model_ref(model: str) -> str:
    """``--model`` as manifests record it: a .pt2 path made absolute, anything else as given (checked)."""
    return str(Path(model).resolve()) if model_kind(model) == PT2 else model


def manifest_path(folder: Path) -> Path:
    return Path(folder) / MANIFEST_NAME


def read_manifest(folder: Path) -> list[ArtifactEntry]:
    """Entries of ``folder/manifest.json``; an empty list when there is none yet."""
    path = manifest_path(folder)
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text("utf-8"))
        schema = data.get("schema") if isinstance(data, dict) else None
        if schema != SCHEMA_ID:
            raise AffdeployError(f"{path} has schema {schema!r}; this affdeploy reads {SCHEMA_ID}",
                                 hint="export again into another folder, or use the affdeploy that wrote it")
        return [ArtifactEntry.from_dict(item) for item in data["artifacts"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise AffdeployError(
            f"{path} is not a readable affdeploy manifest ({type(exc).__name__}: {exc})",
            hint="move it away and export again",
        ) from None


def write_manifest(folder: Path, entries: list[ArtifactEntry]) -> Path:
    """Atomically replace ``folder/manifest.json`` with ``entries`` (sorted by path)."""
    data = {"schema": SCHEMA_ID, "artifacts": [e.to_dict() for e in sorted(entries, key=lambda e: e.path)]}
    return atomic_write_text(manifest_path(folder), json.dumps(data, indent=2) + "\n")


def upsert_entries(folder: Path, new: list[ArtifactEntry]) -> Path:
    """Add or replace ``new`` entries (matched by path), keeping every other entry."""
    replaced = {e.path for e in new}
    with locked_dir(folder):  # two exports into one folder must not drop each other's entries
        kept = [e for e in read_manifest(folder) if e.path not in replaced]
        return write_manifest(folder, kept + new)


def refuse_foreign(folder: Path, name: str, model: str, source_sha256: str | None) -> None:
    """Refuse to replace ``folder/name`` when its entry records another model from other bytes.

    File names carry a model's name, not where it came from: two ``model.pt2`` from different
    folders, or a user's ``affnet-et-64.pt2`` beside AFFNet-ET at 64 px, would silently replace
    each other's artifact and entry. Exporting the same model again (an edited file at the same
    place), or the same bytes from elsewhere, replaces it as before.
    """
    held = next((e for e in read_manifest(folder) if e.path == name), None)
    if held is None or held.model == model or (source_sha256 is not None and held.weights_sha256 == source_sha256):
        return
    origin = f", sha256 {held.weights_sha256[:12]}" if held.weights_sha256 else ""
    raise UsageError(f"{manifest_path(folder).parent / name} is the artifact of {held.model}{origin}; exporting {model} "
                     "would overwrite it and its manifest entry",
                     hint="pass another --out, or give the model file another name")


def find_entry(artifact: Path) -> tuple[Path, ArtifactEntry]:
    """The manifest folder and entry describing ``artifact`` (looked up next to it)."""
    artifact = Path(artifact).resolve()
    folder = artifact.parent
    for entry in read_manifest(folder):
        if artifact in (entry.resolve(folder), *entry.companion_paths(folder)):
            return folder, entry
    raise NoEntryError(
        f"no entry for {artifact.name} in {manifest_path(folder)}",
        hint="verify needs the manifest written by 'affdeploy export' next to the artifact",
    )
