package org.affdeploy.bench.core;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes the shared benchmark result schema "affdeploy.bench/v1" (src/affdeploy/bench/schema.py):
 * {"schema": ..., "records": [record, ...]}, so `affdeploy bench` reads the phone's results with the
 * same loader as the host's.
 */
public final class ResultJson {
  public static final String SCHEMA = "affdeploy.bench/v1";
  public static final String RUNNER = "android-app";

  private ResultJson() {}

  /** Everything about one run that is not measured by the loop itself. */
  public static final class Context {
    public DeviceDescription device = new DeviceDescription();
    public Map<String, String> tools = new LinkedHashMap<>();
    public String artifactSha256 = "";
    /** A user model's .pt2 file / factory source sha256 (its metadata's source_sha256); empty for AFFNet. */
    public String modelSha256 = "";
    /** ISO 8601 UTC, e.g. java.time.Instant.now().toString(). */
    public String timestamp = "";
    public List<String> notes = new ArrayList<>();
  }

  /** One record, keys in the schema's field order. */
  public static Map<String, Object> record(BenchmarkArgs args, BenchmarkLoop.Result result, Context context) {
    Stats stats = Stats.compute(result.samplesMs);
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("model", args.modelName);
    r.put("target", args.target());
    r.put("backend", args.recordBackend());
    r.put("fft", args.fft);
    r.put("threads", args.threads);
    r.put("precision", args.precision);
    r.put("image_size", args.imageSize);
    r.put("device", context.device.toMap());
    r.put("runner", RUNNER);
    r.put("samples_ms", result.samplesMs);
    r.put("stats", stats.toMap());
    r.put("warmup", result.warmup);
    r.put("load_ms", result.loadMs);
    r.put("first_inference_ms", result.firstInferenceMs);
    r.put("peak_rss_growth_bytes", result.peakRssGrowthBytes < 0 ? null : result.peakRssGrowthBytes);
    r.put("macs", args.macs < 0 ? null : args.macs);
    // macs per second at the median latency, in units of 1e9
    r.put("gmacs_per_s", args.macs < 0 || stats.p50 <= 0 ? null : args.macs / (stats.p50 * 1e-3) / 1e9);
    r.put("artifact_sha256", context.artifactSha256);
    r.put("artifact_path", args.modelPath);
    r.put("model_sha256", context.modelSha256);
    r.put("tools", context.tools);
    r.put("timestamp", context.timestamp);
    r.put("notes", context.notes);
    r.put("schema", SCHEMA);
    return r;
  }

  /** The results document for {@code records}. */
  public static String document(List<Map<String, Object>> records) {
    Map<String, Object> doc = new LinkedHashMap<>();
    doc.put("schema", SCHEMA);
    doc.put("records", records);
    return Json.write(doc) + "\n";
  }

  /** The document of a single record, as the benchmark activity writes it. */
  public static String document(Map<String, Object> record) {
    return document(Collections.singletonList(record));
  }

  /**
   * Writes {@code text} next to {@code target} and renames it into place, so a reader polling for
   * the file (`adb shell run-as ... cat`) never sees half a document.
   */
  public static void writeAtomically(Path target, String text) throws IOException {
    Path tmp = target.resolveSibling("." + target.getFileName() + ".tmp");
    try {
      Files.write(tmp, text.getBytes(StandardCharsets.UTF_8));
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** Hex SHA-256 of a file, the same digest `affdeploy export` records for the artifact. */
  public static String sha256(Path file) throws IOException {
    MessageDigest digest;
    try {
      digest = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException ex) {
      throw new IllegalStateException("this JVM has no SHA-256", ex);
    }
    try (InputStream in = Files.newInputStream(file)) {
      byte[] buffer = new byte[1 << 16];
      int n;
      while ((n = in.read(buffer)) > 0) {
        digest.update(buffer, 0, n);
      }
    }
    StringBuilder hex = new StringBuilder();
    for (byte b : digest.digest()) {
      hex.append(String.format("%02x", b));
    }
    return hex.toString();
  }
}
