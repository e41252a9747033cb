package org.affdeploy.bench.core;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Entry point for tests/test_android_app.py, which compares the Java core with the Python side:
 *
 * <pre>
 *   CrossCheck result OUT.json SAMPLE_MS...   run the loop on a fake runner taking these times,
 *                                             write the results document to OUT.json and print
 *                                             the Stats object on stdout
 *   CrossCheck manifest MANIFEST.json         print what ModelManifest parsed from the file (and the
 *                                             metadata files it lists, read from the same folder)
 *   CrossCheck meta FILE.model.json           print the parsed metadata and the generated inputs
 * </pre>
 */
public final class CrossCheck {
  private CrossCheck() {}

  public static void main(String[] argv) throws Exception {
    if (argv.length >= 3 && argv[0].equals("result")) {
      result(argv);
    } else if (argv.length == 2 && argv[0].equals("manifest")) {
      manifest(argv[1]);
    } else if (argv.length == 2 && argv[0].equals("meta")) {
      meta(argv[1]);
    } else {
      throw new IllegalArgumentException("usage: CrossCheck result OUT.json SAMPLE_MS... | manifest MANIFEST.json | meta FILE");
    }
  }

  private static void result(String[] argv) throws Exception {
    long[] runNanos = new long[argv.length - 1];
    runNanos[0] = 40_000_000L; // first inference
    for (int i = 2; i < argv.length; i++) {
      runNanos[i - 1] = Math.round(Double.parseDouble(argv[i]) * 1e6);
    }
    Map<String, String> extras = new HashMap<>();
    extras.put(BenchmarkArgs.MODEL_PATH, "/data/local/tmp/affdeploy/affnet-t.pte");
    extras.put(BenchmarkArgs.WARMUP, "0");
    extras.put(BenchmarkArgs.ITERATIONS, String.valueOf(argv.length - 2));
    extras.put(BenchmarkArgs.IMAGE_SIZE, "64");
    extras.put(BenchmarkArgs.MACS, "790000000");
    BenchmarkArgs args = BenchmarkArgs.parse(extras);
    FakeRunner runner = new FakeRunner(120_000_000L, runNanos);
    BenchmarkLoop.Result result = runner.loop(100L << 20, 150L << 20).run(runner, args);

    ResultJson.Context context = new ResultJson.Context();
    context.device.name = "pixel7";
    context.device.model = "Pixel 7";
    context.device.manufacturer = "Google";
    context.device.soc = "Tensor G2 \"gs201\"";
    context.device.os = "Android 14";
    context.device.cores = 8;
    context.device.extra.put("sdk_int", 34);
    context.tools.putAll(runner.versions());
    context.artifactSha256 = "ab".repeat(32);
    context.modelSha256 = "cd".repeat(32);
    context.timestamp = "2026-11-25T01:02:03Z";
    context.notes.add("line one\nline \"two\"\t\\ \u00e9");
    ResultJson.writeAtomically(Paths.get(argv[1]), ResultJson.document(ResultJson.record(args, result, context)));
    System.out.println(Json.write(Stats.compute(result.samplesMs).toMap()));
  }

  private static String read(java.nio.file.Path path) {
    try {
      return new String(Files.readAllBytes(path), StandardCharsets.UTF_8);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static void manifest(String path) {
    java.nio.file.Path file = Paths.get(path);
    ModelManifest manifest = ModelManifest.parse(read(file), name -> read(file.resolveSibling(name)));
    List<Object> entries = new ArrayList<>();
    for (ModelMeta e : manifest.models) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("model", e.model);
      m.put("target", e.target);
      m.put("file", e.file);
      m.put("sha256", e.sha256);
      m.put("mode", e.mode);
      if (e.image != null) {
        m.put("shape", e.image.shape());
        m.put("scale", e.image.scale);
        m.put("mean", e.image.mean);
        m.put("std", e.image.std);
        m.put("color_order", e.image.colorOrder);
      }
      entries.add(m);
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("labels", manifest.labelsFile);
    out.put("models", entries);
    System.out.println(Json.write(out));
  }

  private static void meta(String path) {
    ModelMeta meta = ModelMeta.parse(read(Paths.get(path)));
    List<Object> inputs = new ArrayList<>();
    for (NamedTensor t : meta.benchmarkInputs()) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("name", t.name);
      m.put("shape", t.shape);
      double[] values = new double[t.data.length]; // exact: every float is a double
      for (int i = 0; i < values.length; i++) {
        values[i] = t.data[i];
      }
      m.put("values", values);
      inputs.add(m);
    }
    List<Object> outputs = new ArrayList<>();
    for (ModelMeta.TensorInfo o : meta.outputs) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("name", o.name);
      m.put("shape", o.shape);
      outputs.add(m);
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("model", meta.model);
    out.put("id", meta.id);
    out.put("mode", meta.mode);
    out.put("inputs", inputs);
    out.put("outputs", outputs);
    System.out.println(Json.write(out));
  }
}
