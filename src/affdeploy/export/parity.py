"""Numeric parity of an artifact against the PyTorch model: the one rule every target obeys.

Each target states its :class:`Tolerance` per precision (``ExportTarget.tolerances``):

- fp32 reproduces the outputs: max |error| <= 1e-4 on every input;
- fp16 cannot, so it must point the same way (cosine >= a floor on every input) and keep the
  top-1 wherever the reference decides it: a top-1 margin within :data:`TIE_FACTOR` times the
  input's own RMS error is a tie that rounding may break either way, reported but not failed
  (on noise a trained classifier's top logits nearly tie, so a correct fp16 program would
  otherwise be refused);
- int8 must reach a floor of top-1 agreement (on the inputs it decides, by the same tie rule) and of
  cosine on every input, on validation photographs the calibration did not see.

Why cosine and not SNR/PSNR (coremltools' own comparisons): the question for reduced precision is
"does it point the same way", asked of models whose output scales differ by orders of magnitude;
cosine is bounded and scale-free. The SNR is reported beside it (``min_snr_db``) for comparison
with coremltools' numbers; for small errors SNR ~ -10 log10(2 (1 - cosine)).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import torch

from affdeploy.data.inputs import Checkset, ParityInputs

PASSED = "passed"
FAILED = "failed"
NOT_VERIFIED = "not verified"
AGREES, TIE, DIFFERS = "agrees", "tie", "differs"
TIE_FACTOR = 4.0
"""A flip needs the two logits' errors to differ by the margin: with independent errors of RMS e their
difference has RMS e*sqrt(2), so a margin above 4e (2.8 of those) is beyond what rounding explains."""
TOP_K = 5

Predict = Callable[[Any], np.ndarray]
"""Runs an artifact on one input set and returns a flat score vector."""


@dataclass(frozen=True)
class Tolerance:
    """``max_abs_err``: the same outputs; ``min_cosine``: the same direction and decided top-1 on every
    input; with ``min_top1_agreement`` (int8): that share of top-1 agreement instead."""

    max_abs_err: float | None = None
    min_cosine: float | None = None
    min_top1_agreement: float | None = None

    def describe(self) -> str:
        """The rule in words, as every parity record states it."""
        if self.max_abs_err is not None:
            return f"max |error| <= {self.max_abs_err:.0e} on every input"
        floor = self.min_cosine if self.min_cosine is not None else 1.0
        if self.min_top1_agreement is not None:
            return (f"top-1 agreement >= {self.min_top1_agreement:.0%} of the inputs whose reference top-1 margin "
                    f"exceeds {TIE_FACTOR:g}x their RMS error (closer margins are ties, reported), and cosine >= "
                    f"{floor} on every input")
        return (f"cosine >= {floor} on every input, and the same top-1 wherever the reference's top-1 margin exceeds "
                f"{TIE_FACTOR:g}x that input's RMS error (a closer margin is a tie: reported, not failed)")


@dataclass(frozen=True)
class InputParity:
    """One input's comparison, as the manifest keeps it (``details``)."""

    input: str
    cosine: float
    max_abs_err: float
    rms_err: float
    snr_db: float
    margin: float  # the reference's top-1 minus top-2
    top1: str  # agrees | tie | differs
    top5_overlap: int  # classes the two top-5 lists share

    @classmethod
    def of(cls, name: str, ref: np.ndarray, out: np.ndarray) -> InputParity:
        err = out - ref
        denom = float(np.linalg.norm(ref) * np.linalg.norm(out))
        rms = float(np.sqrt(np.mean(err**2))) if err.size else 0.0
        signal = float(np.sum(ref**2))
        noise = float(np.sum(err**2))
        order = np.argsort(-ref, kind="stable")
        margin = float(ref[order[0]] - ref[order[1]]) if ref.size > 1 else float("inf")
        same = int(np.argmax(ref)) == int(np.argmax(out))
        top1 = AGREES if same else TIE if margin <= TIE_FACTOR * rms else DIFFERS
        k = min(TOP_K, ref.size)
        overlap = len(set(order[:k].tolist()) & set(np.argsort(-out, kind="stable")[:k].tolist()))
        return cls(name, float(ref @ out) / denom if denom else float(np.array_equal(ref, out)),
                   float(np.max(np.abs(err))) if err.size else 0.0, rms,
                   10 * float(np.log10(signal / noise)) if noise and signal else float("inf"), margin, top1, overlap)


@dataclass(frozen=True)
class ParityResult:
    """The outcome of one parity check, as stored in the manifest's ``parity`` field."""

    status: str  # passed | failed | not verified
    reason: str = ""
    max_abs_err: float | None = None
    cosine: float | None = None  # the smallest over the inputs
    top1_agree: bool | None = None  # every input kept its top-1 (ties excepted)
    inputs: int = 0
    top1_agreement: float | None = None  # share of all inputs with the reference's top-1 (ties not counted as agreeing)
    decided_agreement: float | None = None  # share of the inputs the reference decides (not ties) that agree
    mean_cosine: float | None = None
    engine: str | None = None  # what computed the outputs (Core ML: "coreml-runtime" or "mil-reference")
    tolerance: str | None = None  # the rule applied, in words (Tolerance.describe)
    also: tuple[ParityResult, ...] = ()  # the same artifact checked by other engines (Core ML on macOS)
    ties: int = 0  # inputs whose top-1 flipped within the tie rule
    top5_overlap: float | None = None  # mean share of the reference's top-5 the artifact also ranks top-5
    min_snr_db: float | None = None
    inputs_from: str | None = None  # what the inputs were ("8 bundled photographs + 2 seeded noise images")
    worst: str | None = None  # the input with the lowest cosine, and why it matters
    details: tuple[InputParity, ...] = ()

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
        plain = {f.name for f in fields(cls)} - {"also", "details"}
        also = tuple(cls.from_dict(d) for d in data.get("also", ()))
        details = tuple(InputParity(**d) for d in data.get("details", ()))
        return cls(**{k: data[k] for k in plain if k in data}, also=also, details=details)


