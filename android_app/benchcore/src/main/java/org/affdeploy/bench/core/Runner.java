package org.affdeploy.bench.core;

import java.util.Map;

/**
 * One inference runtime behind the benchmark loop and the classifier screen. The Android app
 * implements it with ExecuTorch and ONNX Runtime; tests use a counting fake, so the loop is
 * verified here without a phone.
 */
public interface Runner extends AutoCloseable {
  /** Loads the model and binds {@code input} (float32, NCHW {@code shape}) as its only input. */
  void load(String modelPath, int threads, float[] input, long[] shape) throws Exception;

  /** Runs one inference on the bound input and returns the first output's values. */
  float[] run() throws Exception;

  /** Runtime library name -> version, recorded in the result's "tools". */
  Map<String, String> versions();

  /** Frees native memory; never throws. */
  @Override
  void close();
}
