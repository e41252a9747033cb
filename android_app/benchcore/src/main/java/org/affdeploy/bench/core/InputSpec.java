package org.affdeploy.bench.core;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * How pixels become the model's input tensor, as read from the "input" object of the app's
 * models/manifest.json (written by `affdeploy android-assets` from affdeploy.preprocessing), so the
 * app never hard-codes AFFNet's preprocessing (RGB, x 1/255, no mean/std).
 */
public final class InputSpec {
  public final int height;
  public final int width;
  public final String colorOrder;
  public final double scale;
  public final double[] mean;
  public final double[] std;

  public InputSpec(int height, int width, String colorOrder, double scale, double[] mean, double[] std) {
    if (height <= 0 || width <= 0) {
      throw new IllegalArgumentException("input height and width must be positive, got " + height + "x" + width);
    }
    if (!colorOrder.equals("RGB") && !colorOrder.equals("BGR")) {
      throw new IllegalArgumentException("color_order must be RGB or BGR, got '" + colorOrder + "'");
    }
    if (mean.length != 3 || std.length != 3) {
      throw new IllegalArgumentException("mean and std need 3 values (one per channel)");
    }
    for (double s : std) {
      if (s == 0) {
        throw new IllegalArgumentException("std values must not be 0");
      }
    }
    this.height = height;
    this.width = width;
    this.colorOrder = colorOrder;
    this.scale = scale;
    this.mean = mean.clone();
    this.std = std.clone();
  }

  /** Reads the manifest's "input" object; throws IllegalArgumentException naming a missing key. */
  public static InputSpec fromMap(Map<String, Object> input) {
    return new InputSpec(
        (int) number(input, "height"),
        (int) number(input, "width"),
        string(input, "color_order").toUpperCase(Locale.ROOT),
        number(input, "scale"),
        triple(input, "mean"),
        triple(input, "std"));
  }

  /** NCHW shape of a batch of one. */
  public long[] shape() {
    return new long[] {1, 3, height, width};
  }

  /**
   * Converts packed ARGB pixels (Android's Bitmap.getPixels layout, already resized to
   * width x height) into a float32 NCHW tensor: value = (channel * scale - mean) / std.
   */
  public float[] toTensor(int[] argb) {
    int plane = height * width;
    if (argb.length != plane) {
      throw new IllegalArgumentException("expected " + plane + " pixels (" + width + "x" + height + "), got " + argb.length);
    }
    boolean bgr = colorOrder.equals("BGR");
    float[] out = new float[3 * plane];
    for (int i = 0; i < plane; i++) {
      int p = argb[i];
      int[] rgb = {(p >> 16) & 0xff, (p >> 8) & 0xff, p & 0xff};
      for (int c = 0; c < 3; c++) {
        int source = bgr ? 2 - c : c;
        out[c * plane + i] = (float) ((rgb[source] * scale - mean[c]) / std[c]);
      }
    }
    return out;
  }

  static double number(Map<String, Object> map, String key) {
    Object value = map.get(key);
    if (!(value instanceof Number)) {
      throw new IllegalArgumentException("manifest: '" + key + "' must be a number, got " + value);
    }
    return ((Number) value).doubleValue();
  }

  static String string(Map<String, Object> map, String key) {
    Object value = map.get(key);
    if (!(value instanceof String)) {
      throw new IllegalArgumentException("manifest: '" + key + "' must be a string, got " + value);
    }
    return (String) value;
  }

  private static double[] triple(Map<String, Object> map, String key) {
    Object value = map.get(key);
    if (!(value instanceof List) || ((List<?>) value).size() != 3) {
      throw new IllegalArgumentException("manifest: '" + key + "' must be a list of 3 numbers, got " + value);
    }
    double[] out = new double[3];
    for (int i = 0; i < 3; i++) {
      Object v = ((List<?>) value).get(i);
      if (!(v instanceof Number)) {
        throw new IllegalArgumentException("manifest: '" + key + "' must be a list of 3 numbers, got " + value);
      }
      out[i] = ((Number) v).doubleValue();
    }
    return out;
  }
}
