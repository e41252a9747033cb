"""The registry of export targets (timm's model registry is the pattern): each target registered once.

Target ``x`` lives in module ``affdeploy.export.x`` and registers its class with
``@register_target``; the registry imports those modules on first use, in the order of
:class:`affdeploy.vocab.Target`. Adding a target is one module plus its name in the vocabulary.
Every list the CLI and the devices need (target names per device kind, artifact suffixes, the
FFT support table) is derived here, never restated.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from affdeploy.errors import UsageError
from affdeploy.export.base import ExportTarget
from affdeploy.fft.policy import FFTSupport
from affdeploy.vocab import BASELINE, Backend, DeviceKind, Target

T = TypeVar("T", bound=type[ExportTarget])

_REGISTRY: dict[Target, ExportTarget] = {}


def register_target(cls: T) -> T:
    """Class decorator: register one instance of ``cls`` under its ``name`` (once)."""
    if cls.name in _REGISTRY:
        raise RuntimeError(f"export target {cls.name} registered twice")
    _REGISTRY[cls.name] = cls()
    return cls


def _load() -> dict[Target, ExportTarget]:
    """Import every target module once; a module not in this checkout is simply not registered."""
    for name in Target:
        if name not in _REGISTRY:
            module = f"affdeploy.export.{name.value}"
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise
    return {name: _REGISTRY[name] for name in Target if name in _REGISTRY}


def all_targets() -> list[ExportTarget]:
    """Every registered target, available here or not, in vocabulary order."""
    return list(_load().values())


def get_target(name: str) -> ExportTarget:
    """The usable target called ``name``; a UsageError names the choices or how to install it."""
    targets = _load()
    try:
        target = targets[Target(name)]
    except (ValueError, KeyError):
        raise UsageError(f"unknown target '{name}'; choose one of: {', '.join(target_names())}, all") from None
    reason = target.unavailable()
    if reason:
        raise UsageError(f"target {name} is {reason}")
    return target


def target_names(runs_on: DeviceKind | None = None) -> tuple[Target, ...]:
    """Names of the targets usable in this installation (and measurable on ``runs_on`` when given)."""
    return tuple(t.name for t in _load().values()
                 if not t.unavailable() and (runs_on is None or runs_on in t.runs_on))


def bench_targets(kind: DeviceKind) -> tuple[str, ...]:
    """What ``bench --target all`` means on a device kind: the eager baseline (host only) and the targets."""
    baseline = (BASELINE,) if kind == DeviceKind.HOST else ()
    return (*baseline, *target_names(kind))


def known_bench_targets() -> tuple[str, ...]:
    """Every name ``bench --target`` understands anywhere (for "cannot run here" vs "unknown")."""
    return (BASELINE, *target_names())


def target_for_path(path: Path, runs_on: DeviceKind | None = None) -> ExportTarget:
    """The target whose artifacts end like ``path`` (among those measurable on ``runs_on``)."""
    for target in _load().values():
        if target.owns(path) and (runs_on is None or runs_on in target.runs_on):
            return target
    raise UsageError(f"{path} is not an artifact affdeploy can use{f' on {runs_on}' if runs_on else ''}: "
                     f"expected one of {', '.join(artifact_suffixes(runs_on))}")


def artifact_suffixes(runs_on: DeviceKind | None = None) -> tuple[str, ...]:
    """File suffixes of every usable target's artifacts (``.onnx``, ``.ort``, ``.pte`` ...)."""
    return tuple(s for t in _load().values() if runs_on is None or runs_on in t.runs_on
                 for s in (t.suffix, *t.extra_suffixes))


def fft_support_table() -> Mapping[tuple[Target, Backend], FFTSupport]:
    """Every target's FFT support rows, keyed by (target, runtime backend), with their sources."""
    return {(t.name, backend): row for t in _load().values() for backend, row in t.fft_support.items()}
