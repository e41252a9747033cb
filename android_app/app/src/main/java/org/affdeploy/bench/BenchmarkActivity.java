package org.affdeploy.bench;

import android.app.Activity;
import android.content.Intent;
import android.os.Bundle;
import android.util.Log;
import android.view.WindowManager;
import android.widget.TextView;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.time.Instant;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.affdeploy.bench.core.BenchmarkArgs;
import org.affdeploy.bench.core.BenchmarkLoop;
import org.affdeploy.bench.core.ModelMeta;
import org.affdeploy.bench.core.ResultJson;
import org.affdeploy.bench.core.Runner;
import org.affdeploy.bench.core.Stats;

/**
 * Headless benchmark driven by intent extras (docs/android_app.md has the `adb shell am start` line).
 *
 * <p>Writes files/benchmark_results.json (schema affdeploy.bench/v1) on success or
 * files/benchmark_error.txt on failure, mirrors it to the app's external files folder (readable with
 * `adb pull` even from a non-debuggable build), then finishes. Old files are deleted first, so a
 * poller never mistakes a previous run's results for this one's.
 */
public final class BenchmarkActivity extends Activity {
  static final String TAG = "AffdeployBench";
  static final String RESULTS_FILE = "benchmark_results.json";
  static final String ERROR_FILE = "benchmark_error.txt";

  private final ExecutorService worker = Executors.newSingleThreadExecutor();

  @Override
  protected void onCreate(Bundle savedInstanceState) {
    super.onCreate(savedInstanceState);
    // a dimmed or locked screen moves the app to the background and changes its scheduling
    getWindow().addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON);
    TextView status = new TextView(this);
    status.setPadding(48, 48, 48, 48);
    status.setText(R.string.working);
    setContentView(status);
    Map<String, String> extras = extrasOf(getIntent());
    worker.execute(() -> {
      String message = benchmark(extras);
      runOnUiThread(() -> {
        status.setText(message);
        finish();
      });
    });
  }

  @Override
  protected void onDestroy() {
    worker.shutdown();
    super.onDestroy();
  }

  /** `--es` extras arrive as strings and `--ei` as ints; the core parses strings. */
  @SuppressWarnings("deprecation") // Bundle.get(String) is the only type-agnostic getter
  private static Map<String, String> extrasOf(Intent intent) {
    Map<String, String> extras = new HashMap<>();
    Bundle bundle = intent.getExtras();
    if (bundle != null) {
      for (String key : bundle.keySet()) {
        extras.put(key, String.valueOf(bundle.get(key)));
      }
    }
    return extras;
  }

  private String benchmark(Map<String, String> extras) {
    deleteOutputs();
    try {
      for (String key : new String[] {BenchmarkArgs.MODEL_PATH, BenchmarkArgs.MODEL_META}) {
        String path = extras.get(key);
        if (path != null && !path.startsWith("/")) {
          extras.put(key, new File(getFilesDir(), path).getPath()); // relative to files/
        }
      }
      BenchmarkArgs args = BenchmarkArgs.parse(extras);
      File model = new File(args.modelPath);
      if (!model.canRead()) {
        throw new IllegalArgumentException(
            args.modelPath + " does not exist or the app cannot read it (push it with adb to /data/local/tmp/ and chmod 644)");
      }
      ResultJson.Context context = new ResultJson.Context();
      context.artifactSha256 = ResultJson.sha256(model.toPath());
      // a tensor model (affdeploy.app-model/v1 "tensor" mode) runs on generated inputs of its shapes
      ModelMeta meta = args.metaPath == null ? null
          : ModelMeta.parse(new String(Files.readAllBytes(Paths.get(args.metaPath)), StandardCharsets.UTF_8));
      if (meta != null) {
        meta.checkArtifact(args.target(), context.artifactSha256);
        context.modelSha256 = meta.sourceSha256 == null ? "" : meta.sourceSha256;
      }
      BenchmarkLoop.Result result;
      try (Runner runner = Runners.create(args.backend)) {
        result = meta != null && meta.isTensorModel()
            ? BenchmarkLoop.onThisProcess().run(runner, args, meta.benchmarkInputs())
            : BenchmarkLoop.onThisProcess().run(runner, args);
        context.tools.putAll(runner.versions());
      }
      context.tools.put("affdeploy-bench-app", BuildConfig.VERSION_NAME);
      context.device = AndroidDevice.describe(this);
      context.timestamp = Instant.now().toString();
      context.notes.add("measured in a foreground Activity, which the scheduler treats differently from an adb shell binary");
      write(RESULTS_FILE, ResultJson.document(ResultJson.record(args, result, context)));
      Stats stats = Stats.compute(result.samplesMs);
      String summary = String.format(Locale.ROOT, "%s %s threads=%d: p50 %.2f ms, p90 %.2f ms over %d iterations",
          args.modelName, args.backend, args.threads, stats.p50, stats.p90, stats.count);
      Log.i(TAG, summary);
      return summary;
    } catch (Exception | LinkageError e) { // LinkageError: a runtime's native library failed to load
      String message = e.getClass().getSimpleName() + ": " + e.getMessage();
      Log.e(TAG, "benchmark failed", e);
      try {
        write(ERROR_FILE, message + "\n");
      } catch (IOException io) {
        Log.e(TAG, "could not write " + ERROR_FILE, io);
      }
      return "benchmark failed: " + message;
    }
  }

  private void deleteOutputs() {
    for (File dir : outputDirs()) {
      new File(dir, RESULTS_FILE).delete();
      new File(dir, ERROR_FILE).delete();
    }
  }

  private void write(String name, String text) throws IOException {
    for (File dir : outputDirs()) {
      ResultJson.writeAtomically(Paths.get(dir.getPath(), name), text);
    }
  }

  /** files/ (read with run-as) and, when mounted, Android/data/<package>/files/ (read with adb pull). */
  private File[] outputDirs() {
    File external = getExternalFilesDir(null);
    return external == null ? new File[] {getFilesDir()} : new File[] {getFilesDir(), external};
  }
}
