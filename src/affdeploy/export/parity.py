"""Numeric parity of an artifact against the PyTorch model: the one rule every target obeys.

fp32 artifacts must reproduce the logits (max abs error <= 1e-4); fp16 artifacts cannot, so they
must agree on the top-1 class and point the same way (cosine >= 0.999) on every input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from affdeploy.export.manifest import FAILED, NOT_VERIFIED, PASSED
from affdeploy.graph import example_input

PARITY_SEEDS = (0, 1, 2)
FP32_MAX_ABS_ERR = 1e-4
FP16_MIN_COSINE = 0.999

Runner = Callable[[np.ndarray], np.ndarray]
"""Runs an artifact on one NCHW float32 input and returns a flat score vector."""


def parity_inputs(image_size: int) -> list[np.ndarray]:
    """Fixed inputs on the 1/255 pixel grid, so an image-input model sees exactly the same values."""
    return [
        (torch.round(example_input(image_size, seed=seed) * 255) / 255).numpy() for seed in PARITY_SEEDS
    ]


def reference_outputs(model: torch.nn.Module, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """PyTorch logits for each input."""
    with torch.no_grad():
        return [model(torch.from_numpy(x)).numpy().reshape(-1) for x in inputs]


def unmeasured(status: str, reason: str) -> dict[str, object]:
    """A parity record without numbers: the artifact could not run here ("not verified") or at all ("failed")."""
    return {"status": status, "reason": reason, "max_abs_err": None, "cosine": None, "top1_agree": None, "inputs": 0}


def not_verified(reason: str) -> dict[str, object]:
    """For an artifact this machine cannot run: never a pass."""
    return unmeasured(NOT_VERIFIED, reason)


def compare(references: Sequence[np.ndarray], outputs: Sequence[np.ndarray], precision: str) -> dict[str, object]:
    """Parity record of ``outputs`` against ``references`` under the rule for ``precision``."""
    max_err = 0.0
    min_cos = 1.0
    top1 = True
    ref_scale = 0.0
    for ref, out in zip(references, outputs, strict=True):
        ref = ref.astype(np.float64).reshape(-1)
        out = out.astype(np.float64).reshape(-1)
        if ref.shape != out.shape or not np.all(np.isfinite(out)):
            return unmeasured(FAILED, f"output shape {out.shape} or values unusable (expected {ref.shape})")
        max_err = max(max_err, float(np.max(np.abs(ref - out))))
        denom = float(np.linalg.norm(ref) * np.linalg.norm(out)) or 1.0
        min_cos = min(min_cos, float(ref @ out) / denom)
        top1 = top1 and int(np.argmax(ref)) == int(np.argmax(out))
        ref_scale = max(ref_scale, float(np.max(np.abs(ref))))
    if precision == "fp32":
        ok = max_err <= FP32_MAX_ABS_ERR
        rule = f"max abs error {max_err:.2e} {'<=' if ok else '>'} {FP32_MAX_ABS_ERR:.0e}"
    else:
        ok = top1 and min_cos >= FP16_MIN_COSINE
        rule = f"top-1 {'agrees' if top1 else 'differs'}, min cosine {min_cos:.5f} (need >= {FP16_MIN_COSINE})"
    return {
        "status": PASSED if ok else FAILED,
        "reason": f"{rule} on {len(references)} inputs (max |logit| {ref_scale:.3f})",
        "max_abs_err": max_err,
        "cosine": min_cos,
        "top1_agree": top1,
        "inputs": len(references),
    }


def run_parity(runner: Runner, references: Sequence[np.ndarray], inputs: Sequence[np.ndarray], precision: str,
               reference_transform: Callable[[np.ndarray], np.ndarray] | None = None) -> dict[str, object]:
    """Run ``runner`` on every input and compare with the (optionally transformed) references."""
    transform = reference_transform or (lambda v: v)
    return compare([transform(r) for r in references], [runner(x) for x in inputs], precision)


def log_softmax(v: np.ndarray) -> np.ndarray:
    """For classifier artifacts, which output probabilities: compare log-probabilities instead of logits."""
    v = v.astype(np.float64)
    shifted = v - v.max()
    return shifted - np.log(np.exp(shifted).sum())
