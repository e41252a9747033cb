package org.affdeploy.bench.core;

/** One float32 model input: its name (as the exporter recorded it), its values and its static shape. */
public final class NamedTensor {
  public final String name;
  public final float[] data;
  public final long[] shape;

  public NamedTensor(String name, float[] data, long[] shape) {
    if (data.length != elements(shape)) {
      throw new IllegalArgumentException(
          "input '" + name + "' has " + data.length + " values for shape " + java.util.Arrays.toString(shape));
    }
    this.name = name;
    this.data = data;
    this.shape = shape.clone();
  }

  /** Number of elements of a static shape; every dimension must be positive and the total fit an array. */
  public static int elements(long[] shape) {
    long n = 1;
    for (long d : shape) {
      if (d <= 0) {
        throw new IllegalArgumentException("shape " + java.util.Arrays.toString(shape) + " has a dimension <= 0");
      }
      n *= d;
      if (n > Integer.MAX_VALUE) {
        throw new IllegalArgumentException("shape " + java.util.Arrays.toString(shape) + " is too large for one array");
      }
    }
    return (int) n;
  }
}
