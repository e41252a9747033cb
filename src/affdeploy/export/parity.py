"""Numeric parity of an artifact against the PyTorch model: the one rule every target obeys.

Each target states its :class:`Tolerance` per precision (``ExportTarget.tolerances``): fp32
artifacts must reproduce the logits (max abs error <= 1e-4); reduced precisions cannot, so they
must agree on the top-1 class and point the same way (cosine >= a floor) on every input; int8
cannot either, so it must reach a floor of top-1 agreement and cosine over validation images.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch

from affdeploy.graph import example_input

PARITY_SEEDS = (0, 1, 2)
NOT_VERIFIED = "not verified"
PASSED = "passed"
FAILED = "failed"

Predict = Callable[[np.ndarray], np.ndarray]
"""Runs an artifact on one NCHW float32 input and returns a flat score vector."""


@dataclass(frozen=True)
class Tolerance:
    """Set ``max_abs_err`` to demand the same logits, or ``min_cosine`` to demand top-1 and direction
    (on every input, or on a ``min_top1_agreement`` share of them: int8)."""

    max_abs_err: float | None = None
    min_cosine: float | None = None
    min_top1_agreement: float | None = None

    def describe(self) -> str:
        """The rule in words, as parity records state it."""
        if self.max_abs_err is not None:
            return f"max abs logit error <= {self.max_abs_err:.0e}"
        if self.min_top1_agreement is not None:
            return f"top-1 agreement >= {self.min_top1_agreement} and min cosine >= {self.min_cosine}"
        return f"same top-1 and cosine >= {self.min_cosine if self.min_cosine is not None else 1.0}"


@dataclass(frozen=True)
class ParityResult:
    """The outcome of one parity check, as stored in the manifest's ``parity`` field."""

    status: str  # passed | failed | not verified
    reason: str = ""
    max_abs_err: float | None = None
    cosine: float | None = None
    top1_agree: bool | None = None
    inputs: int = 0
    top1_agreement: float | None = None  # share of inputs with the reference's top-1
    mean_cosine: float | None = None
    engine: str | None = None  # what computed the outputs (Core ML: "coreml-runtime" or "mil-reference")
    tolerance: str | None = None  # the rule applied (Tolerance.describe)
    also: tuple[ParityResult, ...] = ()  # the same artifact checked by other engines (Core ML on macOS)

    @classmethod
    def unmeasured(cls, status: str, reason: str) -> ParityResult:
        """No numbers: the artifact could not run here ("not verified") or at all ("failed")."""
        return cls(status, reason)

    @classmethod
    def not_verified(cls, reason: str) -> ParityResult:
        """For an artifact this machine cannot run: never a pass."""
        return cls(NOT_VERIFIED, reason)

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParityResult:
        fields = ("status", "reason", "max_abs_err", "cosine", "top1_agree", "inputs", "engine", "tolerance",
                  "top1_agreement", "mean_cosine")
        also = tuple(cls.from_dict(d) for d in data.get("also", ()))
        return cls(**{k: data[k] for k in fields if k in data}, also=also)


def parity_inputs(image_size: int) -> list[np.ndarray]:
    """Fixed inputs on the 1/255 pixel grid, so an image-input model sees exactly the same values."""
    return [
        (torch.round(example_input(image_size, seed=seed) * 255) / 255).numpy() for seed in PARITY_SEEDS
    ]


def reference_outputs(model: torch.nn.Module, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """PyTorch logits for each input."""
    with torch.no_grad():
        return [model(torch.from_numpy(x)).numpy().reshape(-1) for x in inputs]


def compare(references: Sequence[np.ndarray], outputs: Sequence[np.ndarray], tolerance: Tolerance) -> ParityResult:
    """Parity of ``outputs`` against ``references`` under ``tolerance``."""
    max_err = 0.0
    cosines: list[float] = []
    same = 0
    ref_scale = 0.0
    for ref, out in zip(references, outputs, strict=True):
        ref = ref.astype(np.float64).reshape(-1)
        out = out.astype(np.float64).reshape(-1)
        if ref.shape != out.shape or not np.all(np.isfinite(out)):
            return ParityResult.unmeasured(FAILED, f"output shape {out.shape} or values unusable (expected {ref.shape})")
        max_err = max(max_err, float(np.max(np.abs(ref - out))))
        denom = float(np.linalg.norm(ref) * np.linalg.norm(out)) or 1.0
        cosines.append(float(ref @ out) / denom)
        same += int(np.argmax(ref)) == int(np.argmax(out))
        ref_scale = max(ref_scale, float(np.max(np.abs(ref))))
    min_cos, top1, agreement = min(cosines, default=1.0), same == len(cosines), same / max(len(cosines), 1)
    if tolerance.max_abs_err is not None:
        ok = max_err <= tolerance.max_abs_err
        rule = f"max abs error {max_err:.2e} {'<=' if ok else '>'} {tolerance.max_abs_err:.0e}"
    elif tolerance.min_top1_agreement is not None:
        floor = tolerance.min_cosine if tolerance.min_cosine is not None else 1.0
        ok = agreement >= tolerance.min_top1_agreement and min_cos >= floor
        rule = (f"top-1 agreement {agreement:.0%} (need >= {tolerance.min_top1_agreement:.0%}), "
                f"min cosine {min_cos:.4f} (need >= {floor}), mean cosine {float(np.mean(cosines)):.4f}")
    else:
        floor = tolerance.min_cosine if tolerance.min_cosine is not None else 1.0
        ok = top1 and min_cos >= floor
        rule = f"top-1 {'agrees' if top1 else 'differs'}, min cosine {min_cos:.5f} (need >= {floor})"
    return ParityResult(
        status=PASSED if ok else FAILED,
        reason=f"{rule} on {len(references)} inputs (max |logit| {ref_scale:.3f})",
        max_abs_err=max_err,
        cosine=min_cos,
        top1_agree=top1,
        inputs=len(references),
        tolerance=tolerance.describe(),
        top1_agreement=agreement,
        mean_cosine=float(np.mean(cosines)) if cosines else None,
    )


def run_parity(predict: Predict, references: Sequence[np.ndarray], inputs: Sequence[np.ndarray], tolerance: Tolerance,
               reference_transform: Callable[[np.ndarray], np.ndarray] | None = None,
               engine: str | None = None) -> ParityResult:
    """Run ``predict`` on every input and compare with the (optionally transformed) references."""
    transform = reference_transform or (lambda v: v)
    result = compare([transform(r) for r in references], [predict(x) for x in inputs], tolerance)
    return replace(result, engine=engine)


def log_softmax(v: np.ndarray) -> np.ndarray:
    """For classifier artifacts, which output probabilities: compare log-probabilities instead of logits."""
    v = v.astype(np.float64)
    shifted = v - v.max()
    return shifted - np.log(np.exp(shifted).sum())
