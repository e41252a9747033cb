"""What every export target is: its capabilities as data, and the four steps it implements.

One small class per target (Hugging Face optimum's exporter configs): the class variables state
what the target can do (suffix, backends, precisions, FFT support rows with their sources, parity
tolerances, where it runs, which optional packages it needs); ``export`` lowers an ExportedProgram
to a file, ``open`` loads that file in its runtime (parity in ``export`` and timing in ``bench``
use this same :class:`Session`), ``inspect`` reports its ops. Each target module registers its
class once with :func:`affdeploy.export.registry.register_target`; every list of target names,
suffixes or FFT rows elsewhere is derived from the registry. Target modules keep their heavy
imports inside methods, so reading capabilities stays cheap.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from torch.export import ExportedProgram

from affdeploy.export.parity import FAILED, Checkset, ParityResult, Tolerance, run_parity
from affdeploy.export.quantize import INT8_FLOOR, int8_tolerance
from affdeploy.fft.policy import FFTSupport, choose_fft
from affdeploy.vocab import Backend, DeviceKind, FFTMode, InputKind, Precision, Target

if TYPE_CHECKING:
    from affdeploy.data.inputs import InputSet
    from affdeploy.export.artifactio import ArtifactIO
    from affdeploy.export.opreport import OpReport
    from affdeploy.export.request import ExportRequest
    from affdeploy.models.source import TensorInputs
    from affdeploy.preprocessing import InputSpec

DEFAULT_TOLERANCES: Mapping[Precision, Tolerance] = {
    Precision.FP32: Tolerance(max_abs_err=1e-4),
    Precision.FP16: Tolerance(min_cosine=0.999),
    Precision.INT8: int8_tolerance(INT8_FLOOR),
}
"""fp32 must reproduce the logits; fp16 cannot, so it must agree on top-1 and point the same way; int8
must reach a floor of top-1 agreement and cosine on validation images (``int8_floor`` may override it)."""


def first_line(exc: BaseException) -> str:
    """The first line of a library exception (they can run to pages), or its type name."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


class NotRunnable(Exception):
    """This machine cannot execute the artifact; the message says why (goes into the manifest)."""


@dataclass
class Session:
    """One artifact (or eager model) loaded in its runtime: parity feeds it inputs, ``bench`` times it.

    ``prepare`` converts an NCHW float32 input once, so a timed call is ``infer`` alone.
    ``activate`` re-applies process-wide settings (thread counts) before a timed chunk.
    """

    infer: Callable[[Any], Any]
    prepare: Callable[[InputSet], Any]  # a bare array, or a tuple for a user model's several inputs
    scores: Callable[[Any], np.ndarray]  # infer's output -> flat score vector
    backend: Backend
    activate: Callable[[], None] = lambda: None
    notes: list[str] = field(default_factory=list)

    def predict(self, x: InputSet) -> np.ndarray:
        return self.scores(self.infer(self.prepare(x)))


@dataclass
class Lowered:
    """What a target's ``export`` produced: the main file, extra files, and the op report."""

    path: Path
    report: OpReport
    companions: list[Path] = field(default_factory=list)