def reference_outputs(model: torch.nn.Module, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """PyTorch logits for each input."""
    with torch.no_grad():
        return [model(torch.from_numpy(x)).numpy().reshape(-1) for x in inputs]


def image_checkset(model: torch.nn.Module, parity_inputs: ParityInputs) -> Checkset:
    """An image classifier's checkset: its logits on each image."""
    return Checkset.of(parity_inputs, reference_outputs(model, parity_inputs.inputs))


def compare(references: Sequence[np.ndarray], outputs: Sequence[np.ndarray], tolerance: Tolerance,
            names: Sequence[str] | None = None) -> ParityResult:
    """Parity of ``outputs`` against ``references`` under ``tolerance``; ``names`` label the inputs in the record."""
    labels = list(names) if names is not None else [f"input {i}" for i in range(len(references))]
    details = []
    for name, ref, out in zip(labels, references, outputs, strict=True):
        ref = np.asarray(ref, dtype=np.float64).reshape(-1)
        out = np.asarray(out, dtype=np.float64).reshape(-1)
        if ref.shape != out.shape or not np.all(np.isfinite(out)):
            return ParityResult.unmeasured(FAILED, f"output shape {out.shape} or values unusable on {name} "
                                                   f"(expected {ref.shape}, finite)")
        details.append(InputParity.of(name, ref, out))
    if not details:
        return ParityResult.unmeasured(FAILED, "no inputs to compare")
    max_err = max(d.max_abs_err for d in details)
    worst = min(details, key=lambda d: d.cosine)
    agreement = sum(d.top1 == AGREES for d in details) / len(details)
    ties = sum(d.top1 == TIE for d in details)
    differs = [d for d in details if d.top1 == DIFFERS]
    decided = len(details) - ties
    decided_agreement = (decided - len(differs)) / decided if decided else 1.0
    floor = tolerance.min_cosine if tolerance.min_cosine is not None else 1.0
    if tolerance.max_abs_err is not None:
        worst = max(details, key=lambda d: d.max_abs_err)
        ok = max_err <= tolerance.max_abs_err
        rule = f"max |error| {max_err:.2e} {'<=' if ok else '>'} {tolerance.max_abs_err:.0e} (worst: {worst.input})"
    elif tolerance.min_top1_agreement is not None:
        ok = decided_agreement >= tolerance.min_top1_agreement and worst.cosine >= floor
        rule = (f"top-1 agreement {decided_agreement:.0%} on the {decided} inputs the reference decides (need >= "
                f"{tolerance.min_top1_agreement:.0%}; {agreement:.0%} of all, {ties} near-ties), min cosine "
                f"{worst.cosine:.4f} on {worst.input} (need >= {floor})")
    else:
        ok = not differs and worst.cosine >= floor
        top1 = (f"top-1 differs on {', '.join(d.input for d in differs)} beyond the tie margin" if differs
                else "top-1 agrees" + (f" ({ties} near-ties)" if ties else ""))
        rule = f"{top1}, min cosine {worst.cosine:.5f} on {worst.input} (need >= {floor})"
    overlap = float(np.mean([d.top5_overlap for d in details])) / min(TOP_K, references[0].size)
    scale = max(float(np.max(np.abs(r))) for r in references)
    return ParityResult(
        status=PASSED if ok else FAILED,
        reason=f"{rule} on {len(details)} inputs (max |reference| {scale:.3f}, top-5 overlap {overlap:.0%})"
               + _constant_note(references),
        max_abs_err=max_err,
        cosine=min(d.cosine for d in details),
        top1_agree=not differs,
        inputs=len(details),
        tolerance=tolerance.describe(),
        top1_agreement=agreement,
        decided_agreement=decided_agreement,
        mean_cosine=float(np.mean([d.cosine for d in details])),
        ties=ties,
        top5_overlap=overlap,
        min_snr_db=min(d.snr_db for d in details),
        worst=f"{worst.input}: cosine {worst.cosine:.5f}, max |error| {worst.max_abs_err:.2e}",
        details=tuple(details),
    )


def _constant_note(references: Sequence[np.ndarray]) -> str:
    """A model whose output is the same for every input passes any parity check: the reason says so."""
    if len(references) > 1 and all(np.array_equal(references[0], r) for r in references[1:]):
        return ("; the output is the same for every input: the model's output does not depend on its input, so "
                "this checked only that constant")
    return ""


def run_parity(predict: Predict, check: Checkset, tolerance: Tolerance,
               reference_transform: Callable[[np.ndarray], np.ndarray] | None = None,
               engine: str | None = None) -> ParityResult:
    """Run ``predict`` on every input and compare with the (optionally transformed) references."""
    transform = reference_transform or (lambda v: v)
    result = compare([transform(r) for r in check.references], [predict(x) for x in check.inputs], tolerance,
                     check.names)
    return replace(result, engine=engine, inputs_from=check.description)


def centred(logits: np.ndarray) -> np.ndarray:
    """Logits minus their mean: a classifier artifact outputs probabilities, compared in log space, where
    only differences of logits survive the softmax; centring drops its normalising constant."""
    v = np.asarray(logits, dtype=np.float64)
    return v - v.mean()


def centred_log(probabilities: np.ndarray, floor: float = 1e-30) -> np.ndarray:
    """What :func:`centred` gives for the logits behind ``probabilities`` (up to their rounding)."""
    logs = np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), floor))
    return logs - logs.mean()
