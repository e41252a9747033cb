"""The parity rule every target's artifacts are judged by: exact for fp32, ties honest for fp16, a floor for int8."""

from __future__ import annotations

import numpy as np
import pytest

from affdeploy.export.parity import DIFFERS, TIE, TIE_FACTOR, Tolerance, centred, centred_log, compare

FP32, FP16, INT8 = Tolerance(max_abs_err=1e-4), Tolerance(min_cosine=0.999), Tolerance(min_cosine=0.95,
                                                                                        min_top1_agreement=0.75)


def _logits(seed: int, top_margin: float) -> np.ndarray:
    """1000 logits whose top class leads the next by ``top_margin``."""
    values = np.random.default_rng(seed).normal(0.0, 2.0, 1000)
    order = np.argsort(-values)
    values[order[0]] = values[order[1]] + top_margin
    return values


def test_fp16_near_tie_flipped_by_rounding_is_a_tie_not_a_failure() -> None:
    ref = _logits(0, top_margin=0.01)
    out = ref + np.random.default_rng(1).normal(0.0, 0.02, ref.size)  # fp16-like rounding noise
    first, second = np.argsort(-ref)[:2]
    out[first], out[second] = ref[second], ref[first]  # the near-tie flips
    result = compare([ref], [out], FP16, ["noise image"])
    assert result.status == "passed" and result.ties == 1 and result.top1_agreement == 0.0
    assert result.details[0].top1 == TIE and "near-ties" in result.reason
    assert "tie" in (result.tolerance or "") and str(TIE_FACTOR).rstrip("0").rstrip(".") in (result.tolerance or "")


def test_fp16_flip_beyond_the_measured_error_fails_and_names_the_input() -> None:
    ref = _logits(2, top_margin=1.5)
    out = ref + np.random.default_rng(3).normal(0.0, 0.02, ref.size)
    first, second = np.argsort(-ref)[:2]
    out[first], out[second] = ref[second], ref[first]  # a decided top-1 swapped: a wrong program, not rounding
    result = compare([ref, ref], [ref, out], FP16, ["cat.png", "dog.png"])
    assert result.failed and result.details[1].top1 == DIFFERS
    assert "top-1 differs on dog.png" in result.reason
    assert result.cosine is not None and result.cosine > 0.999  # the cosine alone would have passed it


def test_fp16_cosine_floor_holds_on_every_input() -> None:
    ref = _logits(4, top_margin=5.0)
    wrong = ref + np.random.default_rng(5).normal(0.0, 0.2 * ref.std(), ref.size)  # the top-1 survives
    result = compare([ref, ref], [ref, wrong], FP16, ["a", "b"])
    assert result.failed and result.worst is not None and result.worst.startswith("b:")
    assert result.details[1].top1 == "agrees" and result.details[1].cosine < 0.999


def test_fp32_is_max_abs_error_whatever_the_top1() -> None:
    ref = _logits(6, top_margin=1.0)
    assert compare([ref], [ref + 5e-5], FP32).status == "passed"
    failed = compare([ref], [ref + 2e-4], FP32, ["photo.jpg"])
    assert failed.failed and "worst: photo.jpg" in failed.reason and "max |error|" in (failed.tolerance or "")


def test_int8_floor_counts_agreement_and_reports_top5_overlap_and_snr() -> None:
    refs = [_logits(seed, top_margin=2.0) for seed in range(4)]
    outs = [r + np.random.default_rng(10 + i).normal(0.0, 0.05, r.size) for i, r in enumerate(refs)]
    outs[0] = refs[0][::-1].copy()  # one input entirely wrong
    result = compare(refs, outs, INT8)
    assert result.top1_agreement == 0.75 and result.ties == 1 and result.failed  # its cosine fails it, not agreement
    assert 0.0 < (result.top5_overlap or 0.0) < 1.0 and result.min_snr_db is not None
    assert min(d.top5_overlap for d in result.details[1:]) >= 4 > result.details[0].top5_overlap
    assert compare(refs[1:], outs[1:], INT8).status == "passed"


def test_int8_agreement_floor_counts_only_inputs_the_reference_decides() -> None:
    decided = [_logits(seed, top_margin=4.0) for seed in range(3)]
    tie = _logits(9, top_margin=0.001)
    refs = [*decided, tie]
    outs = [r + np.random.default_rng(20 + i).normal(0.0, 0.05, r.size) for i, r in enumerate(refs)]
    first, second = np.argsort(-tie)[:2]
    outs[3][first], outs[3][second] = tie[second], tie[first]
    outs[2][np.argsort(-refs[2])[1]] += 8.0  # a decided input flips: 2 of 3 decided agree (67% < 75%)
    result = compare(refs, outs, Tolerance(min_cosine=0.9, min_top1_agreement=0.75))
    assert result.ties == 1 and result.top1_agreement == 0.5 and result.decided_agreement == pytest.approx(2 / 3)
    assert result.failed and "on the 3 inputs the reference decides" in result.reason
    assert compare(refs[:2] + refs[3:], outs[:2] + outs[3:], Tolerance(min_cosine=0.9, min_top1_agreement=0.75)).status \
        == "passed"  # the tie alone does not fail it


def test_a_record_round_trips_through_json() -> None:
    from affdeploy.export.parity import ParityResult

    result = compare([_logits(7, 1.0)], [_logits(7, 1.0)], FP16, ["x"])
    assert ParityResult.from_dict(result.to_dict()) == result


def test_classifier_probabilities_compare_as_centred_logits() -> None:
    logits = _logits(8, 1.0)
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    np.testing.assert_allclose(centred_log(probabilities), centred(logits), atol=1e-9)


@pytest.mark.parametrize("bad", [np.array([np.nan, 1.0, 2.0]), np.array([1.0, 2.0])])
def test_unusable_outputs_fail_with_the_input_named(bad: np.ndarray) -> None:
    result = compare([np.array([1.0, 2.0, 3.0])], [bad], FP16, ["img.png"])
    assert result.failed and "img.png" in result.reason
