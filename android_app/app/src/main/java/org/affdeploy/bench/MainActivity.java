package org.affdeploy.bench;

import android.app.Activity;
import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import android.os.Bundle;
import android.util.Log;
import android.widget.Button;
import android.widget.ImageView;
import android.widget.TextView;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.affdeploy.bench.core.BenchmarkLoop;
import org.affdeploy.bench.core.InputSpec;
import org.affdeploy.bench.core.ModelManifest;
import org.affdeploy.bench.core.ModelMeta;
import org.affdeploy.bench.core.NamedTensor;
import org.affdeploy.bench.core.ResultJson;
import org.affdeploy.bench.core.Runner;
import org.affdeploy.bench.core.Stats;
import org.affdeploy.bench.core.TopK;

/**
 * Classifies the bundled picture with the bundled AFFNet .pte and shows the top-5 classes and the
 * latency: the quickest proof on a phone that the exported model loads, runs and agrees with
 * PyTorch on what it sees. Model and preprocessing come from assets/models/manifest.json. Without
 * an AFFNet .pte, the first bundled .pte (a user's tensor model) is timed on its generated inputs.
 */
public final class MainActivity extends Activity {
  private static final String MODEL = "affnet-t";
  private static final String SAMPLE = "sample.jpg";
  private static final int WARMUP = 2;
  private static final int TIMED_RUNS = 10;

  private final ExecutorService worker = Executors.newSingleThreadExecutor();
  private Bitmap sample;
  private TextView predictions;
  private TextView latency;
  private Button classify;

  @Override
  protected void onCreate(Bundle savedInstanceState) {
    super.onCreate(savedInstanceState);
    setContentView(R.layout.activity_main);
    predictions = findViewById(R.id.predictions);
    latency = findViewById(R.id.latency);
    classify = findViewById(R.id.classify);
    try (InputStream in = getAssets().open(SAMPLE)) {
      sample = BitmapFactory.decodeStream(in);
    } catch (IOException e) {
      throw new IllegalStateException("the APK lacks assets/" + SAMPLE, e);
    }
    ((ImageView) findViewById(R.id.sample)).setImageBitmap(sample);
    classify.setOnClickListener(v -> classify());
    classify();
  }

  @Override
  protected void onDestroy() {
    worker.shutdown();
    super.onDestroy();
  }

  private void classify() {
    classify.setEnabled(false);
    predictions.setText(R.string.working);
    latency.setText("");
    worker.execute(() -> {
      String[] texts;
      try {
        texts = run();
      } catch (Exception | LinkageError e) {
        Log.e(BenchmarkActivity.TAG, "classification failed", e);
        texts = new String[] {"Could not classify: " + e.getMessage(), ""};
      }
      String[] shown = texts;
      runOnUiThread(() -> {
        predictions.setText(shown[0]);
        latency.setText(shown[1]);
        classify.setEnabled(true);
      });
    });
  }

  /** Top-5 (or output shapes) text and latency text. */
  private String[] run() throws Exception {
    ModelManifest manifest = ModelManifest.parse(readAsset("models/manifest.json"), name -> {
      try {
        return readAsset("models/" + name);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
    ModelMeta entry = pick(manifest);
    File model = extractModel(entry);
    List<NamedTensor> inputs = entry.isTensorModel()
        ? entry.benchmarkInputs()
        : Collections.singletonList(new NamedTensor("image", entry.image.toTensor(pixels(sample, entry.image)), entry.image.shape()));
    int threads = Math.max(1, Runtime.getRuntime().availableProcessors() / 2);

    BenchmarkLoop.Result result;
    try (Runner runner = new ExecuTorchRunner()) {
      result = BenchmarkLoop.onThisProcess().run(runner, model.getPath(), threads, inputs, WARMUP, TIMED_RUNS);
    }
    StringBuilder top = new StringBuilder();
    if (entry.isTensorModel()) {
      top.append("tensor model ").append(entry.model).append(" on generated inputs; outputs:\n");
      for (ModelMeta.TensorInfo out : entry.outputs) {
        top.append(out.name).append(' ').append(Arrays.toString(out.shape)).append('\n');
      }
    } else {
      List<String> labels = new ArrayList<>();
      for (String line : readAsset("models/" + manifest.labelsFile).split("\n")) {
        labels.add(line.trim());
      }
      for (TopK.Entry e : TopK.of(result.lastOutputs[0], labels, 5)) {
        top.append(e).append('\n');
      }
    }
    Stats stats = Stats.compute(result.samplesMs);
    String timing = String.format(Locale.ROOT,
        "%s (%s, %s FFT, %s) on %d threads\nload %.0f ms, first inference %.1f ms\nmedian of %d runs %.2f ms (p90 %.2f ms)",
        entry.model, entry.backend, entry.fft, entry.precision, threads, result.loadMs, result.firstInferenceMs,
        stats.count, stats.p50, stats.p90);
    return new String[] {top.toString().trim(), timing};
  }

  /** AFFNet's .pte when bundled, else the first bundled .pte. */
  private static ModelMeta pick(ModelManifest manifest) {
    for (ModelMeta m : manifest.models) {
      if (m.model.equals(MODEL) && m.target.equals("executorch")) {
        return m;
      }
    }
    for (ModelMeta m : manifest.models) {
      if (m.target.equals("executorch")) {
        return m;
      }
    }
    return manifest.find(MODEL, "executorch"); // throws, listing what is bundled
  }

  /** ExecuTorch loads from a file path, so the asset is copied out once (again when its hash changes). */
  private File extractModel(ModelMeta entry) throws IOException {
    File dir = new File(getFilesDir(), "models");
    File target = new File(dir, entry.file);
    if (target.exists() && ResultJson.sha256(target.toPath()).equals(entry.sha256)) {
      return target;
    }
    if (!dir.isDirectory() && !dir.mkdirs()) {
      throw new IOException("cannot create " + dir);
    }
    File tmp = new File(dir, entry.file + ".tmp");
    try (InputStream in = getAssets().open("models/" + entry.file)) {
      Files.copy(in, tmp.toPath(), StandardCopyOption.REPLACE_EXISTING);
    }
    Files.move(tmp.toPath(), target.toPath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    return target;
  }

  /** Resize so the picture covers the input, crop the centre, return ARGB pixels row by row. */
  private static int[] pixels(Bitmap source, InputSpec spec) {
    float scale = Math.max((float) spec.width / source.getWidth(), (float) spec.height / source.getHeight());
    int w = Math.max(spec.width, Math.round(source.getWidth() * scale));
    int h = Math.max(spec.height, Math.round(source.getHeight() * scale));
    Bitmap scaled = Bitmap.createScaledBitmap(source, w, h, true);
    Bitmap crop = Bitmap.createBitmap(scaled, (w - spec.width) / 2, (h - spec.height) / 2, spec.width, spec.height);
    int[] argb = new int[spec.width * spec.height];
    crop.getPixels(argb, 0, spec.width, 0, 0, spec.width, spec.height);
    return argb;
  }

  private String readAsset(String name) throws IOException {
    try (InputStream in = getAssets().open(name)) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      byte[] buffer = new byte[8192];
      int n;
      while ((n = in.read(buffer)) > 0) {
        out.write(buffer, 0, n);
      }
      return new String(out.toByteArray(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IOException("assets/" + name + " is missing; run `affdeploy android-assets` and rebuild the app", e);
    }
  }
}
