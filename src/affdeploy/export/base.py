"""The interface every export target implements, and the registry of targets.

One small class per target (Hugging Face optimum style): ``export`` lowers an ExportedProgram to a
file, ``runner`` says how to execute that file here (or why it cannot), ``inspect`` reports its ops.
Parity, the manifest and the pipeline are shared (``parity.py``, ``manifest.py``, ``pipeline.py``).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from torch.export import ExportedProgram

from affdeploy.errors import UsageError
from affdeploy.export.manifest import FAILED
from affdeploy.export.parity import Runner, not_verified, run_parity, unmeasured
from affdeploy.preprocessing import InputSpec

TARGET_NAMES = ("onnx", "coreml", "executorch")


def first_line(exc: BaseException) -> str:
    """The first line of a library exception (they can run to pages), or its type name."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


class NotRunnable(Exception):
    """This machine cannot execute the artifact; the message says why (goes into the manifest)."""


@dataclass(frozen=True)
class ExportOptions:
    """What the user chose beyond the model: resolved to concrete values before lowering."""

    model: str
    image_size: int
    fft: str
    precision: str
    backend: str
    input_kind: str = "tensor"
    require_full_delegation: bool = False
    ort_format: bool = False


@dataclass
class Lowered:
    """What a target's ``export`` produced: the main file, extra files, and the op report."""

    path: Path
    report: dict[str, Any]
    companions: list[Path] = field(default_factory=list)


def op_report(
    ops: Mapping[str, int],
    *,
    fft_ops: int,
    complex_values: int,
    delegated: int | None,
    non_delegated: int | None,
    delegate_calls: int | None,
    backends: Mapping[str, str],
    per_op: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, Any]:
    """The op-coverage report shape shared by the manifest and ``affdeploy inspect``.

    ``delegated``/``non_delegated`` are None for formats without partitioning (ONNX, Core ML).
    """
    total = int(sum(ops.values()))
    share = None
    if delegated is not None and non_delegated is not None:
        share = round(delegated / (delegated + non_delegated), 4) if delegated + non_delegated else 0.0
    return {
        "total": total,
        "ops": dict(Counter(ops).most_common()),
        "fft_ops_left": fft_ops,
        "complex_values": complex_values,
        "delegated_ops": delegated,
        "non_delegated_ops": non_delegated,
        "delegated_share": share,
        "delegate_calls": delegate_calls,
        "delegation": {k: dict(v) for k, v in (per_op or {}).items()},
        "backends": dict(backends),
    }


class Target(ABC):
    """One export format. Subclasses set the class variables and implement the three steps."""

    name: ClassVar[str]
    suffix: ClassVar[str]
    extra_suffixes: ClassVar[tuple[str, ...]] = ()  # other files the same target writes (.ort)
    is_dir: ClassVar[bool] = False
    backends: ClassVar[tuple[str, ...]]  # first one is the default
    precisions: ClassVar[tuple[str, ...]]  # first one is the default
    input_kinds: ClassVar[tuple[str, ...]] = ("tensor",)

    def check_options(self, backend: str | None, precision: str | None, input_kind: str | None) -> tuple[str, str, str]:
        """Resolve defaults and reject combinations this target cannot produce (one clear line)."""
        backend = backend or self.backends[0]
        precision = precision or self.precisions[0]
        input_kind = input_kind or self.input_kinds[0]
        for what, value, allowed in (("--backend", backend, self.backends), ("--precision", precision, self.precisions),
                                     ("--coreml-input", input_kind, self.input_kinds)):
            if value not in allowed:
                raise UsageError(f"{what} {value} is not available for --target {self.name}; choose: {', '.join(allowed)}")
        return backend, precision, input_kind

    def artifact_name(self, opts: ExportOptions) -> str:
        """File name that encodes the manifest key, so different choices never overwrite each other."""
        parts = [opts.model, str(opts.image_size)]
        if len(self.backends) > 1:
            parts.append(opts.backend)
        parts += [opts.precision, opts.fft]
        if opts.input_kind != "tensor":
            parts.append(opts.input_kind)
        return "-".join(parts) + self.suffix

    @abstractmethod
    def export(self, ep: ExportedProgram, spec: InputSpec, dest: Path, opts: ExportOptions) -> Lowered:
        """Lower ``ep`` and write the artifact at ``dest`` (a temporary path)."""

    @abstractmethod
    def runner(self, path: Path, opts: ExportOptions) -> Runner:
        """A function that runs the artifact here; raises NotRunnable with the reason if it cannot."""

    @abstractmethod
    def inspect(self, path: Path) -> dict[str, Any]:
        """Op-coverage report (see :func:`op_report`) read back from the artifact file."""

    def reference_transform(self, opts: ExportOptions) -> Callable[[np.ndarray], np.ndarray] | None:
        """How to map PyTorch logits onto what the artifact outputs (identity by default)."""
        return None

    def validate(self, path: Path, opts: ExportOptions, references: Sequence[np.ndarray],
                 inputs: Sequence[np.ndarray]) -> dict[str, Any]:
        """Parity record of the artifact at ``path`` against the PyTorch ``references``."""
        try:
            run = self.runner(path, opts)
            return run_parity(run, references, inputs, opts.precision, self.reference_transform(opts))
        except NotRunnable as exc:
            return not_verified(str(exc))
        except Exception as exc:  # the runtime rejected the file: as much a parity failure as wrong numbers
            return unmeasured(FAILED, f"the runtime could not run it: {type(exc).__name__}: {first_line(exc)}")


_MODULES = {"onnx": "affdeploy.export.onnx", "coreml": "affdeploy.export.coreml",
            "executorch": "affdeploy.export.executorch"}


def get_target(name: str) -> Target:
    """The target called ``name``; modules import lazily because each pulls a heavy library."""
    if name not in _MODULES:
        raise UsageError(f"unknown target '{name}'; choose one of: {', '.join(TARGET_NAMES)}, all")
    module = importlib.import_module(_MODULES[name])
    return module.TARGET


def target_for_path(path: Path) -> Target:
    """The target whose artifacts end like ``path`` (.onnx/.ort, .mlpackage, .pte)."""
    suffix = Path(path).suffix
    for name in TARGET_NAMES:
        target = get_target(name)
        if suffix in (target.suffix, *target.extra_suffixes):
            return target
    raise UsageError(f"{path} is not an .onnx, .ort, .mlpackage or .pte artifact")
