"""What the transforms of one FFT call cost, recorded while the pass runs (``affdeploy info``).

The pass evaluates each FFT call once eagerly before re-exporting (affdeploy.fft.lower); during that
run a ``Meter`` is active and the transform code adds to it the MACs of every matmul it emits, the
constants it uses (name and bytes) and the form chosen for each axis.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Meter:
    macs: int = 0
    constants: dict[str, int] = field(default_factory=dict)  # name -> bytes
    axes: list[dict[str, Any]] = field(default_factory=list)
    form: str | None = None  # a call without axis plans (stft/istft) says which form it took


def note_form(form: str) -> None:
    if _ACTIVE:
        _ACTIVE[-1].form = form


_ACTIVE: list[Meter] = []


@contextmanager
def measuring() -> Iterator[Meter]:
    meter = Meter()
    _ACTIVE.append(meter)
    try:
        yield meter
    finally:
        _ACTIVE.remove(meter)


def add_macs(count: Any) -> None:
    if _ACTIVE:
        _ACTIVE[-1].macs += int(count)


def add_constant(name: str, nbytes: int) -> None:
    if _ACTIVE:
        _ACTIVE[-1].constants[name] = int(nbytes)


def note_plans(plans: dict[int, tuple[int, Any]]) -> None:
    """The form of each transformed dim: {dim: (signal length, AxisPlan)}."""
    if _ACTIVE:
        for dim, (n, plan) in plans.items():
            _ACTIVE[-1].axes.append({"dim": dim, "n": n, "form": plan.describe(n)})
