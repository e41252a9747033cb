"""Benchmark statistics: the exact definition the Android and iOS apps re-implement."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affdeploy.bench.stats import compute_stats
from affdeploy.errors import AffdeployError

# Ten samples with one outlier, worked by hand:
# mean = 226 / 10 = 22.6; squared deviations sum to 6716.4, so std (ddof=1) = sqrt(6716.4 / 9).
# Sorted ranks 0..9: p50 at rank 4.5 -> (14 + 15) / 2; p90 at rank 8.1 -> 18 + 0.1 * (100 - 18);
# p99 at rank 8.91 -> 18 + 0.91 * 82. Trimmed mean drops floor(0.1 * 10) = 1 per end: mean(11..18).
SAMPLES = [13.0, 10.0, 100.0, 11.0, 12.0, 14.0, 18.0, 15.0, 16.0, 17.0]


def test_hand_computed_values() -> None:
    s = compute_stats(SAMPLES)
    assert s.count == 10
    assert (s.min, s.max) == (10.0, 100.0)
    assert s.mean == pytest.approx(22.6)
    assert s.std == pytest.approx(math.sqrt(6716.4 / 9))
    assert s.p50 == pytest.approx(14.5)
    assert s.p90 == pytest.approx(26.2)
    assert s.p99 == pytest.approx(92.62)
    assert s.trimmed_mean == pytest.approx(116 / 8)
    assert s.cv == pytest.approx(math.sqrt(6716.4 / 9) / 22.6)
    assert s.noisy  # cv ~1.21 > 0.10


def test_trimming_drops_floor_of_ten_percent_per_end() -> None:
    # n = 19: floor(1.9) = 1 per end, so only 1 and 1000 go; n = 9 trims nothing.
    nineteen = [1.0] + [5.0] * 17 + [1000.0]
    assert compute_stats(nineteen).trimmed_mean == pytest.approx(5.0)
    nine = [1.0] + [5.0] * 7 + [1000.0]
    assert compute_stats(nine).trimmed_mean == pytest.approx(sum(nine) / 9)


def test_single_sample_and_constant_samples() -> None:
    one = compute_stats([4.0])
    assert (one.std, one.cv, one.p50, one.p99, one.median_ci95, one.noisy) == (0.0, 0.0, 4.0, 4.0, (4.0, 4.0), False)
    flat = compute_stats([2.5] * 20)
    assert flat.median_ci95 == (2.5, 2.5) and flat.std == 0.0


def test_zero_mean_gives_zero_cv() -> None:
    assert compute_stats([0.0, 0.0, 0.0]).cv == 0.0


def test_noisy_threshold_is_a_strict_bound() -> None:
    samples = [9.0, 11.0]  # std = sqrt(2), mean 10 -> cv = 0.1414
    assert compute_stats(samples, cv_threshold=0.15).noisy is False
    assert compute_stats(samples, cv_threshold=0.14).noisy is True


def test_bootstrap_interval_is_deterministic_and_brackets_the_median() -> None:
    samples = [float(x) for x in range(1, 52)]
    a, b = compute_stats(samples, seed=3), compute_stats(samples, seed=3)
    assert a.median_ci95 == b.median_ci95
    low, high = a.median_ci95
    assert 1.0 <= low < a.p50 < high <= 51.0
    # the median of 51 uniform ranks has a standard error of roughly sqrt(pi/2) * 14.9 / sqrt(51) ~ 2.6
    assert 2.0 < high - low < 20.0
    assert compute_stats(samples, bootstrap=0).median_ci95 == (26.0, 26.0)


def test_zero_samples_and_bad_values_are_clear_errors() -> None:
    with pytest.raises(AffdeployError, match="zero iterations"):
        compute_stats([])
    with pytest.raises(AffdeployError, match="NaN"):
        compute_stats([1.0, float("nan")])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.01, max_value=1e4, allow_nan=False), min_size=2, max_size=60))
def test_percentiles_match_the_inclusive_quantile_definition(samples: list[float]) -> None:
    """numpy 'linear' == Python's statistics.quantiles(method='inclusive'), the definition Java/Swift port."""
    s = compute_stats(samples, bootstrap=0)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    assert s.p50 == pytest.approx(cuts[49], rel=1e-9, abs=1e-9)
    assert s.p90 == pytest.approx(cuts[89], rel=1e-9, abs=1e-9)
    assert s.p99 == pytest.approx(cuts[98], rel=1e-9, abs=1e-9)
    assert s.std == pytest.approx(statistics.stdev(samples), rel=1e-9, abs=1e-9)
    slack = 1e-12 * s.max  # summation rounding
    assert s.min - slack <= s.trimmed_mean <= s.max + slack
