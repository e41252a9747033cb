package org.affdeploy.bench.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class ResultJsonTest {
  @Rule public TemporaryFolder tmp = new TemporaryFolder();

  private static BenchmarkArgs args(String... more) {
    Map<String, String> extras = new HashMap<>();
    extras.put("model_path", "/data/local/tmp/affdeploy/affnet-et.onnx");
    extras.put("backend", "ort");
    for (int i = 0; i < more.length; i += 2) {
      extras.put(more[i], more[i + 1]);
    }
    return BenchmarkArgs.parse(extras);
  }

  @SuppressWarnings("unchecked")
  @Test
  public void recordHasTheSchemaShape() throws Exception {
    FakeRunner runner = new FakeRunner(1_000_000L, 4_000_000L, 2_000_000L);
    BenchmarkArgs args = args("iterations", "4", "warmup", "0", "macs", "2000000");
    ResultJson.Context context = new ResultJson.Context();
    context.device.name = "galaxy-s23";
    context.notes.add("a \"quoted\" note");
    Map<String, Object> record = ResultJson.record(args, runner.loop(-1, -1).run(runner, args), context);
    Map<String, Object> doc = (Map<String, Object>) Json.parse(ResultJson.document(record));

    assertEquals(Arrays.asList("schema", "records"), Arrays.asList(doc.keySet().toArray()));
    assertEquals("affdeploy.bench/v1", doc.get("schema"));
    Map<String, Object> r = ((List<Map<String, Object>>) doc.get("records")).get(0);
    assertEquals(
        Arrays.asList("model", "target", "backend", "fft", "threads", "precision", "image_size", "device", "runner",
            "samples_ms", "stats", "warmup", "load_ms", "first_inference_ms", "peak_rss_growth_bytes", "macs",
            "gmacs_per_s", "artifact_sha256", "artifact_path", "model_sha256", "tools", "timestamp", "notes", "schema"),
        Arrays.asList(r.keySet().toArray()));
    assertEquals("affnet-et", r.get("model"));
    assertEquals("onnx", r.get("target"));
    assertEquals("ort-cpu", r.get("backend"));
    assertEquals("android-app", r.get("runner"));
    assertEquals(Arrays.asList(2.0, 2.0, 2.0, 2.0), r.get("samples_ms"));
    assertNull(r.get("peak_rss_growth_bytes"));
    assertEquals(1.0, (Double) r.get("gmacs_per_s"), 1e-12); // 2e6 MACs in 2 ms
    Map<String, Object> device = (Map<String, Object>) r.get("device");
    assertEquals("android", device.get("kind"));
    assertEquals("galaxy-s23", device.get("name"));
    Map<String, Object> stats = (Map<String, Object>) r.get("stats");
    assertEquals(4L, stats.get("count"));
    assertEquals(Arrays.asList(2.0, 2.0), stats.get("median_ci95"));
    assertEquals(false, stats.get("noisy"));
    assertEquals(Arrays.asList("a \"quoted\" note"), r.get("notes"));
  }

  @Test
  public void writeAtomicallyReplacesAndLeavesNoTemporaryFile() throws Exception {
    Path target = tmp.getRoot().toPath().resolve("benchmark_results.json");
    ResultJson.writeAtomically(target, "old");
    ResultJson.writeAtomically(target, "{\"new\": true}");
    assertEquals("{\"new\": true}", new String(Files.readAllBytes(target), StandardCharsets.UTF_8));
    assertEquals(1, tmp.getRoot().list().length);
  }

  @Test
  public void sha256MatchesAKnownDigest() throws Exception {
    Path file = tmp.newFile("abc.bin").toPath();
    Files.write(file, "abc".getBytes(StandardCharsets.US_ASCII));
    assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ResultJson.sha256(file));
  }
}
