package org.affdeploy.bench;

import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.affdeploy.bench.core.NamedTensor;
import org.affdeploy.bench.core.Runner;
import org.tensorflow.lite.InterpreterApi;

/**
 * Runs a .tflite file with LiteRT (com.google.ai.edge.litert:litert, the org.tensorflow.lite
 * InterpreterApi), with its XNNPACK delegate on {@code threads} threads: what benchmark_model runs
 * with --use_xnnpack=true, and what apps that ship LiteRT get by default.
 */
final class LiteRtRunner implements Runner {
  private InterpreterApi interpreter;
  private FloatBuffer[] inputs;
  private final Map<Integer, Object> outputs = new HashMap<>();

  @Override
  public void load(String modelPath, int threads, List<NamedTensor> tensors) {
    InterpreterApi.Options options =
        new InterpreterApi.Options().setNumThreads(threads).setUseXNNPACK(true);
    interpreter = InterpreterApi.create(new File(modelPath), options);
    if (interpreter.getInputTensorCount() != tensors.size()) {
      throw new IllegalArgumentException(
          modelPath + " takes " + interpreter.getInputTensorCount() + " inputs, the metadata lists " + tensors.size());
    }
    inputs = new FloatBuffer[tensors.size()];
    for (int i = 0; i < inputs.length; i++) {
      float[] data = tensors.get(i).data;
      if (interpreter.getInputTensor(i).numElements() != data.length) {
        throw new IllegalArgumentException("input " + i + " of " + modelPath + " does not hold "
            + data.length + " values (" + tensors.get(i).name + ")");
      }
      inputs[i] = direct(data.length);
      inputs[i].put(data).rewind();
    }
    for (int i = 0; i < interpreter.getOutputTensorCount(); i++) {
      outputs.put(i, direct(interpreter.getOutputTensor(i).numElements()));
    }
  }

  @Override
  public float[][] run() {
    for (FloatBuffer input : inputs) {
      input.rewind();
    }
    for (Object output : outputs.values()) {
      ((FloatBuffer) output).rewind();
    }
    interpreter.runForMultipleInputsOutputs(inputs, outputs);
    float[][] out = new float[outputs.size()][];
    for (int i = 0; i < out.length; i++) {
      FloatBuffer values = (FloatBuffer) outputs.get(i);
      out[i] = new float[values.capacity()];
      values.rewind();
      values.get(out[i]);
    }
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
