package org.affdeploy.bench.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.List;
import org.junit.Test;

public class ModelMetaTest {
  /** A two-input, two-output user model as `affdeploy android-assets` describes it (sums from bench_input). */
  private static String tensorMeta(String firstShape, String dtype, double firstSum) {
    return "{\"schema\": \"affdeploy.app-model/v1\", \"model\": \"fft_zoo:multi_input\", \"id\": \"fft_zoo-multi_input\","
        + " \"source_sha256\": \"ab\", \"file\": \"m.pte\", \"sha256\": \"cd\", \"target\": \"executorch\","
        + " \"backend\": \"xnnpack\", \"fft\": \"dft\", \"precision\": \"fp32\", \"image_size\": 256, \"mode\": \"tensor\","
        + " \"inputs\": [{\"name\": \"a\", \"shape\": " + firstShape + ", \"dtype\": \"" + dtype + "\", \"seed\": 0, \"sum\": "
        + firstSum + "}, {\"name\": \"b\", \"shape\": [3], \"dtype\": \"float32\", \"seed\": 1, \"sum\": " + seededSum(new long[] {3}, 1)
        + "}], \"outputs\": [{\"name\": \"corr\", \"shape\": [2, 4], \"dtype\": \"float32\"},"
        + " {\"name\": \"coherence\", \"shape\": [2, 3], \"dtype\": \"float32\"}], \"image\": null, \"macs\": null}";
  }

  private static double seededSum(long[] shape, long seed) {
    return InputData.sum(InputData.seeded(shape, seed));
  }

  @Test
  public void tensorModelParsesAndGeneratesItsInputs() {
    ModelMeta meta = ModelMeta.parse(tensorMeta("[2, 4]", "float32", seededSum(new long[] {2, 4}, 0)));
    assertTrue(meta.isTensorModel());
    assertNull(meta.image);
    assertEquals("fft_zoo-multi_input", meta.id);
    assertEquals("ab", meta.sourceSha256);
    assertEquals(2, meta.outputs.size());
    assertArrayEquals(new long[] {2, 3}, meta.outputs.get(1).shape);
    List<NamedTensor> inputs = meta.benchmarkInputs();
    assertEquals("a", inputs.get(0).name);
    assertArrayEquals(new long[] {2, 4}, inputs.get(0).shape);
    assertEquals(8, inputs.get(0).data.length);
    assertArrayEquals(InputData.seeded(new long[] {3}, 1), inputs.get(1).data, 0f);
    meta.checkArtifact("executorch", "cd");
    assertTrue(assertThrows(IllegalArgumentException.class, () -> meta.checkArtifact("onnx", "cd"))
        .getMessage().contains("the backend runs onnx"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> meta.checkArtifact("executorch", "ef"))
        .getMessage().contains("sha256 differs"));
  }

  @Test
  public void badMetadataIsRefusedWithTheReason() {
    double sum = seededSum(new long[] {2, 4}, 0);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> ModelMeta.parse(tensorMeta("[\"s77\", 4]", "float32", sum)))
        .getMessage().contains("'a' has the dimension s77"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> ModelMeta.parse(tensorMeta("[2, 4]", "int64", sum)))
        .getMessage().contains("input 'a' is int64"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> ModelMeta.parse("{\"schema\": \"affdeploy.app-model/v0\"}"))
        .getMessage().contains("expected affdeploy.app-model/v1"));
    ModelMeta drifted = ModelMeta.parse(tensorMeta("[2, 4]", "float32", sum + 0.5));
    assertTrue(assertThrows(IllegalStateException.class, drifted::benchmarkInputs).getMessage().contains("disagree"));
  }

  @Test
  public void seededValuesAreExactMultiplesInRange() {
    float[] a = InputData.seeded(new long[] {4, 64}, 7);
    assertArrayEquals(a, InputData.seeded(new long[] {4, 64}, 7), 0f);
    for (float v : a) {
      assertTrue(v >= -1f && v < 1f);
      assertEquals(v * (1 << 23), Math.rint(v * (1 << 23)), 0.0);
    }
    assertTrue(InputData.seeded(new long[] {4}, 0)[0] != InputData.seeded(new long[] {4}, 1)[0]);
    assertThrows(IllegalArgumentException.class, () -> InputData.seeded(new long[] {2, 0}, 0));
  }
}
