package org.affdeploy.bench.core;

import java.util.List;
import java.util.Map;

/**
 * One inference runtime behind the benchmark loop and the classifier screen. The Android app
 * implements it with ExecuTorch, ONNX Runtime and LiteRT; tests use a counting fake, so the loop is
 * verified here without a phone.
 */
public interface Runner extends AutoCloseable {
  /** Loads the model and binds {@code inputs} (float32, in the model's input order). */
  void load(String modelPath, int threads, List<NamedTensor> inputs) throws Exception;

  /** Runs one inference on the bound inputs and returns every output's values, in output order. */
  float[][] run() throws Exception;

  /** Runtime library name -> version, recorded in the result's "tools". */
  Map<String, String> versions();

  /** Frees native memory; never throws. */
  @Override
  void close();
}
