package org.affdeploy.bench.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.HashMap;
import java.util.Map;
import org.junit.Test;

public class BenchmarkArgsTest {
  private static Map<String, String> extras(String... keyValues) {
    Map<String, String> map = new HashMap<>();
    for (int i = 0; i < keyValues.length; i += 2) {
      map.put(keyValues[i], keyValues[i + 1]);
    }
    return map;
  }

  private static String error(String... keyValues) {
    return assertThrows(IllegalArgumentException.class, () -> BenchmarkArgs.parse(extras(keyValues))).getMessage();
  }

  @Test
  public void defaultsFillEverythingButThePath() {
    BenchmarkArgs args = BenchmarkArgs.parse(extras("model_path", "/data/local/tmp/affdeploy/affnet-t.pte"));
    assertEquals("affnet-t", args.modelName);
    assertEquals("affnet-t-256-xnnpack-fp32-dft", BenchmarkArgs.defaultModelName("/x/affnet-t-256-xnnpack-fp32-dft.pte"));
    assertEquals("xnnpack", args.backend);
    assertEquals("executorch", args.target());
    assertEquals(5, args.warmup);
    assertEquals(30, args.iterations);
    assertEquals(1, args.threads);
    assertEquals("dft", args.fft);
    assertEquals(256, args.imageSize);
    assertEquals("fp32", args.precision);
    assertEquals(-1L, args.macs);
    assertEquals(null, args.metaPath); // AFFNet: the picture input
  }

  @Test
  public void tensorModelNamesItsMetadataFile() {
    String meta = "/data/local/tmp/affdeploy/m.pte.model.json";
    assertEquals(meta, BenchmarkArgs.parse(extras("model_path", "/x/m.pte", "model_meta", meta)).metaPath);
    assertTrue(error("model_path", "/x/m.pte", "model_meta", " ").contains("model_meta must not be empty"));
  }

  @Test
  public void everyExtraIsHonoured() {
    BenchmarkArgs args = BenchmarkArgs.parse(extras(
        "model_path", "/sdcard/m.onnx", "model_name", "affnet-et", "backend", "ORT-NNAPI", "warmup", "0",
        "iterations", " 7 ", "threads", "4", "fft", "native", "image_size", "128", "precision", "fp16",
        "macs", "360000000"));
    assertEquals("affnet-et", args.modelName);
    assertEquals("ort-nnapi", args.backend);
    assertEquals("onnx", args.target());
    assertEquals("ort-nnapi", args.recordBackend());
    assertEquals(0, args.warmup);
    assertEquals(7, args.iterations);
    assertEquals(4, args.threads);
    assertEquals("native", args.fft);
    assertEquals(128, args.imageSize);
    assertEquals("fp16", args.precision);
    assertEquals(360_000_000L, args.macs);
    assertEquals("ort-cpu", BenchmarkArgs.parse(extras("model_path", "a.onnx", "backend", "ort")).recordBackend());
    assertEquals("unknown", BenchmarkArgs.parse(extras("model_path", "given.pte", "fft", "unknown")).fft);
    BenchmarkArgs litert = BenchmarkArgs.parse(extras("model_path", "m.tflite", "backend", "litert"));
    assertEquals("tflite", litert.target());
    assertEquals("xnnpack", litert.recordBackend());
  }

  @Test
  public void invalidExtrasNameTheProblem() {
    assertTrue(error("backend", "xnnpack").startsWith("missing extra model_path"));
    assertTrue(error("model_path", "m.pte", "backend", "vulkan").contains("backend must be one of [xnnpack, portable, ort, ort-nnapi, litert]"));
    assertTrue(error("model_path", "m.pte", "backend", "ort").contains("runs .onnx files"));
    assertTrue(error("model_path", "m.onnx").contains("runs .pte files"));
    assertTrue(error("model_path", "m.pte", "backend", "litert").contains("runs .tflite files"));
    assertEquals("iterations must be an integer, got 'ten'", error("model_path", "m.pte", "iterations", "ten"));
    assertEquals("iterations must be >= 1, got 0", error("model_path", "m.pte", "iterations", "0"));
    assertEquals("warmup must be >= 0, got -1", error("model_path", "m.pte", "warmup", "-1"));
    assertEquals("threads must be between 1 and 64, got 65", error("model_path", "m.pte", "threads", "65"));
    assertTrue(error("model_path", "m.pte", "image_size", "100").contains("multiple of 32"));
    assertTrue(error("model_path", "m.pte", "fft", "fast").contains("fft must be one of [dft, native, unknown]"));
    assertEquals("model_name must not be empty", error("model_path", "m.pte", "model_name", " "));
    assertTrue(error("model_path", "m.pte", "iters", "5").startsWith("unknown extra(s) [iters]"));
  }
}
