package org.affdeploy.bench.core;

import java.util.SplittableRandom;

/** The benchmark's inputs: identical on every run and device. */
public final class InputData {
  private static final long GAMMA = 0x9E3779B97F4A7C15L;
  private static final long MIX1 = 0xBF58476D1CE4E5B9L;
  private static final long MIX2 = 0x94D049BB133111EBL;
  private static final float HALF_RANGE = 1 << 23;

  private InputData() {}

  /** AFFNet's benchmark picture: fixed pseudo-random pixels in [0, 1). */
  public static float[] deterministic(long[] shape) {
    SplittableRandom random = new SplittableRandom(0);
    float[] data = new float[NamedTensor.elements(shape)];
    for (int i = 0; i < data.length; i++) {
      data[i] = (float) random.nextDouble();
    }
    return data;
  }

  /**
   * A tensor model's input: values in [-1, 1), the i-th from SplitMix64(seed)'s i-th output (top 24
   * bits), exactly as affdeploy.bench.appmodel.bench_input and BenchCore's benchInput compute them.
   */
  public static float[] seeded(long[] shape, long seed) {
    float[] data = new float[NamedTensor.elements(shape)];
    for (int i = 0; i < data.length; i++) {
      long z = seed + (i + 1L) * GAMMA;
      z = (z ^ (z >>> 30)) * MIX1;
      z = (z ^ (z >>> 27)) * MIX2;
      z ^= z >>> 31;
      data[i] = ((int) (z >>> 40) - (1 << 23)) / HALF_RANGE;
    }
    return data;
  }

  /** Sum in double: exact for these values (multiples of 2^-23), so it matches the metadata's "sum" bit for bit. */
  public static double sum(float[] data) {
    double total = 0;
    for (float v : data) {
      total += v;
    }
    return total;
  }
}
