package org.affdeploy.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.Collections;
import java.util.Map;
import org.affdeploy.bench.core.Runner;

/**
 * Runs an .onnx file with ONNX Runtime Android, on its CPU provider or with NNAPI first (which has
 * no DFT kernel, so a native-FFT graph falls back to the CPU around every FFT).
 */
final class OrtRunner implements Runner {
  private final boolean nnapi;
  private OrtSession.SessionOptions options;
  private OrtSession session;
  private OnnxTensor input;
  private String inputName;

  OrtRunner(boolean nnapi) {
    this.nnapi = nnapi;
  }

  @Override
  public void load(String modelPath, int threads, float[] data, long[] shape) throws OrtException {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    options = new OrtSession.SessionOptions();
    options.setIntraOpNumThreads(threads);
    options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
    if (nnapi) {
      options.addNnapi();
    }
    session = env.createSession(modelPath, options);
    inputName = session.getInputNames().iterator().next();
    input = OnnxTensor.createTensor(env, FloatBuffer.wrap(data), shape);
  }

  @Override
  public float[] run() throws OrtException {
    try (OrtSession.Result result = session.run(Collections.singletonMap(inputName, input))) {
      FloatBuffer values = ((OnnxTensor) result.get(0)).getFloatBuffer();
      float[] out = new float[values.remaining()];
      values.get(out);
      return out;
    }
  }

  @Override
  public Map<String, String> versions() {
    return Collections.singletonMap("onnxruntime-android", BuildConfig.ONNXRUNTIME_VERSION);
  }

  @Override
  public void close() {
    // the options must outlive the session that was created with them
    closeQuietly(input);
    closeQuietly(session);
    closeQuietly(options);
    input = null;
    session = null;
    options = null;
  }

  /** Best effort: the benchmark is finishing anyway, and a failed free must not hide its result. */
  private static void closeQuietly(AutoCloseable resource) {
    if (resource == null) {
      return;
    }
    try {
      resource.close();
    } catch (Exception ignored) {
      // nothing useful to do about it
    }
  }
}
