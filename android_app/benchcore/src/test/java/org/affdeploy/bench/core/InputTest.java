package org.affdeploy.bench.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.Test;

public class InputTest {
  /** An image-mode metadata file as `affdeploy android-assets` writes it for AFFNet. */
  static final String AFFNET_META =
      "{\"schema\": \"affdeploy.app-model/v1\", \"model\": \"affnet-t\", \"id\": \"affnet-t\","
          + " \"source_sha256\": null, \"file\": \"affnet-t.xnnpack.pte\", \"sha256\": \"00\","
          + " \"target\": \"executorch\", \"backend\": \"xnnpack\", \"fft\": \"dft\", \"precision\": \"fp32\","
          + " \"image_size\": 2, \"mode\": \"image\","
          + " \"inputs\": [{\"name\": \"image\", \"shape\": [1, 3, 2, 1], \"dtype\": \"float32\", \"seed\": 0, \"sum\": 0.5}],"
          + " \"outputs\": [{\"name\": \"logits\", \"shape\": [1, 1000], \"dtype\": \"float32\"}],"
          + " \"image\": {\"height\": 2, \"width\": 1, \"color_order\": \"RGB\", \"scale\": 0.00392156862745098,"
          + " \"mean\": [0.0, 0.0, 0.0], \"std\": [1.0, 1.0, 1.0], \"labels\": \"imagenet_labels.txt\"},"
          + " \"macs\": null}";
  private static final String MANIFEST =
      "{\"schema\": \"affdeploy.app-assets/v1\", \"labels\": \"imagenet_labels.txt\","
          + " \"models\": [\"affnet-t.xnnpack.pte.model.json\"]}";

  static ModelManifest manifest() {
    return ModelManifest.parse(MANIFEST, name -> {
      assertEquals("affnet-t.xnnpack.pte.model.json", name);
      return AFFNET_META;
    });
  }

  @Test
  public void manifestEntriesAreFoundByModelAndTarget() {
    ModelManifest manifest = manifest();
    ModelMeta entry = manifest.find("affnet-t", "executorch");
    assertEquals("affnet-t.xnnpack.pte", entry.file);
    assertFalse(entry.isTensorModel());
    assertArrayEquals(new long[] {1, 3, 2, 1}, entry.image.shape());
    assertEquals("imagenet_labels.txt", manifest.labelsFile);
    assertEquals("imagenet_labels.txt", entry.labels);
    String missing = assertThrows(IllegalArgumentException.class, () -> manifest.find("affnet", "onnx")).getMessage();
    assertTrue(missing.contains("bundled: [affnet-t/executorch]"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> ModelManifest.parse("{\"schema\": \"x\"}", n -> ""))
        .getMessage().contains("expected affdeploy.app-assets/v1"));
  }

  @Test
  public void pixelsBecomePlanarScaledChannels() {
    InputSpec spec = manifest().models.get(0).image;
    int[] argb = {0xFFFF8000, 0xFF0000FF}; // orange, blue
    float[] t = spec.toTensor(argb);
    assertArrayEquals(new float[] {1f, 0f, 128 / 255f, 0f, 0f, 1f}, t, 1e-7f);

    InputSpec bgrNormalised = new InputSpec(1, 1, "BGR", 1.0, new double[] {1, 2, 3}, new double[] {2, 2, 2});
    assertArrayEquals(new float[] {(0x30 - 1) / 2f, (0x20 - 2) / 2f, (0x10 - 3) / 2f},
        bgrNormalised.toTensor(new int[] {0xFF102030}), 1e-6f);
    assertThrows(IllegalArgumentException.class, () -> spec.toTensor(new int[3]));
  }

  @Test
  public void deterministicInputIsStableAndInRange() {
    float[] a = InputData.deterministic(new long[] {1, 3, 4, 4});
    assertEquals(48, a.length);
    assertArrayEquals(a, InputData.deterministic(new long[] {1, 3, 4, 4}), 0f);
    for (float v : a) {
      assertTrue(v >= 0f && v < 1f);
    }
  }

  @Test
  public void topKSortsBySoftmaxProbability() {
    List<String> labels = Arrays.asList("cat", "dog", "fish");
    List<TopK.Entry> top = TopK.of(new float[] {1f, 3f, 2f, 0f}, labels, 3);
    assertEquals(Arrays.asList(1, 2, 0), Arrays.asList(top.get(0).index, top.get(1).index, top.get(2).index));
    double sum = Math.exp(1) + Math.exp(3) + Math.exp(2) + Math.exp(0);
    assertEquals(Math.exp(3) / sum, top.get(0).probability, 1e-12);
    assertEquals("dog (64.4%)", top.get(0).toString());
    assertEquals("class 3", TopK.of(new float[] {0f, 0f, 0f, 9f}, labels, 1).get(0).label);
  }
}
