package org.affdeploy.bench.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class StatsTest {
  private static final double EPS = 1e-12;

  @Test
  public void knownSamples() {
    // 1..10 shuffled; numpy: std(ddof=1)=3.0276503540974917, percentile 90 = 9.1, 99 = 9.91
    Stats s = Stats.compute(new double[] {7, 3, 10, 1, 5, 9, 2, 8, 4, 6});
    assertEquals(10, s.count);
    assertEquals(1.0, s.min, EPS);
    assertEquals(10.0, s.max, EPS);
    assertEquals(5.5, s.mean, EPS);
    assertEquals(3.0276503540974917, s.std, EPS);
    assertEquals(5.5, s.p50, EPS);
    assertEquals(9.1, s.p90, EPS);
    assertEquals(9.91, s.p99, EPS);
    assertEquals(5.5, s.trimmedMean, EPS); // drops 1 and 10
    assertEquals(3.0276503540974917 / 5.5, s.cv, EPS);
    assertTrue(s.noisy);
    assertTrue(s.medianCiLow <= s.p50 && s.p50 <= s.medianCiHigh);
    assertTrue(s.medianCiLow >= 1.0 && s.medianCiHigh <= 10.0);
  }

  @Test
  public void workedExampleOfResultsSchemaDoc() {
    Stats s = Stats.compute(new double[] {13, 10, 100, 11, 12, 14, 18, 15, 16, 17});
    assertEquals(10, s.count);
    assertEquals(22.6, s.mean, EPS);
    assertEquals(Math.sqrt(6716.4 / 9), s.std, 1e-9);
    assertEquals(14.5, s.p50, EPS);
    assertEquals(26.2, s.p90, 1e-9);
    assertEquals(92.62, s.p99, 1e-9);
    assertEquals(14.5, s.trimmedMean, EPS);
    assertEquals(1.2087558, s.cv, 1e-7);
    assertTrue(s.noisy);
  }

  @Test
  public void trimmingDropsTenPercentFromEachEnd() {
    double[] samples = new double[20];
    for (int i = 0; i < 20; i++) {
      samples[i] = (i + 1) * (i + 1); // skewed, so dropping 1 or 3 per end would give another mean
    }
    samples[19] = 1000; // one outlier
    Stats s = Stats.compute(samples);
    double expected = 0;
    for (int i = 2; i < 18; i++) {
      expected += samples[i];
    }
    assertEquals(expected / 16, s.trimmedMean, EPS); // floor(0.1 * 20) = 2 dropped from each end
    assertEquals(2104.0 / 16, s.trimmedMean, EPS);
  }

  @Test
  public void steadySamplesAreNotNoisy() {
    Stats s = Stats.compute(new double[] {10.0, 10.1, 9.9, 10.05, 9.95});
    assertFalse(s.noisy);
  }

  @Test
  public void oneSampleHasZeroSpread() {
    Stats s = Stats.compute(new double[] {12.5});
    assertEquals(0.0, s.std, 0);
    assertEquals(0.0, s.cv, 0);
    assertEquals(12.5, s.p99, 0);
    assertEquals(12.5, s.trimmedMean, 0);
    assertEquals(12.5, s.medianCiLow, 0);
    assertEquals(12.5, s.medianCiHigh, 0);
  }

  @Test
  public void bootstrapIsReproducible() {
    double[] samples = {5, 1, 4, 2, 8, 3, 9, 7};
    Stats a = Stats.compute(samples);
    Stats b = Stats.compute(samples);
    assertEquals(a.medianCiLow, b.medianCiLow, 0);
    assertEquals(a.medianCiHigh, b.medianCiHigh, 0);
    assertTrue(a.medianCiLow < a.medianCiHigh);
  }

  @Test
  public void badSamplesAreRejected() {
    assertThrows(IllegalArgumentException.class, () -> Stats.compute(new double[0]));
    assertThrows(IllegalArgumentException.class, () -> Stats.compute(new double[] {1, Double.NaN}));
    assertThrows(IllegalArgumentException.class, () -> Stats.compute(new double[] {-1}));
  }
}
