package org.affdeploy.bench.core;

import java.util.SplittableRandom;

/** The benchmark's input: fixed pseudo-random pixels in [0, 1), identical on every run and device. */
public final class InputData {
  private InputData() {}

  public static float[] deterministic(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    if (n <= 0 || n > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("input shape has " + n + " elements");
    }
    SplittableRandom random = new SplittableRandom(0);
    float[] data = new float[(int) n];
    for (int i = 0; i < data.length; i++) {
      data[i] = (float) random.nextDouble();
    }
    return data;
  }
}