class ExportTarget(ABC):
    """One export format. Subclasses set the class variables and implement the four steps."""

    name: ClassVar[Target]
    display: ClassVar[str]  # the runtime's name in messages ("ONNX Runtime")
    suffix: ClassVar[str]
    extra_suffixes: ClassVar[tuple[str, ...]] = ()  # other files the same target writes (.ort)
    is_dir: ClassVar[bool] = False
    backends: ClassVar[tuple[Backend, ...]]  # first one is the default
    precisions: ClassVar[tuple[Precision, ...]]  # first one is the default
    input_kinds: ClassVar[tuple[InputKind, ...]] = (InputKind.TENSOR,)
    fft_support: ClassVar[Mapping[Backend, FFTSupport]]  # per runtime backend; the first row is the default's
    tolerances: ClassVar[Mapping[Precision, Tolerance]] = DEFAULT_TOLERANCES
    runs_on: ClassVar[frozenset[DeviceKind]]  # where ``bench`` can measure it
    host_backends: ClassVar[frozenset[Backend] | None] = None  # backends this machine's runtime executes (None: all)
    delegate_friendly: ClassVar[bool] = True  # rewrite GroupNorm, softshrink... first (ONNX Runtime gains too:
    # benchmarks/results/fft_onnx.md, 14.5 -> 7.8 ms on AFFNet-ET)
    requires: ClassVar[tuple[str, ...]] = ()  # importable modules beyond the core dependencies
    extra: ClassVar[str | None] = None  # the pip extra that installs ``requires``
    requirements: ClassVar[str | None] = None  # or the requirements file, when pip cannot resolve them as an extra

    # ---- capabilities

    def unavailable(self) -> str | None:
        """Why this target cannot be used in this installation, or None when it can."""
        missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if not missing:
            return None
        how = f"-r {self.requirements}" if self.requirements else f"-e \".[{self.extra}]\""
        return f"unavailable: pip install {how} (missing {', '.join(missing)})"

    def default_precision(self, backend: Backend) -> Precision:
        return self.allowed_precisions(backend)[0]

    def allowed_precisions(self, backend: Backend) -> tuple[Precision, ...]:
        """Precisions the lowering for ``backend`` produces (first: the default)."""
        return self.precisions

    def runtime_backend(self, backend: Backend) -> Backend:
        """What executes an artifact lowered for ``backend`` (the ``backend`` of a bench record)."""
        return backend

    def fft_row(self, backend: Backend) -> FFTSupport:
        """The FFT support row that decides ``--fft auto`` for an export lowered for ``backend``."""
        return self.fft_support.get(self.runtime_backend(backend)) or next(iter(self.fft_support.values()))

    def runtime_name(self, backend: Backend) -> str:
        return self.display if len(self.backends) == 1 else f"{self.display} with the {backend} backend"

    def resolve_fft(self, mode: FFTMode, backend: Backend) -> FFTMode:
        """``dft`` or ``native`` for an export lowered for ``backend`` (``native`` refused where it cannot run)."""
        return choose_fft(mode, self.fft_row(backend), self.runtime_name(backend))

    def tolerance(self, precision: Precision) -> Tolerance:
        if precision == Precision.INT8:  # the floor may be overridden (AFFDEPLOY_INT8_FLOOR)
            return int8_tolerance()
        return self.tolerances[precision]

    def artifact_name(self, request: ExportRequest) -> str:
        """File name that encodes the manifest key, so different choices never overwrite each other."""
        from affdeploy.models.source import is_user_model, model_slug

        parts = [model_slug(request.model)] + ([] if is_user_model(request.model) else [str(request.image_size)])
        if len(self.backends) > 1:
            parts.append(request.backend)
        parts += [request.precision, request.fft]
        if request.input_kind != InputKind.TENSOR:
            parts.append(request.input_kind)
        return "-".join(parts) + self.suffix

    def owns(self, path: Path) -> bool:
        """Whether ``path`` is an artifact of this target, judged by its suffix."""
        return Path(path).suffix in (self.suffix, *self.extra_suffixes)

    # ---- the steps

    @abstractmethod
    def export(self, ep: ExportedProgram, spec: InputSpec | TensorInputs, dest: Path, request: ExportRequest) -> Lowered:
        """Lower ``ep`` and write the artifact at ``dest`` (a temporary path)."""

    def preload(self) -> None:  # noqa: B027  (an optional hook: most targets import nothing ahead)
        """Import the runtime's modules ahead of time, so a measured load time is the model's, not imports'."""

    @abstractmethod
    def open(self, path: Path, request: ExportRequest, threads: int | None = None) -> Session:
        """Load the artifact in its runtime here; raises NotRunnable with the reason if this machine cannot.

        ``threads`` None: a default sane for a shared machine (parity); a count: exactly that (timing).
        """

    @abstractmethod
    def inspect(self, path: Path) -> OpReport:
        """Op-coverage report read back from the artifact file."""

    @abstractmethod
    def io(self, path: Path) -> ArtifactIO:
        """Inputs and outputs as the artifact file declares them (what an app feeds), read back from the file."""

    def reference_transform(self, request: ExportRequest) -> Callable[[np.ndarray], np.ndarray] | None:
        """How to map PyTorch logits onto what the artifact outputs (identity by default)."""
        return None

    def validate(self, path: Path, request: ExportRequest, check: Checkset) -> ParityResult:
        """Parity of the artifact at ``path`` against PyTorch's outputs on ``check``'s inputs."""
        try:
            session = self.open(path, request)
            return run_parity(session.predict, check, self.tolerance(request.precision),
                              self.reference_transform(request))
        except NotRunnable as exc:
            return ParityResult.not_verified(str(exc))
        except Exception as exc:  # the runtime rejected the file: as much a parity failure as wrong numbers
            return ParityResult.unmeasured(FAILED, f"the runtime could not run it: {type(exc).__name__}: {first_line(exc)}")

