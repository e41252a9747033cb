package org.affdeploy.bench.core;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Summary statistics of per-iteration latencies, defined exactly as the host engine defines them
 * (docs/results-schema.md), so a phone's numbers and the host's numbers mean the same thing.
 *
 * <p>std is the sample standard deviation (ddof=1, 0 for one sample); percentiles interpolate
 * linearly between closest ranks (numpy's default); trimmed_mean drops floor(0.1*n) samples from
 * each end of the sorted list; median_ci95 is a percentile bootstrap of the median.
 */
public final class Stats {
  /** Runs whose coefficient of variation exceeds this are flagged as noisy. */
  public static final double NOISY_CV = 0.10;

  /** Bootstrap resamples for the median's confidence interval. */
  public static final int BOOTSTRAP_RESAMPLES = 1000;

  /** Fixed seed: the same samples always give the same interval. */
  public static final long BOOTSTRAP_SEED = 0L;

  public final int count;
  public final double min;
  public final double max;
  public final double mean;
  public final double std;
  public final double p50;
  public final double p90;
  public final double p99;
  public final double trimmedMean;
  public final double cv;
  public final double medianCiLow;
  public final double medianCiHigh;
  public final boolean noisy;

  private Stats(double[] sorted, double[] ci) {
    int n = sorted.length;
    count = n;
    min = sorted[0];
    max = sorted[n - 1];
    mean = mean(sorted, 0, n);
    double squares = 0;
    for (double x : sorted) {
      squares += (x - mean) * (x - mean);
    }
    std = n < 2 ? 0.0 : Math.sqrt(squares / (n - 1));
    p50 = percentile(sorted, 50);
    p90 = percentile(sorted, 90);
    p99 = percentile(sorted, 99);
    int cut = (int) Math.floor(0.1 * n);
    trimmedMean = mean(sorted, cut, n - cut);
    cv = mean > 0 ? std / mean : 0.0;
    medianCiLow = ci[0];
    medianCiHigh = ci[1];
    noisy = cv > NOISY_CV;
  }

  /** Statistics of {@code samplesMs}; throws IllegalArgumentException for no or non-finite samples. */
  public static Stats compute(double[] samplesMs) {
    if (samplesMs.length == 0) {
      throw new IllegalArgumentException("no samples: run at least one timed iteration");
    }
    for (double x : samplesMs) {
      if (Double.isNaN(x) || Double.isInfinite(x) || x < 0) {
        throw new IllegalArgumentException("latency samples must be finite and non-negative, got " + x);
      }
    }
    double[] sorted = samplesMs.clone();
    Arrays.sort(sorted);
    return new Stats(sorted, bootstrapMedianCi(sorted, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED));
  }

  private static double mean(double[] values, int from, int to) {
    double sum = 0;
    for (int i = from; i < to; i++) {
      sum += values[i];
    }
    return sum / (to - from);
  }

  /** The q-th percentile (0..100) of sorted values, linear between closest ranks like numpy. */
  public static double percentile(double[] sorted, double q) {
    double rank = (sorted.length - 1) * q / 100.0;
    int lo = (int) Math.floor(rank);
    int hi = Math.min(lo + 1, sorted.length - 1);
    double t = rank - lo;
    // numpy's lerp: interpolate from the nearer end, which keeps the result inside [a, b]
    return t >= 0.5 ? sorted[hi] - (sorted[hi] - sorted[lo]) * (1 - t) : sorted[lo] + (sorted[hi] - sorted[lo]) * t;
  }

  /** 2.5th and 97.5th percentiles of the medians of {@code resamples} resamples with replacement. */
  static double[] bootstrapMedianCi(double[] sorted, int resamples, long seed) {
    int n = sorted.length;
    SplittableRandom random = new SplittableRandom(seed);
    double[] medians = new double[resamples];
    double[] draw = new double[n];
    for (int r = 0; r < resamples; r++) {
      for (int i = 0; i < n; i++) {
        draw[i] = sorted[random.nextInt(n)];
      }
      Arrays.sort(draw);
      medians[r] = percentile(draw, 50);
    }
    Arrays.sort(medians);
    return new double[] {percentile(medians, 2.5), percentile(medians, 97.5)};
  }

  /** The schema's "stats" object, keys in schema order. */
  public Map<String, Object> toMap() {
    Map<String, Object> map = new LinkedHashMap<>();
    map.put("count", count);
    map.put("min", min);
    map.put("max", max);
    map.put("mean", mean);
    map.put("std", std);
    map.put("p50", p50);
    map.put("p90", p90);
    map.put("p99", p99);
    map.put("trimmed_mean", trimmedMean);
    map.put("cv", cv);
    map.put("median_ci95", new double[] {medianCiLow, medianCiHigh});
    map.put("noisy", noisy);
    return map;
  }
}
