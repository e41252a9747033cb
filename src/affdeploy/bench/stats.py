"""Summary statistics of per-iteration latencies, defined once for every runner.

The Android (Java) and iOS (Swift) apps re-implement exactly this definition, documented in
docs/results-schema.md; keep the two in step when changing anything here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from affdeploy.bench.request import NOISY_CV
from affdeploy.bench.schema import Stats
from affdeploy.errors import AffdeployError

TRIM_FRACTION = 0.1  # trimmed mean drops floor(0.1 * n) samples from each end
_BOOTSTRAP_CHUNK = 256  # resamples per vectorised batch, so memory stays bounded for long runs


def percentile(values: np.ndarray, q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default 'linear' method)."""
    return float(np.percentile(values, q))


def trimmed_mean(sorted_values: np.ndarray) -> float:
    """Mean after dropping floor(0.1 * n) samples from each end of the sorted samples."""
    n = sorted_values.size
    k = math.floor(TRIM_FRACTION * n)
    return float(sorted_values[k : n - k].mean())


def bootstrap_median_ci(values: np.ndarray, *, resamples: int, seed: int) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the median (2.5th/97.5th percentile of resampled medians)."""
    if resamples == 0:
        median = percentile(values, 50)
        return median, median
    rng = np.random.default_rng(seed)
    n = values.size
    medians = np.empty(resamples)
    for start in range(0, resamples, _BOOTSTRAP_CHUNK):
        rows = min(_BOOTSTRAP_CHUNK, resamples - start)
        picks = values[rng.integers(0, n, size=(rows, n))]
        medians[start : start + rows] = np.median(picks, axis=1)
    return percentile(medians, 2.5), percentile(medians, 97.5)


def compute_stats(
    samples_ms: Sequence[float], *, cv_threshold: float = NOISY_CV, bootstrap: int = 1000, seed: int = 0
) -> Stats:
    """Summarise latencies (ms): count, min, max, mean, sample std, p50/p90/p99, trimmed mean, CV, median CI.

    ``noisy`` is set when the coefficient of variation exceeds ``cv_threshold``, so a table
    reader sees at once that the machine was busy or throttling during the run.
    """
    values = np.asarray(samples_ms, dtype=np.float64).ravel()
    if values.size == 0:
        raise AffdeployError("no latency samples to summarise (the run recorded zero iterations)")
    if not np.all(np.isfinite(values)):
        raise AffdeployError("latency samples contain NaN or infinite values")
    if bootstrap < 0:
        raise AffdeployError(f"bootstrap resamples must be >= 0, got {bootstrap}")
    n = values.size
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if n >= 2 else 0.0
    cv = std / mean if mean != 0 else 0.0
    return Stats(
        count=n,
        min=float(values.min()),
        max=float(values.max()),
        mean=mean,
        std=std,
        p50=percentile(values, 50),
        p90=percentile(values, 90),
        p99=percentile(values, 99),
        trimmed_mean=trimmed_mean(np.sort(values)),
        cv=cv,
        median_ci95=bootstrap_median_ci(values, resamples=bootstrap, seed=seed),
        noisy=cv > cv_threshold,
    )
