package org.affdeploy.bench.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * One model's FILE.model.json (schema affdeploy.app-model/v1, src/affdeploy/bench/appmodel.py),
 * written by `affdeploy android-assets` next to the bundled artifact and pushed next to the artifact
 * by `affdeploy bench --device`: the artifact, its inputs and outputs, and for AFFNet ("image" mode)
 * its preprocessing. A "tensor" model is benchmarked on generated inputs of its static shapes.
 */
public final class ModelMeta {
  public static final String SCHEMA = "affdeploy.app-model/v1";
  public static final String IMAGE = "image";
  public static final String TENSOR = "tensor";
  /** What the runners feed (ExecuTorch Tensor.fromBlob(float[]), ONNX Runtime and LiteRT float buffers). */
  public static final String FLOAT32 = "float32";

  /** One input or output: name, static shape, dtype; inputs also carry their generator seed and exact sum. */
  public static final class TensorInfo {
    public final String name;
    public final long[] shape;
    public final String dtype;
    public final long seed;
    public final double sum;

    TensorInfo(Map<String, Object> m, boolean input) {
      name = InputSpec.string(m, "name");
      dtype = InputSpec.string(m, "dtype");
      shape = staticShape(m.get("shape"), name);
      seed = input ? (long) InputSpec.number(m, "seed") : 0;
      sum = input ? InputSpec.number(m, "sum") : 0;
      if (input && !FLOAT32.equals(dtype)) {
        throw new IllegalArgumentException("input '" + name + "' is " + dtype + "; the app feeds " + FLOAT32 + " only");
      }
    }
  }

  public final String model;
  public final String id;
  /** The sha256 of a user model's .pt2 file or factory source; null for AFFNet. */
  public final String sourceSha256;
  public final String file;
  public final String sha256;
  public final String target;
  public final String backend;
  public final String fft;
  public final String precision;
  public final String mode;
  public final List<TensorInfo> inputs;
  public final List<TensorInfo> outputs;
  /** AFFNet's picture preprocessing; null for a tensor model. */
  public final InputSpec image;
  /** The labels file of an image model; null for a tensor model. */
  public final String labels;

  private ModelMeta(Map<String, Object> m) {
    model = InputSpec.string(m, "model");
    id = InputSpec.string(m, "id");
    sourceSha256 = m.get("source_sha256") instanceof String ? (String) m.get("source_sha256") : null;
    file = InputSpec.string(m, "file");
    sha256 = InputSpec.string(m, "sha256");
    target = InputSpec.string(m, "target");
    backend = InputSpec.string(m, "backend");
    fft = InputSpec.string(m, "fft");
    precision = InputSpec.string(m, "precision");
    mode = InputSpec.string(m, "mode");
    inputs = tensors(m.get("inputs"), "inputs", true);
    outputs = tensors(m.get("outputs"), "outputs", false);
    if (mode.equals(IMAGE)) {
      Map<String, Object> picture = object(m.get("image"), "image");
      image = InputSpec.fromMap(picture);
      labels = InputSpec.string(picture, "labels");
    } else if (mode.equals(TENSOR)) {
      image = null;
      labels = null;
    } else {
      throw new IllegalArgumentException(file + ": mode must be image or tensor, got '" + mode + "'");
    }
    if (inputs.isEmpty()) {
      throw new IllegalArgumentException(file + ": the model has no inputs");
    }
  }

  /** Parses the metadata text; throws IllegalArgumentException saying what is wrong with it. */
  public static ModelMeta parse(String text) {
    Map<String, Object> doc = object(Json.parse(text), "model metadata");
    if (!SCHEMA.equals(doc.get("schema"))) {
      throw new IllegalArgumentException(
          "model metadata schema is " + doc.get("schema") + ", expected " + SCHEMA + " (re-run `affdeploy android-assets`)");
    }
    return new ModelMeta(doc);
  }

  public boolean isTensorModel() {
    return mode.equals(TENSOR);
  }

  /**
   * The benchmark inputs, generated from each input's seed and checked against the sum affdeploy
   * computed, so a generator that drifted from the Python one fails here instead of measuring other data.
   */
  public List<NamedTensor> benchmarkInputs() {
    List<NamedTensor> out = new ArrayList<>();
    for (TensorInfo in : inputs) {
      float[] values = InputData.seeded(in.shape, in.seed);
      double sum = InputData.sum(values);
      if (sum != in.sum) {
        throw new IllegalStateException(
            "generated input '" + in.name + "' sums to " + sum + ", affdeploy expects " + in.sum + " (app and affdeploy disagree)");
      }
      out.add(new NamedTensor(in.name, values, in.shape));
    }
    return out;
  }

  /** The metadata must describe the file being benchmarked: the backend's format, the same bytes. */
  public void checkArtifact(String runsTarget, String artifactSha256) {
    if (!target.equals(runsTarget)) {
      throw new IllegalArgumentException(file + " is described as a " + target + " model, but the backend runs " + runsTarget);
    }
    if (!sha256.equals(artifactSha256)) {
      throw new IllegalArgumentException(
          "the model file's sha256 differs from its metadata's (" + file + "); push both again with `affdeploy bench`");
    }
  }

  private static List<TensorInfo> tensors(Object value, String what, boolean input) {
    if (!(value instanceof List)) {
      throw new IllegalArgumentException("model metadata: '" + what + "' must be a list");
    }
    List<TensorInfo> out = new ArrayList<>();
    for (Object item : (List<?>) value) {
      out.add(new TensorInfo(object(item, what + " entry"), input));
    }
    return Collections.unmodifiableList(out);
  }

  private static long[] staticShape(Object value, String name) {
    if (!(value instanceof List)) {
      throw new IllegalArgumentException("model metadata: the shape of '" + name + "' must be a list");
    }
    List<?> dims = (List<?>) value;
    long[] shape = new long[dims.size()];
    for (int i = 0; i < shape.length; i++) {
      Object d = dims.get(i);
      if (!(d instanceof Long) || (Long) d <= 0) {
        throw new IllegalArgumentException(
            "'" + name + "' has the dimension " + d + " in " + dims + "; the app needs static positive sizes");
      }
      shape[i] = (Long) d;
    }
    return shape;
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> object(Object value, String what) {
    if (!(value instanceof Map)) {
      throw new IllegalArgumentException("model metadata: " + what + " must be a JSON object");
    }
    return (Map<String, Object>) value;
  }
}
