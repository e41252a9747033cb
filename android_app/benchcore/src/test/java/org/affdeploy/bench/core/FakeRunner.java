package org.affdeploy.bench.core;

import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * A Runner that takes scripted time on a fake clock and counts its calls, so tests know exactly
 * which samples the loop must report.
 */
final class FakeRunner implements Runner {
  /** The fake clock both the runner and the loop read, in nanoseconds. */
  long now;

  int loads;
  int runs;
  boolean closed;
  String loadedPath;
  int loadedThreads;
  long[] loadedShape;
  List<NamedTensor> loadedInputs;
  float[][] outputs = {{0.5f, 2.0f, -1.0f}};

  private final long loadNanos;
  private final long[] runNanos;

  /** {@code runNanos[i]} is the duration of the i-th run() call (the last one repeats). */
  FakeRunner(long loadNanos, long... runNanos) {
    this.loadNanos = loadNanos;
    this.runNanos = runNanos;
  }

  /** A loop that reads this runner's clock and reports fixed memory readings. */
  BenchmarkLoop loop(long rssBefore, long peakAfter) {
    return new BenchmarkLoop(() -> now, () -> rssBefore, () -> peakAfter);
  }

  @Override
  public void load(String modelPath, int threads, List<NamedTensor> inputs) {
    loads++;
    loadedPath = modelPath;
    loadedThreads = threads;
    loadedInputs = inputs;
    loadedShape = inputs.get(0).shape.clone();
    now += loadNanos;
  }

  @Override
  public float[][] run() {
    now += runNanos[Math.min(runs, runNanos.length - 1)];
    runs++;
    return outputs.clone();
  }

  @Override
  public Map<String, String> versions() {
    return Collections.singletonMap("fake-runtime", "1.0");
  }

  @Override
  public void close() {
    closed = true;
  }
}
