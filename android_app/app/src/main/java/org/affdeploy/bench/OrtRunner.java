package org.affdeploy.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.affdeploy.bench.core.NamedTensor;
import org.affdeploy.bench.core.Runner;

/**
 * Runs an .onnx file with ONNX Runtime Android, on its CPU provider or with NNAPI first (which has
 * no DFT kernel, so a native-FFT graph falls back to the CPU around every FFT).
 */
final class OrtRunner implements Runner {
  private final boolean nnapi;
  private OrtSession.SessionOptions options;
  private OrtSession session;
  private final Map<String, OnnxTensor> inputs = new LinkedHashMap<>();

  OrtRunner(boolean nnapi) {
    this.nnapi = nnapi;
  }

  @Override
  public void load(String modelPath, int threads, List<NamedTensor> tensors) throws OrtException {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    options = new OrtSession.SessionOptions();
    options.setIntraOpNumThreads(threads);
    options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
    if (nnapi) {
      options.addNnapi();
    }
    session = env.createSession(modelPath, options);
    // bound by position: the exporter keeps the PyTorch input order (getInputNames is ordered)
    List<String> names = new ArrayList<>(session.getInputNames());
    if (names.size() != tensors.size()) {
      throw new IllegalArgumentException(modelPath + " takes " + names.size() + " inputs, the metadata lists " + tensors.size());
    }
    for (int i = 0; i < names.size(); i++) {
      NamedTensor t = tensors.get(i);
      inputs.put(names.get(i), OnnxTensor.createTensor(env, FloatBuffer.wrap(t.data), t.shape));
    }
  }

  @Override
  public float[][] run() throws OrtException {
    try (OrtSession.Result result = session.run(inputs)) {
      float[][] out = new float[result.size()][];
      for (int i = 0; i < out.length; i++) {
        FloatBuffer values = ((OnnxTensor) result.get(i)).getFloatBuffer();
        out[i] = new float[values.remaining()];
        values.get(out[i]);
      }
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
    for (OnnxTensor input : inputs.values()) {
      closeQuietly(input);
    }
    closeQuietly(session);
    closeQuietly(options);
    inputs.clear();
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
