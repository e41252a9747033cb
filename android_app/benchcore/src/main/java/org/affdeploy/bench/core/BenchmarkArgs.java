package org.affdeploy.bench.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * What one benchmark run should do, parsed from intent extras (`adb shell am start --es/--ei ...`).
 *
 * <p>Extras arrive as strings or ints depending on how the caller typed them, so parsing takes a
 * key/value map of strings. Every mistake (missing path, unknown backend, a typo in a key) fails
 * before anything is loaded, with a message that names the extra and what it accepts.
 */
public final class BenchmarkArgs {
  public static final String MODEL_PATH = "model_path";
  public static final String MODEL_NAME = "model_name";
  public static final String BACKEND = "backend";
  public static final String WARMUP = "warmup";
  public static final String ITERATIONS = "iterations";
  public static final String THREADS = "threads";
  public static final String FFT = "fft";
  public static final String IMAGE_SIZE = "image_size";
  public static final String PRECISION = "precision";
  public static final String MACS = "macs";
  /** A tensor model's FILE.model.json (affdeploy.app-model/v1); absent for AFFNet, which takes a picture. */
  public static final String MODEL_META = "model_meta";

  /** Every extra the benchmark understands; anything else is rejected as a probable typo. */
  public static final List<String> KEYS =
      Arrays.asList(MODEL_PATH, MODEL_NAME, BACKEND, WARMUP, ITERATIONS, THREADS, FFT, IMAGE_SIZE, PRECISION, MACS, MODEL_META);

  /** Backends the app can run: ExecuTorch (XNNPACK-delegated or portable .pte), ONNX Runtime, LiteRT (.tflite). */
  public static final List<String> BACKENDS = Arrays.asList("xnnpack", "portable", "ort", "ort-nnapi", "litert");

  /** How the model's FFTs were exported; "unknown" for a file benchmarked without its export manifest. */
  public static final List<String> FFT_MODES = Arrays.asList("dft", "native", "unknown");
  public static final List<String> PRECISIONS = Arrays.asList("fp32", "fp16");

  public static final int DEFAULT_WARMUP = 5;
  public static final int DEFAULT_ITERATIONS = 30;
  public static final int DEFAULT_THREADS = 1;
  public static final int DEFAULT_IMAGE_SIZE = 256;
  private static final int MAX_IMAGE_SIZE = 4096;

  public final String modelPath;
  public final String modelName;
  public final String backend;
  public final int warmup;
  public final int iterations;
  public final int threads;
  public final String fft;
  public final int imageSize;
  public final String precision;
  /** Multiply-accumulates of one inference, or -1 when the caller did not say. */
  public final long macs;
  /** Path of the tensor model's metadata file, or null for AFFNet. */
  public final String metaPath;

  private BenchmarkArgs(Map<String, String> extras) {
    modelPath = required(extras, MODEL_PATH);
    backend = choice(extras, BACKEND, BACKENDS, "xnnpack");
    String expected = isOnnxRuntime() ? ".onnx" : isLiteRt() ? ".tflite" : ".pte";
    if (!modelPath.toLowerCase(Locale.ROOT).endsWith(expected)) {
      throw new IllegalArgumentException(
          "backend '" + backend + "' runs " + expected + " files, but " + MODEL_PATH + " is '" + modelPath + "'");
    }
    modelName = text(extras, MODEL_NAME, defaultModelName(modelPath));
    warmup = integer(extras, WARMUP, DEFAULT_WARMUP, 0, Integer.MAX_VALUE);
    iterations = integer(extras, ITERATIONS, DEFAULT_ITERATIONS, 1, Integer.MAX_VALUE);
    threads = integer(extras, THREADS, DEFAULT_THREADS, 1, 64);
    fft = choice(extras, FFT, FFT_MODES, "dft");
    imageSize = integer(extras, IMAGE_SIZE, DEFAULT_IMAGE_SIZE, 32, MAX_IMAGE_SIZE);
    if (imageSize % 32 != 0) {
      throw new IllegalArgumentException(IMAGE_SIZE + " must be a multiple of 32 (AFFNet downsamples 5 times), got " + imageSize);
    }
    precision = choice(extras, PRECISION, PRECISIONS, "fp32");
    macs = extras.containsKey(MACS) ? integer(extras, MACS, 0, 1, Long.MAX_VALUE) : -1L;
    metaPath = text(extras, MODEL_META, null);
  }

  /** Parses and validates extras; throws IllegalArgumentException naming the first bad extra. */
  public static BenchmarkArgs parse(Map<String, String> extras) {
    List<String> unknown = new ArrayList<>(new TreeSet<>(extras.keySet()));
    unknown.removeAll(KEYS);
    if (!unknown.isEmpty()) {
      throw new IllegalArgumentException("unknown extra(s) " + unknown + "; known extras: " + KEYS);
    }
    return new BenchmarkArgs(extras);
  }

  /** The result schema's "target": which runtime format the backend executes. */
  public String target() {
    return isOnnxRuntime() ? "onnx" : isLiteRt() ? "tflite" : "executorch";
  }

  /** The result schema's "backend" name (host runs call ONNX Runtime's CPU provider "ort-cpu", LiteRT's "xnnpack"). */
  public String recordBackend() {
    return backend.equals("ort") ? "ort-cpu" : isLiteRt() ? "xnnpack" : backend;
  }

  public boolean isLiteRt() {
    return backend.equals("litert");
  }

  public boolean isOnnxRuntime() {
    return backend.startsWith("ort");
  }

  /** The file name without its extension, when the caller did not name the model. */
  static String defaultModelName(String path) {
    String name = path.substring(path.lastIndexOf('/') + 1);
    int dot = name.lastIndexOf('.');
    return dot > 0 ? name.substring(0, dot) : name;
  }

  private static String text(Map<String, String> extras, String key, String fallback) {
    String value = extras.get(key);
    if (value == null) {
      return fallback;
    }
    value = value.trim();
    if (value.isEmpty()) {
      throw new IllegalArgumentException(key + " must not be empty");
    }
    return value;
  }

  private static String required(Map<String, String> extras, String key) {
    if (extras.get(key) == null) {
      throw new IllegalArgumentException("missing extra " + key + " (pass it with: --es " + key + " <value>)");
    }
    return text(extras, key, null);
  }

  private static String choice(Map<String, String> extras, String key, List<String> allowed, String fallback) {
    String value = text(extras, key, fallback).toLowerCase(Locale.ROOT);
    if (!allowed.contains(value)) {
      throw new IllegalArgumentException(key + " must be one of " + allowed + ", got '" + extras.get(key) + "'");
    }
    return value;
  }

  private static int integer(Map<String, String> extras, String key, int fallback, int min, int max) {
    return (int) integer(extras, key, (long) fallback, (long) min, (long) max);
  }

  private static long integer(Map<String, String> extras, String key, long fallback, long min, long max) {
    String value = text(extras, key, null);
    if (value == null) {
      return fallback;
    }
    long parsed;
    try {
      parsed = Long.parseLong(value);
    } catch (NumberFormatException ex) {
      throw new IllegalArgumentException(key + " must be an integer, got '" + value + "'");
    }
    if (parsed < min || parsed > max) {
      String range = max == Integer.MAX_VALUE || max == Long.MAX_VALUE ? ">= " + min : "between " + min + " and " + max;
      throw new IllegalArgumentException(key + " must be " + range + ", got " + parsed);
    }
    return parsed;
  }
}
