"""Reading back what an export wrote: the request a manifest entry came from, ``verify`` and ``inspect``.

Kept apart from the pipeline that writes artifacts: everything here starts from a file on disk and its
manifest entry, which are data from wherever the folder came from.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from affdeploy.errors import AffdeployError, UsageError
from affdeploy.export.artifactio import ArtifactIO
from affdeploy.export.base import first_line
from affdeploy.export.manifest import ArtifactEntry, find_entry, model_ref
from affdeploy.export.opreport import OpReport
from affdeploy.export.parity import ParityResult
from affdeploy.export.pipeline import _reference
from affdeploy.export.registry import get_target, target_for_path
from affdeploy.export.request import ExportRequest
from affdeploy.fsutil import path_size, sha256_path
from affdeploy.models import MODELS
from affdeploy.models.source import is_user_model, resolve_model
from affdeploy.progress import Progress, silent
from affdeploy.vocab import Backend, FFTMode, InputKind, Precision


class UntrustedModelError(AffdeployError):
    """A manifest entry names user code (a factory or a .pt2) that the user did not name: it is not run."""


def trusted_model(entry: ArtifactEntry, named: str | None, trust: bool) -> None:
    """Refuse to import or load a manifest entry's user model unless the user named it too or trusts the manifest.

    A manifest is data from wherever its folder came from; rebuilding ``module:factory`` imports and
    runs that module (``os:abort`` kills the process, an ``evil.py`` beside it runs), and a .pt2 is
    unpickled. Built-in AFFNet variants are affdeploy's own code and always trusted. ``named`` is the
    ``--model`` given on the command line (None: none given); it must be the entry's model.
    """
    if named is not None and model_ref(named) != entry.model:
        raise UsageError(f"{entry.path} is {entry.model} (its manifest entry says so), not {named}",
                         hint="drop --model, or give the model the entry names")
    if entry.model not in MODELS and named is None and not trust:
        raise UntrustedModelError(f"the manifest names user code {entry.model}",
                                  hint=f"pass --model {entry.model} or --trust-manifest to rebuild it")


def entry_request(entry: ArtifactEntry, folder: Path) -> ExportRequest:
    """The request a manifest entry was exported from (its choices are already resolved)."""
    user_inputs = _recorded_parity_source(entry)
    user_model = is_user_model(entry.model)
    return ExportRequest(entry.model, get_target(entry.target).name, Backend(entry.backend), FFTMode(entry.fft),
                         Precision(entry.precision), entry.image_size, InputKind(entry.input_kind),
                         Path(entry.weights) if entry.weights else None, Path(folder),
                         calibration=_recorded_calibration(entry),
                         parity_images=None if user_model else user_inputs,
                         parity_inputs=user_inputs if user_model else None, fft_native=entry.fft_native)


def _recorded_parity_source(entry: ArtifactEntry) -> Path | None:
    """The ``--parity-images`` folder or ``--parity-inputs`` file an entry was checked on (None: the defaults)."""
    from affdeploy.data.inputs import BUNDLED, CALIBRATION_SPLIT, SEEDED

    source = (entry.parity_inputs or {}).get("source")
    return None if source in (None, BUNDLED, SEEDED, CALIBRATION_SPLIT) else Path(source)


def _recorded_calibration(entry: ArtifactEntry) -> Path | None:
    """The ``--calibration`` folder an int8 entry was made with (None: the shipped photos)."""
    from affdeploy.data.calibration import SHIPPED

    source = (entry.quantization or {}).get("calibration", {}).get("source", SHIPPED)
    return None if source == SHIPPED else Path(source)


def _recorded_sha(entry: ArtifactEntry, name: str) -> str | None:
    if name == entry.path:
        return entry.sha256
    return next((c.sha256 for c in entry.companions if c.path == name), None)


@dataclass(frozen=True)
class Verification:
    """``affdeploy verify``: parity re-run against the model the manifest entry names."""

    path: str
    model: str
    target: str
    backend: str
    precision: str
    fft: str
    sha256_matches_manifest: bool
    parity: ParityResult
    untrusted: bool = False  # parity skipped: the entry names user code the user did not name (trusted_model)

    @classmethod
    def of(cls, path: Path, entry: ArtifactEntry, unchanged: bool, parity: ParityResult,
           untrusted: bool = False) -> Verification:
        """The record for ``path`` and its manifest entry."""
        return cls(str(path), entry.model, entry.target, entry.backend, entry.precision, entry.fft, unchanged, parity,
                   untrusted)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Inspection:
    """``affdeploy inspect``: the op report and the inputs and outputs, read back from an artifact file."""

    path: str
    target: str
    size_bytes: int
    report: OpReport
    io: ArtifactIO

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "target": self.target, "size_bytes": self.size_bytes, **self.report.to_dict(),
                "io": self.io.to_dict()}


def _check_source(entry: ArtifactEntry) -> None:
    """The file the weights came from must be as exported: a checkpoint (--weights), or a user model's own source.

    A user model's weights are its .pt2 or factory module, named by --model (--weights is refused for
    it), so the message names the model file and says to restore it or export again from its new place.
    """
    weights = Path(entry.weights or "")
    if entry.model in MODELS:
        what, gone_hint = f"the checkpoint {weights}", "export again with --weights"
        changed_hint = gone_hint
    else:
        what = f"the model file {weights} named in the manifest"
        gone_hint = (f"restore it there, or export again with --model naming its new place "
                     f"(affdeploy export --model NEW --target {entry.target})")
        changed_hint = f"export again (affdeploy export --model {entry.model} --target {entry.target})"
    if not weights.is_file():
        raise AffdeployError(f"{what} is gone: this artifact was exported from it", hint=gone_hint)
    if sha256_path(weights) != entry.weights_sha256:
        raise AffdeployError(f"{what} changed since export", hint=changed_hint)


def verify_artifact(path: Path, on_progress: Progress = silent, model: str | None = None,
                    trust_manifest: bool = False) -> Verification:
    """Re-run the parity check of an exported artifact, rebuilding the model its manifest entry names.

    A user model is rebuilt only when ``model`` names it too or ``trust_manifest`` is set (see
    :func:`trusted_model`); otherwise only the file's sha256 is checked and parity is "not verified".
    """
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    tgt = target_for_path(path)
    folder, entry = find_entry(path)
    if sha256_path(path) != _recorded_sha(entry, path.name):  # a changed file fails whatever its parity: skip the slow part
        return Verification.of(path, entry, False, ParityResult.not_verified("the file changed since export"))
    if entry.weights is not None:
        _check_source(entry)
    try:
        trusted_model(entry, model, trust_manifest)
    except UntrustedModelError as exc:
        return Verification.of(path, entry, True, ParityResult.not_verified(f"{exc.message}; {exc.hint}"),
                               untrusted=True)
    on_progress(f"building {entry.model}")
    request = entry_request(entry, folder)
    if is_user_model(entry.model):
        check = resolve_model(entry.model).checkset(request.parity_inputs)
    else:
        _, check, rebuilt = _reference(request)
        if rebuilt is not None and entry.quantization is not None:
            was, now = entry.quantization["calibration"], rebuilt["calibration"]
            if was["sha256"] != now["sha256"]:
                where = ("the bundled calibration photographs" if request.calibration is None
                         else f"the calibration images in {request.calibration}")
                raise AffdeployError(f"{where} changed since export ({was['images']} then, {now['images']} now)",
                                     hint="export again with --calibration")
    recorded = entry.parity_inputs or {}
    if recorded.get("sha256") and recorded["sha256"] != check.sha256 and check.user_path() is not None:
        raise AffdeployError(f"the parity inputs in {check.user_path()} changed since export",
                             hint="export again to check against them")
    on_progress(f"{tgt.name}: checking parity against PyTorch on {check.description}")
    with ExitStack() as stack:
        if entry.quantization is not None:  # the floor the export was held to
            from affdeploy.export.quantize import Floor, recorded_floor

            stack.enter_context(recorded_floor(Floor(**entry.quantization["floor"])))
        parity = tgt.validate(path, request, check)
    return Verification.of(path, entry, True, parity)


def inspect_artifact(path: Path) -> Inspection:
    """Op-coverage report and inputs/outputs of an artifact file, read from the file itself (no manifest needed)."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    tgt = target_for_path(path)
    try:
        report, io = tgt.inspect(path), tgt.io(path)
    except Exception as exc:  # protobuf/flatbuffer parsers raise assorted types on a damaged file
        raise AffdeployError(f"{path} is not a readable {tgt.suffix} artifact "
                             f"({type(exc).__name__}: {first_line(exc)})") from None
    return Inspection(str(path), tgt.name, path_size(path), report, io)
