package org.affdeploy.bench;

import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Collections;
import java.util.Map;
import org.affdeploy.bench.core.Runner;
import org.tensorflow.lite.InterpreterApi;

/**
 * Runs a .tflite file with LiteRT (com.google.ai.edge.litert:litert, the org.tensorflow.lite
 * InterpreterApi), with its XNNPACK delegate on {@code threads} threads: what benchmark_model runs
 * with --use_xnnpack=true, and what apps that ship LiteRT get by default.
 */
final class LiteRtRunner implements Runner {
  private InterpreterApi interpreter;
  private FloatBuffer input;
  private FloatBuffer output;

  @Override
  public void load(String modelPath, int threads, float[] data, long[] shape) {
    InterpreterApi.Options options =
        new InterpreterApi.Options().setNumThreads(threads).setUseXNNPACK(true);
    interpreter = InterpreterApi.create(new File(modelPath), options);
    input = direct(data.length);
    input.put(data).rewind();
    output = direct(interpreter.getOutputTensor(0).numElements());
  }

  @Override
  public float[] run() {
    input.rewind();
    output.rewind();
    interpreter.run(input, output);
    float[] out = new float[output.capacity()];
    output.rewind();
    output.get(out);
    return out;
  }

  @Override
  public Map<String, String> versions() {
    return Collections.singletonMap("litert", BuildConfig.LITERT_VERSION);
  }

  @Override
  public void close() {
    if (interpreter != null) {
      interpreter.close();
      interpreter = null;
    }
  }

  /** LiteRT reads Buffer inputs without copying only when they are direct and in native byte order. */
  private static FloatBuffer direct(int floats) {
    return ByteBuffer.allocateDirect(4 * floats).order(ByteOrder.nativeOrder()).asFloatBuffer();
  }
}
